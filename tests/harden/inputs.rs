//! Generated inputs: one small valid file per format and layout, decompression bombs (headers
//! claiming huge sizes, and valid zero-filled images that inflate to gigabytes), EXIF
//! orientation variants. Everything is built in memory, so nothing large is checked in.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

use crate::util::rich_rgb;

/// `img` written in `format` by the `image` crate.
pub fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A checked-in fixture from `tests/data/`.
pub fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

pub fn rich(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(rich_rgb(w, h))
}

pub const RED: [u8; 3] = [255, 0, 0];
pub const GREEN: [u8; 3] = [0, 255, 0];
pub const BLUE: [u8; 3] = [0, 0, 255];
pub const WHITE: [u8; 3] = [255, 255, 255];

/// Four flat quadrants, red | green over blue | white, so every orientation looks different.
pub fn quadrants(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb(match (x < w / 2, y < h / 2) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => WHITE,
        })
    })
}

/// One small valid file of each format and colour layout kquant reads, named by what it is.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let rgb = rich(16, 12);
    let rgba = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(16, 12, |x, y| {
        image::Rgba([(x * 16) as u8, (y * 20) as u8, 90, (x * 17 + y) as u8])
    }));
    vec![
        ("png-rgb8", encode(&rgb, ImageFormat::Png)),
        ("png-rgba8", encode(&rgba, ImageFormat::Png)),
        (
            "png-rgb16",
            encode(&DynamicImage::ImageRgb16(rgb.to_rgb16()), ImageFormat::Png),
        ),
        (
            "png-la8",
            encode(
                &DynamicImage::ImageLumaA8(rgba.to_luma_alpha8()),
                ImageFormat::Png,
            ),
        ),
        (
            "png-l16",
            encode(
                &DynamicImage::ImageLuma16(rgb.to_luma16()),
                ImageFormat::Png,
            ),
        ),
        ("png-palette-trns", data("palette_trns.png")),
        ("png-interlaced", data("interlaced.png")),
        ("jpeg", encode(&rgb, ImageFormat::Jpeg)),
        (
            "jpeg-grey",
            encode(&DynamicImage::ImageLuma8(rgb.to_luma8()), ImageFormat::Jpeg),
        ),
        ("jpeg-progressive", data("progressive.jpg")),
        ("jpeg-cmyk", data("cmyk.jpg")),
        ("jpeg-exif6", jpeg_with_exif(&exif_orientation(6))),
        ("gif", encode(&rgb, ImageFormat::Gif)),
        ("gif-animated", data("animated.gif")),
        ("webp-lossless", encode(&rgba, ImageFormat::WebP)),
        ("webp-lossy", data("lossy.webp")),
        ("webp-alpha", data("alpha.webp")),
        ("bmp", encode(&rgb, ImageFormat::Bmp)),
        ("tiff", encode(&rgb, ImageFormat::Tiff)),
        (
            "tiff-rgba16",
            encode(
                &DynamicImage::ImageRgba16(rgba.to_rgba16()),
                ImageFormat::Tiff,
            ),
        ),
    ]
}

/// A PNG chunk with its CRC.
pub fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// A valid zlib stream of `len` zero bytes, about 1/1000 of `len`, built in a few
/// milliseconds: one sync-flushed, self-contained 1 MiB block repeated, then the rest.
pub fn zeros_zlib(len: u64) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    const BLOCK: usize = 1 << 20;
    let deflate = |n: usize, flush: FlushCompress| {
        let mut c = Compress::new(Compression::best(), false);
        let mut out = Vec::with_capacity(n / 64 + 1024);
        c.compress_vec(&vec![0; n], &mut out, flush).unwrap();
        assert_eq!(c.total_in(), n as u64);
        out
    };
    let piece = deflate(BLOCK, FlushCompress::Sync);
    let mut out = vec![0x78, 0xda];
    for _ in 0..len / BLOCK as u64 {
        out.extend_from_slice(&piece);
    }
    out.extend_from_slice(&deflate(
        (len % BLOCK as u64) as usize,
        FlushCompress::Finish,
    ));
    // Adler-32 of zeros: a stays 1, b grows by 1 a byte.
    let adler = (((len % 65521) as u32) << 16) | 1;
    out.extend_from_slice(&adler.to_be_bytes());
    out
}

fn ihdr(w: u32, h: u32, colour_type: u8) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&w.to_be_bytes());
    d.extend_from_slice(&h.to_be_bytes());
    d.extend_from_slice(&[8, colour_type, 0, 0, 0]);
    d
}

/// A complete, valid w×h 8-bit RGB PNG of black pixels: tiny on disk, w·h·3 bytes decoded.
pub fn png_zeros(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut png, b"IHDR", &ihdr(w, h, 2));
    let raw = u64::from(h) * (1 + 3 * u64::from(w));
    for part in zeros_zlib(raw).chunks(1 << 20) {
        png_chunk(&mut png, b"IDAT", part);
    }
    png_chunk(&mut png, b"IEND", &[]);
    png
}

/// A PNG header claiming w×h RGB, with a scrap of image data.
pub fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut png, b"IHDR", &ihdr(w, h, 2));
    png_chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0x00],
    );
    png_chunk(&mut png, b"IEND", &[]);
    png
}

/// A valid 1×1 PNG whose colour profile (iCCP) inflates to `profile_len` bytes of zeros: a
/// bomb that goes off while the headers are read, before the image size is even looked at.
pub fn png_iccp_bomb(profile_len: u64) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut png, b"IHDR", &ihdr(1, 1, 2));
    let mut iccp = b"bomb\0\0".to_vec();
    iccp.extend_from_slice(&zeros_zlib(profile_len));
    png_chunk(&mut png, b"iCCP", &iccp);
    let mut idat = Vec::new();
    {
        use std::io::Write as _;
        let mut z = flate2::write::ZlibEncoder::new(&mut idat, flate2::Compression::default());
        z.write_all(&[0, 10, 20, 30]).unwrap();
        z.finish().unwrap();
    }
    png_chunk(&mut png, b"IDAT", &idat);
    png_chunk(&mut png, b"IEND", &[]);
    png
}

/// Offsets of JPEG segments: (marker, position of the 0xFF) up to the start of scan.
fn jpeg_segments(jpeg: &[u8]) -> Vec<(u8, usize)> {
    let mut out = Vec::new();
    let mut pos = 2;
    while pos + 4 <= jpeg.len() && jpeg[pos] == 0xFF {
        let marker = jpeg[pos + 1];
        out.push((marker, pos));
        if marker == 0xDA {
            break;
        }
        pos += 2 + usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
    }
    out
}

/// A 16×16 JPEG whose frame header (SOF) claims w×h.
pub fn jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut jpeg = encode(&rich(16, 16), ImageFormat::Jpeg);
    let (_, sof) = jpeg_segments(&jpeg)
        .into_iter()
        .find(|&(m, _)| matches!(m, 0xC0..=0xC2))
        .unwrap();
    jpeg[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    jpeg
}

/// An EXIF APP1 payload ("Exif\0\0" + big-endian TIFF) with one Orientation entry.
pub fn exif_orientation(value: u16) -> Vec<u8> {
    let mut e = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    e.extend_from_slice(&[0, 1]); // one entry
    e.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]); // Orientation, SHORT, count 1
    e.extend_from_slice(&value.to_be_bytes());
    e.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // padding, no next IFD
    e
}

/// Broken EXIF payloads: IFD offset past the end, an entry count far beyond the data, a
/// bad byte-order mark, a wrong type for Orientation, nothing after the header.
pub fn exif_corrupt() -> Vec<Vec<u8>> {
    let mut wrong_type = exif_orientation(6);
    wrong_type[17] = 2; // ASCII instead of SHORT
    vec![
        b"Exif\0\0MM\0\x2a\xff\xff\xff\xf0".to_vec(),
        b"Exif\0\0MM\0\x2a\0\0\0\x08\xff\xff\x01\x12".to_vec(),
        b"Exif\0\0XX\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0".to_vec(),
        wrong_type,
        b"Exif\0\0".to_vec(),
    ]
}

/// A 64×32 quadrant JPEG with `exif` as an APP1 segment after the JFIF header.
pub fn jpeg_with_exif(exif: &[u8]) -> Vec<u8> {
    let jpeg = encode(
        &DynamicImage::ImageRgb8(quadrants(64, 32)),
        ImageFormat::Jpeg,
    );
    let after_app0 = jpeg_segments(&jpeg)
        .into_iter()
        .find(|&(m, _)| m != 0xE0)
        .map(|(_, p)| p)
        .unwrap();
    let mut out = jpeg[..after_app0].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&u16::try_from(exif.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(exif);
    out.extend_from_slice(&jpeg[after_app0..]);
    out
}

/// A 16×16 GIF whose screen and first frame claim w×h.
pub fn gif_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut gif = gif_frame_claiming(w, h);
    gif[6..8].copy_from_slice(&w.to_le_bytes());
    gif[8..10].copy_from_slice(&h.to_le_bytes());
    gif
}

/// A 16×16 GIF (screen 16×16) whose first frame alone claims w×h.
pub fn gif_frame_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut gif = encode(&rich(16, 16), ImageFormat::Gif);
    let flags = gif[10];
    let mut pos = 13;
    if flags & 0x80 != 0 {
        pos += 3 << ((flags & 7) + 1);
    }
    // Skip extensions up to the first image descriptor.
    while gif[pos] == 0x21 {
        pos += 2;
        while gif[pos] != 0 {
            pos += 1 + usize::from(gif[pos]);
        }
        pos += 1;
    }
    assert_eq!(gif[pos], 0x2C);
    gif[pos + 5..pos + 7].copy_from_slice(&w.to_le_bytes());
    gif[pos + 7..pos + 9].copy_from_slice(&h.to_le_bytes());
    gif
}

/// A lossless WebP whose VP8L header claims w×h (each ≤ 16383: image-webp 0.2.4 reads a
/// 16384 as 0).
pub fn webp_claiming(w: u32, h: u32) -> Vec<u8> {
    webp_patched(encode(&rich(16, 16), ImageFormat::WebP), w, h)
}

/// `webp` with its VP8L size and VP8X canvas (whichever it has) set to w×h.
pub fn webp_patched(mut webp: Vec<u8>, w: u32, h: u32) -> Vec<u8> {
    let mut pos = 12;
    while pos + 8 <= webp.len() {
        let size = u32::from_le_bytes(webp[pos + 4..pos + 8].try_into().unwrap()) as usize;
        match &webp[pos..pos + 4] {
            b"VP8L" => {
                let at = pos + 9; // after the 0x2f signature
                let old = u32::from_le_bytes(webp[at..at + 4].try_into().unwrap());
                let new = (old & 0xF000_0000) | ((h - 1) << 14) | (w - 1);
                webp[at..at + 4].copy_from_slice(&new.to_le_bytes());
            }
            b"VP8X" => {
                webp[pos + 12..pos + 15].copy_from_slice(&(w - 1).to_le_bytes()[..3]);
                webp[pos + 15..pos + 18].copy_from_slice(&(h - 1).to_le_bytes()[..3]);
            }
            _ => {}
        }
        pos += 8 + size + size % 2;
    }
    webp
}

/// A 16×16 BMP whose header claims w×h (negative height: top-down rows).
pub fn bmp_claiming(w: i32, h: i32) -> Vec<u8> {
    let mut bmp = encode(&rich(16, 16), ImageFormat::Bmp);
    bmp[18..22].copy_from_slice(&w.to_le_bytes());
    bmp[22..26].copy_from_slice(&h.to_le_bytes());
    bmp
}

/// A 16×16 TIFF whose ImageWidth/ImageLength tags claim w×h.
pub fn tiff_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut tiff = encode(&rich(16, 16), ImageFormat::Tiff);
    assert_eq!(&tiff[..2], b"II");
    let ifd = u32::from_le_bytes(tiff[4..8].try_into().unwrap()) as usize;
    let count = usize::from(u16::from_le_bytes([tiff[ifd], tiff[ifd + 1]]));
    for i in 0..count {
        let e = ifd + 2 + 12 * i;
        let tag = u16::from_le_bytes([tiff[e], tiff[e + 1]]);
        let value = match tag {
            256 => w,
            257 => h,
            _ => continue,
        };
        tiff[e + 2..e + 4].copy_from_slice(&4u16.to_le_bytes()); // LONG
        tiff[e + 4..e + 8].copy_from_slice(&1u32.to_le_bytes());
        tiff[e + 8..e + 12].copy_from_slice(&value.to_le_bytes());
    }
    tiff
}

/// The 64×32 quadrant picture as a PNG with an eXIf chunk (EXIF without the "Exif\0\0"
/// prefix) before the image data.
pub fn png_with_exif(exif: &[u8]) -> Vec<u8> {
    let png = encode(
        &DynamicImage::ImageRgb8(quadrants(64, 32)),
        ImageFormat::Png,
    );
    let after_ihdr = 8 + 8 + 13 + 4;
    let mut out = png[..after_ihdr].to_vec();
    png_chunk(
        &mut out,
        b"eXIf",
        exif.strip_prefix(b"Exif\0\0").unwrap_or(exif),
    );
    out.extend_from_slice(&png[after_ihdr..]);
    out
}
