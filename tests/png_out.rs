//! Indexed PNG output: bit depths, palettes, alpha through tRNS, atomic saving.

use std::fs;

use kquant::palette_png::{Effort, SaveError, encode, encode_with, save_atomic};
use kquant::quant::Quantized;

use crate::util::{expected_depth, read_png};

/// A w×h image cycling through `n` palette colours.
fn cycling(n: usize, w: u32, h: u32) -> Quantized {
    let palette: Vec<[u8; 3]> = (0..n)
        .map(|i| [i as u8, (255 - i) as u8, (i * 7) as u8])
        .collect();
    let indices: Vec<u8> = (0..(w * h) as usize).map(|i| (i % n) as u8).collect();
    let mut counts = vec![0u64; n];
    for &i in &indices {
        counts[usize::from(i)] += 1;
    }
    Quantized {
        width: w,
        height: h,
        palette,
        counts,
        indices: indices.into(),
        mse: 0.0,
        psnr: f64::INFINITY,
        iterations: 0,
    }
}

#[test]
fn smallest_bit_depth_and_exact_pixels() {
    // Odd widths exercise the row padding at every sub-byte depth.
    for n in [1, 2, 3, 4, 5, 16, 17, 200, 256] {
        let q = cycling(n, 13, 5);
        let bytes = encode(&q, None).unwrap();
        let small = encode_with(&q, None, Effort::Small).unwrap();
        assert_eq!(read_png(&small).rgba, read_png(&bytes).rgba, "n={n}");
        let png = read_png(&bytes);
        assert_eq!(png.color_type, png::ColorType::Indexed, "n={n}");
        assert_eq!(png.bit_depth, expected_depth(n), "n={n}");
        assert_eq!((png.width, png.height), (13, 5));
        assert_eq!(png.palette, q.palette, "n={n}");
        assert!(png.trns.is_none());
        for (px, &ix) in png.rgba.iter().zip(&q.indices) {
            let c = q.palette[usize::from(ix)];
            assert_eq!(*px, [c[0], c[1], c[2], 255], "n={n}");
        }
    }
}

#[test]
fn alpha_is_written_through_trns() {
    let q = cycling(4, 16, 16);
    // Opaque, fully transparent and two translucent levels.
    let alpha: Vec<u8> = (0..256).map(|i| [255u8, 0, 128, 37][(i / 4) % 4]).collect();
    let png = read_png(&encode(&q, Some(&alpha)).unwrap());
    assert_eq!(png.color_type, png::ColorType::Indexed);
    assert!(png.trns.is_some());
    assert!(png.palette.len() <= 256);
    for ((px, &ix), &a) in png.rgba.iter().zip(&q.indices).zip(&alpha) {
        assert_eq!(px[3], a);
        if a != 0 {
            let c = q.palette[usize::from(ix)];
            assert_eq!([px[0], px[1], px[2]], c);
        }
    }
    // All fully transparent pixels share one entry: 4 colours × 3 visible levels + 1.
    assert_eq!(png.palette.len(), 13);
}

#[test]
fn many_alpha_levels_are_coarsened_to_fit() {
    let q = cycling(255, 64, 64);
    let alpha: Vec<u8> = (0..64 * 64).map(|i| (i * 31 % 256) as u8).collect();
    let png = read_png(&encode(&q, Some(&alpha)).unwrap());
    assert!(png.palette.len() <= 256);
    assert_eq!(png.bit_depth, png::BitDepth::Eight);
    for (px, &a) in png.rgba.iter().zip(&alpha) {
        // 255 colours leave room for two levels only: transparent and opaque.
        assert_eq!(px[3], if a < 128 { 0 } else { 255 }, "alpha {a}");
    }
}

#[test]
fn save_is_atomic_and_never_overwrites_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.png");
    fs::write(&input, b"original").unwrap();

    // Same file under another spelling.
    let sneaky = dir.path().join("sub/../a.png");
    fs::create_dir(dir.path().join("sub")).unwrap();
    let err = save_atomic(b"new", dir.path(), &sneaky, &[&input]).unwrap_err();
    assert!(matches!(err, SaveError::WouldOverwriteInput(_)), "{err:?}");

    // A hard link to the input.
    let link = dir.path().join("link.png");
    fs::hard_link(&input, &link).unwrap();
    assert!(save_atomic(b"new", dir.path(), &link, &[&input]).is_err());
    assert_eq!(fs::read(&input).unwrap(), b"original");

    // A normal save creates folders, replaces an old output and leaves no temp files.
    let out = dir.path().join("out/deep/b.png");
    save_atomic(b"first", dir.path(), &out, &[&input]).unwrap();
    save_atomic(b"second", dir.path(), &out, &[&input]).unwrap();
    assert_eq!(fs::read(&out).unwrap(), b"second");
    let names: Vec<_> = fs::read_dir(dir.path().join("out/deep"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("b.png")]);
}
