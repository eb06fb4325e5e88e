//! Degenerate but valid images through decode → quantize → encode: tiny and extreme sizes,
//! one colour, fewer colours than k, transparency, 16-bit, grey + alpha, palette + tRNS,
//! interlaced, progressive, CMYK, animated, and every EXIF orientation (valid, invalid,
//! corrupt). Each gives the right size, at most k colours and its alpha, never a panic.

use image::{DynamicImage, ImageFormat, Rgba, RgbaImage};
use kquant::decode::{DecodeOptions, decode_bytes};
use kquant::palette_png::{self, Effort};
use kquant::quant::{Control, Params, Pixels, quantize};

use super::inputs::{self, BLUE, GREEN, RED, WHITE};
use crate::util::{PngInfo, read_png};

/// The batch pipeline on bytes: the written PNG, read back by the png crate.
fn through(bytes: &[u8], k: u16) -> PngInfo {
    let img = decode_bytes(bytes, &DecodeOptions::default()).unwrap();
    let pixels = Pixels::from_dynamic_owned(img);
    let q = quantize(&pixels, &Params::new(k), &Control::none()).unwrap();
    assert!(
        q.palette.len() <= usize::from(k),
        "{} > {k}",
        q.palette.len()
    );
    let png = palette_png::encode_with(&q, pixels.alpha.as_deref(), Effort::Small).unwrap();
    let info = read_png(&png);
    assert_eq!((info.width, info.height), (pixels.width, pixels.height));
    assert_eq!(info.color_type, png::ColorType::Indexed);
    assert!(info.palette.len() <= 256);
    // Only translucent pixels may add entries: the transparent one is one of the k.
    let binary = |a: &[u8]| a.iter().all(|&v| v == 0 || v == 255);
    if pixels.alpha.as_deref().is_none_or(binary) {
        assert!(
            info.palette.len() <= usize::from(k),
            "{}",
            info.palette.len()
        );
    }
    if pixels.alpha.is_none() {
        assert!(info.trns.is_none());
    }
    info
}

fn png(img: DynamicImage) -> Vec<u8> {
    inputs::encode(&img, ImageFormat::Png)
}

fn distinct(info: &PngInfo) -> usize {
    let mut v: Vec<[u8; 4]> = info.rgba.clone();
    v.sort_unstable();
    v.dedup();
    v.len()
}

fn near(a: [u8; 4], b: [u8; 3]) -> bool {
    (0..3).all(|c| a[c].abs_diff(b[c]) < 60)
}

#[test]
fn tiny_and_extreme_sizes() {
    for (w, h) in [
        (1, 1),
        (1, 7),
        (7, 1),
        (2, 2),
        (1, 20_000),
        (20_000, 1),
        (3, 5000),
    ] {
        for k in [1, 2, 16, 256] {
            let info = through(&png(inputs::rich(w, h)), k);
            assert_eq!((info.width, info.height), (w, h), "{w}x{h} k={k}");
            assert!(distinct(&info) <= usize::from(k), "{w}x{h} k={k}");
        }
    }
    // A one-pixel image has one colour whatever k is.
    assert_eq!(through(&png(inputs::rich(1, 1)), 256).palette.len(), 1);
}

#[test]
fn fewer_colours_than_k_are_kept_exactly() {
    let one = RgbaImage::from_pixel(30, 20, Rgba([12, 34, 56, 255]));
    let info = through(&png(DynamicImage::ImageRgba8(one)), 16);
    assert_eq!(info.palette, vec![[12, 34, 56]]);
    let three = image::RgbImage::from_fn(30, 20, |x, _| {
        image::Rgb([RED, GREEN, BLUE][x as usize % 3])
    });
    let info = through(&png(DynamicImage::ImageRgb8(three)), 256);
    let mut pal = info.palette.clone();
    pal.sort_unstable();
    assert_eq!(pal, vec![BLUE, GREEN, RED]);
}

#[test]
fn alpha_is_kept() {
    // Fully transparent.
    let clear = RgbaImage::from_pixel(8, 8, Rgba([200, 100, 50, 0]));
    let info = through(&png(DynamicImage::ImageRgba8(clear)), 8);
    assert!(info.rgba.iter().all(|p| p[3] == 0));
    // Half transparent, half opaque; also as 16-bit and as grey + alpha.
    let half = RgbaImage::from_fn(8, 8, |x, _| {
        if x < 4 {
            Rgba([255, 0, 0, 0])
        } else {
            Rgba([0, 0, 255, 255])
        }
    });
    for img in [
        DynamicImage::ImageRgba8(half.clone()),
        DynamicImage::ImageRgba16(DynamicImage::ImageRgba8(half.clone()).to_rgba16()),
        DynamicImage::ImageLumaA8(DynamicImage::ImageRgba8(half.clone()).to_luma_alpha8()),
        DynamicImage::ImageLumaA16(DynamicImage::ImageRgba8(half.clone()).to_luma_alpha16()),
    ] {
        let what = format!("{:?}", img.color());
        let info = through(&png(img), 4);
        assert_eq!(info.rgba[0][3], 0, "{what}");
        assert_eq!(info.rgba[7][3], 255, "{what}");
    }
    // Transparent pixels hiding many colours: the two visible colours are kept exactly, none of
    // the three entries at k = 3 goes to what no one sees.
    let hidden = RgbaImage::from_fn(32, 16, |x, y| {
        if x < 16 {
            let n = (x * 7919 + y * 104_729) as u8;
            Rgba([n, n.wrapping_mul(3), n.wrapping_mul(7), 0])
        } else if y % 2 == 0 {
            Rgba([255, 0, 0, 255])
        } else {
            Rgba([0, 0, 255, 255])
        }
    });
    let info = through(&png(DynamicImage::ImageRgba8(hidden.clone())), 3);
    assert_eq!(info.palette.len(), 3);
    for (got, want) in info.rgba.iter().zip(hidden.pixels()) {
        if want[3] == 255 {
            assert_eq!(got, &want.0);
        } else {
            assert_eq!(got[3], 0);
        }
    }
    // A many-coloured cut-out keeps the bit depth of k: k − 1 colours and the transparent one
    // (at k = 256 too, where k colours and the transparent entry would not fit a PNG palette).
    // The hidden RGB of its transparent pixels takes no entry.
    let mut cut = inputs::rich(64, 64).to_rgba8();
    for (x, _, p) in cut.enumerate_pixels_mut() {
        if x < 16 {
            p[3] = 0;
        }
    }
    for k in [2, 4, 16, 256] {
        let info = through(&png(DynamicImage::ImageRgba8(cut.clone())), k);
        assert_eq!(info.palette.len(), usize::from(k), "k {k}");
        assert_eq!(
            info.bit_depth,
            palette_png::bit_depth_for(usize::from(k)),
            "k {k}"
        );
        assert_eq!(info.rgba[0][3], 0);
        assert_eq!(info.rgba[63][3], 255);
    }
}

#[test]
fn sixteen_bit_and_grey_layouts() {
    let rich = inputs::rich(40, 30);
    for img in [
        DynamicImage::ImageRgb16(rich.to_rgb16()),
        DynamicImage::ImageLuma16(rich.to_luma16()),
        DynamicImage::ImageLuma8(rich.to_luma8()),
    ] {
        let what = format!("{:?}", img.color());
        let info = through(&png(img), 16);
        assert_eq!((info.width, info.height), (40, 30), "{what}");
        assert!(info.rgba.iter().all(|p| p[3] == 255), "{what}");
    }
}

#[test]
fn fixtures_decode_to_what_they_show() {
    // Palette + tRNS: left half transparent, then green, then blue.
    let info = through(&inputs::data("palette_trns.png"), 8);
    assert_eq!((info.width, info.height), (20, 10));
    assert_eq!(info.rgba[0][3], 0);
    assert!(near(info.rgba[12], GREEN) && info.rgba[12][3] == 255);
    assert!(near(info.rgba[19], BLUE));
    // Interlaced PNG equals itself decoded by the png crate alone.
    let inter = inputs::data("interlaced.png");
    let info = through(&inter, 256);
    assert_eq!(info.rgba, read_png(&inter).rgba);
    for (name, w, h) in [
        ("progressive.jpg", 32, 24),
        ("cmyk.jpg", 32, 24),
        ("lossy.webp", 32, 24),
    ] {
        let info = through(&inputs::data(name), 16);
        assert_eq!((info.width, info.height), (w, h), "{name}");
        assert!(distinct(&info) > 1, "{name} came out flat");
    }
    // Lossy WebP with alpha: top-right green opaque, bottom-right transparent.
    let info = through(&inputs::data("alpha.webp"), 16);
    assert_eq!(info.rgba[31][3], 255);
    assert!(near(info.rgba[31], GREEN));
    assert_eq!(info.rgba[32 * 24 - 1][3], 0);
    // Animated GIF: the first frame (red), not the second (blue).
    let info = through(&inputs::data("animated.gif"), 16);
    assert_eq!((info.width, info.height), (12, 8));
    assert!(
        info.rgba.iter().all(|p| near(*p, RED)),
        "{:?}",
        info.rgba[0]
    );
}

/// Top-left and top-right colours of the 64×32 quadrant picture as displayed.
fn corners(info: &PngInfo) -> ([u8; 4], [u8; 4]) {
    (info.rgba[0], info.rgba[info.width as usize - 1])
}

#[test]
fn every_exif_orientation_comes_out_upright() {
    // (orientation, displayed size, top-left, top-right) for the quadrant picture
    // red | green over blue | white, 64×32 as stored.
    let cases = [
        (1, (64, 32), RED, GREEN),
        (2, (64, 32), GREEN, RED),
        (3, (64, 32), WHITE, BLUE),
        (4, (64, 32), BLUE, WHITE),
        (5, (32, 64), RED, BLUE),
        (6, (32, 64), BLUE, RED),
        (7, (32, 64), WHITE, GREEN),
        (8, (32, 64), GREEN, WHITE),
    ];
    for (o, size, tl, tr) in cases {
        let exif = inputs::exif_orientation(o);
        for (what, bytes) in [
            ("JPEG", inputs::jpeg_with_exif(&exif)),
            ("PNG", inputs::png_with_exif(&exif)),
        ] {
            let info = through(&bytes, 4);
            assert_eq!((info.width, info.height), size, "{what} orientation {o}");
            let (got_tl, got_tr) = corners(&info);
            assert!(
                near(got_tl, tl) && near(got_tr, tr),
                "{what} orientation {o}: {got_tl:?} {got_tr:?}"
            );
        }
    }
    // Invalid values and broken EXIF blocks: the image as stored.
    for o in [0, 9, 255, 65535] {
        let info = through(&inputs::jpeg_with_exif(&inputs::exif_orientation(o)), 4);
        assert_eq!((info.width, info.height), (64, 32), "orientation {o}");
        let (got_tl, got_tr) = corners(&info);
        assert!(near(got_tl, RED) && near(got_tr, GREEN), "orientation {o}");
    }
    for (i, exif) in inputs::exif_corrupt().into_iter().enumerate() {
        let info = through(&inputs::jpeg_with_exif(&exif), 4);
        assert_eq!((info.width, info.height), (64, 32), "corrupt EXIF #{i}");
    }
}

#[test]
fn low_peak_conversion_gives_the_same_pixels() {
    let rich = inputs::rich(23, 17);
    let rgba = DynamicImage::ImageRgba8(RgbaImage::from_fn(23, 17, |x, y| {
        Rgba([
            (x * 11) as u8,
            (y * 15) as u8,
            7,
            if x % 3 == 0 { 255 } else { (x * y) as u8 },
        ])
    }));
    let opaque = DynamicImage::ImageRgba8(rich.to_rgba8());
    for img in [
        rich.clone(),
        DynamicImage::ImageRgb16(rich.to_rgb16()),
        DynamicImage::ImageLuma8(rich.to_luma8()),
        DynamicImage::ImageLuma16(rich.to_luma16()),
        DynamicImage::ImageLumaA8(rgba.to_luma_alpha8()),
        DynamicImage::ImageRgba16(rgba.to_rgba16()),
        DynamicImage::ImageRgb32F(rich.to_rgb32f()),
        rgba,
        opaque,
    ] {
        let want = Pixels::from_dynamic(&img);
        let what = format!("{:?}", img.color());
        assert_eq!(Pixels::from_dynamic_owned(img), want, "{what}");
    }
}
