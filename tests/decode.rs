//! Decoding: bad inputs fail cleanly, every corpus variant comes out upright and sized right.

use std::collections::HashSet;
use std::path::Path;

use image::GenericImageView as _;
use kquant::decode::{
    DecodeError, DecodeOptions, decode, decode_pixels, decode_pixels_banded, sniff_image,
};
use kquant::palette_png;
use kquant::quant::{Control, Params, quantize};

use crate::util::{corpus_or_skip, read_png, rich_rgb};

fn opts() -> DecodeOptions {
    DecodeOptions::default()
}

#[test]
fn bad_sample_never_panics() {
    let corpus = corpus_or_skip!();
    let dir = corpus.join("bad-sample");
    assert!(matches!(
        decode(&dir.join("zero_byte.jpg"), &opts()),
        Err(DecodeError::Empty)
    ));
    assert!(matches!(
        decode(&dir.join("not_an_image.png"), &opts()),
        Err(DecodeError::UnknownFormat)
    ));
    // Truncated: either a clear error or a full-size (partly grey) image.
    match decode(&dir.join("truncated_50pct.jpg"), &opts()) {
        Ok(img) => assert_eq!(img.dimensions(), (640, 427)),
        Err(e) => assert!(
            matches!(e, DecodeError::Truncated(_) | DecodeError::Corrupt(_)),
            "{e:?}"
        ),
    }
    assert!(matches!(
        decode(&dir.join("missing.png"), &opts()),
        Err(DecodeError::Io(_))
    ));
}

/// Quantize at k and return the set of colours in the re-read PNG.
fn colours_after(path: &Path, k: u16) -> HashSet<[u8; 3]> {
    let pixels = decode_pixels(path, &opts()).unwrap();
    let q = quantize(&pixels, &Params::new(k), &Control::none()).unwrap();
    assert!(q.palette.len() <= usize::from(k));
    let png = read_png(&palette_png::encode(&q, pixels.alpha.as_deref()).unwrap());
    assert_eq!(png.color_type, png::ColorType::Indexed);
    png.rgba.iter().map(|p| [p[0], p[1], p[2]]).collect()
}

#[test]
fn one_colour_at_k16_gives_one_colour() {
    let corpus = corpus_or_skip!();
    let got = colours_after(&corpus.join("bad-sample/one_colour.png"), 16);
    assert_eq!(got, HashSet::from([[0xc0, 0x39, 0x2b]]));
}

#[test]
fn three_colours_at_k16_gives_exactly_those() {
    let corpus = corpus_or_skip!();
    let got = colours_after(&corpus.join("bad-sample/three_colours.png"), 16);
    let want = HashSet::from([[0x2c, 0x3e, 0x50], [0xf3, 0x9c, 0x12], [0xec, 0xf0, 0xf1]]);
    assert_eq!(got, want);
}

/// Mean absolute difference over every 7th pixel of two same-size images.
fn mean_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let (mut sum, mut n) = (0u64, 0u64);
    for (pa, pb) in a.pixels().zip(b.pixels()).step_by(7) {
        for c in 0..3 {
            sum += u64::from(pa[c].abs_diff(pb[c]));
            n += 1;
        }
    }
    sum as f64 / n as f64
}

#[test]
fn exif_orientation_is_applied() {
    let corpus = corpus_or_skip!();
    let upright = decode(&corpus.join("photos/china.jpg"), &opts())
        .unwrap()
        .to_rgb8();
    let rotated = decode(&corpus.join("variants/china_exif-orient6.jpg"), &opts())
        .unwrap()
        .to_rgb8();
    assert_eq!(rotated.dimensions(), (640, 427));
    let d = mean_diff(&upright, &rotated);
    assert!(d < 8.0, "orient6 differs from the original by {d}");
    // The same comparison against a 180° turn must be far off, or the test proves nothing.
    let turned = image::imageops::rotate180(&rotated);
    assert!(mean_diff(&upright, &turned) > 3.0 * d.max(1.0));

    let storm = decode(&corpus.join("photos/Storm.jpg"), &opts())
        .unwrap()
        .to_rgb8();
    let storm3 = decode(&corpus.join("variants/Storm_exif-orient3.jpg"), &opts())
        .unwrap()
        .to_rgb8();
    let d = mean_diff(&storm, &storm3);
    assert!(d < 8.0, "orient3 differs from the original by {d}");

    let wine = decode(&corpus.join("variants/Wine_exif-orient8.jpg"), &opts()).unwrap();
    assert_eq!(wine.dimensions(), (2560, 3832));
}

#[test]
fn every_variant_decodes_with_displayed_size() {
    let corpus = corpus_or_skip!();
    let v = corpus.join("variants");
    for (name, w, h, alpha) in [
        ("picosdeeuropa_16bit.png", 1024, 768, false),
        ("coffee_rgba.png", 600, 400, true),
        ("chelsea_256colours.gif", 451, 300, false),
        ("flower_lzw.tif", 640, 427, false),
        ("rocket_24bit.bmp", 640, 427, false),
        ("LadyBird.webp", 2560, 1600, false),
        ("EveningGlow_2560x1600.png", 2560, 1600, false),
    ] {
        let p = decode_pixels(&v.join(name), &opts()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((p.width, p.height), (w, h), "{name}");
        assert_eq!(p.rgb.len(), (w * h) as usize, "{name}");
        assert_eq!(p.alpha.is_some(), alpha, "{name}");
    }
    // 16-bit input really is 16-bit before conversion.
    let img = decode(&v.join("picosdeeuropa_16bit.png"), &opts()).unwrap();
    assert_eq!(img.color().bytes_per_pixel(), 6);
    // Greyscale photos decode too.
    let grey = decode_pixels(&corpus.join("photos/camera.png"), &opts()).unwrap();
    assert!(grey.rgb.iter().all(|[r, g, b]| r == g && g == b));
}

#[test]
fn pixel_budget_refuses_before_decoding() {
    let corpus = corpus_or_skip!();
    let err = decode(
        &corpus.join("photos/china.jpg"),
        &DecodeOptions { max_pixels: 1000 },
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::TooLarge {
                width: 640,
                height: 427,
                max_pixels: 1000
            }
        ),
        "{err:?}"
    );
}

/// CRC-32 (IEEE) for hand-made PNG chunks.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

#[test]
fn decompression_bomb_is_refused_with_its_size() {
    // A 30000x30000 RGB PNG header with a scrap of IDAT: 2.7 GB if anyone tried to decode it.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&30000u32.to_be_bytes());
    ihdr.extend_from_slice(&30000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0x00],
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.jpg"); // wrong extension on purpose: content decides
    std::fs::write(&path, &png).unwrap();
    let err = decode(&path, &opts()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "image is 30000x30000 (900 MP), above the 200 MP limit (--max-pixels)"
    );
}

#[test]
fn sniffing_uses_extension_or_magic() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let png_no_ext = dir.path().join("picture");
    crate::util::rich_rgb(4, 4)
        .save_with_format(&png_no_ext, image::ImageFormat::Png)
        .unwrap();
    let empty_jpg = dir.path().join("empty.JPG");
    std::fs::write(&empty_jpg, "").unwrap();
    assert!(!sniff_image(&text));
    assert!(sniff_image(&png_no_ext));
    assert!(sniff_image(&empty_jpg));
    // And decoding by content works without an extension.
    assert_eq!(decode(&png_no_ext, &opts()).unwrap().dimensions(), (4, 4));
}

/// `decode_pixels_banded`'s result and the bands it handed over.
fn banded(
    path: &Path,
) -> (
    Result<kquant::quant::Pixels, DecodeError>,
    Vec<Vec<[u8; 3]>>,
) {
    let bands = std::sync::Mutex::new(Vec::new());
    let got = decode_pixels_banded(path, &opts(), &|b| bands.lock().unwrap().push(b.to_vec()));
    (got, bands.into_inner().unwrap())
}

#[test]
fn banded_decoding_hands_over_every_pixel_once_and_decodes_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 700 x 400: more than one band, and a width that does not divide the band size.
    let rgb = rich_rgb(700, 400);
    rgb.save(d.join("rgb.png")).unwrap();
    rgb.save(d.join("rgb.jpg")).unwrap();
    let mut rgba = image::DynamicImage::ImageRgb8(rgb.clone()).to_rgba8();
    rgba.save(d.join("opaque_rgba.png")).unwrap();
    rgba.get_pixel_mut(3, 399).0[3] = 7;
    rgba.save(d.join("rgba.png")).unwrap();
    // One file per PNG row filter, so each is undone on every row; small IDAT chunks.
    let mut filtered = Vec::new();
    for (name, filter) in [
        ("none", png::Filter::NoFilter),
        ("sub", png::Filter::Sub),
        ("up", png::Filter::Up),
        ("avg", png::Filter::Avg),
        ("paeth", png::Filter::Paeth),
    ] {
        for (colour, bytes) in [
            (png::ColorType::Rgb, rgb.as_raw()),
            (png::ColorType::Rgba, rgba.as_raw()),
        ] {
            let path = d.join(format!("{name}-{colour:?}.png"));
            let mut enc = png::Encoder::new(std::fs::File::create(&path).unwrap(), 700, 400);
            enc.set_color(colour);
            enc.set_filter(filter);
            let mut writer = enc.write_header().unwrap();
            let mut stream = writer.stream_writer_with_size(10_000).unwrap();
            std::io::Write::write_all(&mut stream, bytes).unwrap();
            stream.finish().unwrap();
            filtered.push(path);
        }
    }
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for path in filtered.into_iter().chain([
        d.join("rgb.png"),
        d.join("rgb.jpg"),
        d.join("opaque_rgba.png"),
        d.join("rgba.png"),
        data.join("interlaced.png"),
        data.join("palette_trns.png"),
    ]) {
        let want = decode_pixels(&path, &opts()).unwrap();
        let (got, bands) = banded(&path);
        let got = got.unwrap();
        assert_eq!(got, want, "{}", path.display());
        assert!(
            bands.iter().all(|b| b.len() % want.width as usize == 0),
            "{}: a band that is not whole rows",
            path.display()
        );
        let mut handed: Vec<[u8; 3]> = bands.concat();
        let mut all = want.rgb.to_vec();
        handed.sort_unstable();
        all.sort_unstable();
        assert_eq!(handed, all, "{}", path.display());
    }
    assert!(banded(&d.join("rgba.png")).0.unwrap().alpha.is_some());
    assert!(
        banded(&d.join("opaque_rgba.png"))
            .0
            .unwrap()
            .alpha
            .is_none()
    );
}

#[test]
fn banded_decoding_fails_as_whole_decoding_does() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.png");
    rich_rgb(700, 400).save(&good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.png");
    std::fs::write(&truncated, &bytes[..bytes.len() * 6 / 10]).unwrap();
    // A flipped byte inside the image data: a deflate or checksum error.
    let mut flipped = bytes.clone();
    let at = bytes.len() / 2;
    flipped[at] ^= 0x55;
    let corrupt = dir.path().join("corrupt.png");
    std::fs::write(&corrupt, &flipped).unwrap();
    for path in [truncated, corrupt] {
        let want = decode_pixels(&path, &opts()).unwrap_err().to_string();
        let got = banded(&path).0.unwrap_err().to_string();
        assert_eq!(got, want, "{}", path.display());
    }
}

#[test]
fn banded_decoding_agrees_on_damaged_multi_block_pngs() {
    // Big enough for the two-thread decode to send many blocks and shift its buffer, in
    // 10 kB IDAT chunks; damaged at spread-out places, from the header to the last chunk.
    let dir = tempfile::tempdir().unwrap();
    let rgb = rich_rgb(700, 400);
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, 700, 400);
        enc.set_color(png::ColorType::Rgb);
        enc.set_filter(png::Filter::Paeth);
        let mut writer = enc.write_header().unwrap();
        let mut stream = writer.stream_writer_with_size(10_000).unwrap();
        std::io::Write::write_all(&mut stream, rgb.as_raw()).unwrap();
        stream.finish().unwrap();
        writer.finish().unwrap();
    }
    let path = dir.path().join("damaged.png");
    let (mut agreed_ok, mut agreed_err) = (0, 0);
    for i in 1..24 {
        let at = bytes.len() * i / 24;
        let truncated = bytes[..at].to_vec();
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x24;
        for damaged in [truncated, flipped] {
            std::fs::write(&path, &damaged).unwrap();
            match (banded(&path).0, decode_pixels(&path, &opts())) {
                (Ok(got), Ok(want)) => {
                    assert!(got == want, "damage at {at}: pixels differ");
                    agreed_ok += 1;
                }
                (Err(got), Err(want)) => {
                    assert_eq!(got.to_string(), want.to_string(), "damage at {at}");
                    agreed_err += 1;
                }
                (got, want) => panic!("damage at {at}: {:?} vs {:?}", got.err(), want.err()),
            }
        }
    }
    // Truncation always fails; a flipped byte inside the deflate stream can also decode.
    assert!(agreed_err >= 23, "{agreed_ok} ok, {agreed_err} errors");
}

#[test]
fn ycck_jpeg_decodes_to_its_colours() {
    // `cmyk.jpg` is Adobe-marked YCCK (APP14 transform 2), as Photoshop writes CMYK JPEGs.
    // Read as plain CMYK, or with the Adobe inversion missed, its colours come out far off.
    // Reference means: Pillow 13 (73.3, 95.1, 70.4), ImageMagick 6.9 (72.9, 94.7, 70.0).
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cmyk.jpg");
    let px = decode_pixels(&path, &opts()).unwrap();
    assert_eq!((px.width, px.height), (32, 24));
    let mut sum = [0.0f64; 3];
    for p in px.rgb.iter() {
        for c in 0..3 {
            sum[c] += f64::from(p[c]);
        }
    }
    let mean = sum.map(|s| s / px.rgb.len() as f64);
    for (got, want) in mean.iter().zip([73.1, 94.9, 70.2]) {
        assert!((got - want).abs() < 1.5, "mean {mean:?}");
    }
}
