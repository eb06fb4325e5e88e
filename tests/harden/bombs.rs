//! Decompression bombs: headers claiming enormous sizes in every format, valid images that
//! inflate to gigabytes, and a PNG whose colour profile inflates while the headers are read.
//! Each is refused by the pixel budget or the allocation cap derived from it, before the
//! memory is taken, and promptly.

use std::fs;
use std::time::{Duration, Instant};

use kquant::decode::{DecodeError, DecodeOptions, decode, decode_bytes};

use super::assert_terminal_safe;
use super::inputs;

fn opts() -> DecodeOptions {
    DecodeOptions::default()
}

/// (name, bytes, claimed width, claimed height): all far above the default 200 MP.
fn huge_headers() -> Vec<(&'static str, Vec<u8>, u32, u32)> {
    vec![
        (
            "png",
            inputs::png_header_only(100_000, 100_000),
            100_000,
            100_000,
        ),
        (
            "png-wide",
            inputs::png_header_only(0x7fff_ffff, 1),
            0x7fff_ffff,
            1,
        ),
        ("jpeg", inputs::jpeg_claiming(65535, 65535), 65535, 65535),
        ("gif", inputs::gif_claiming(65535, 65535), 65535, 65535),
        // The screen says 16×16, the first frame 65535×65535.
        (
            "gif-frame",
            inputs::gif_frame_claiming(65535, 65535),
            16,
            16,
        ),
        ("webp", inputs::webp_claiming(16383, 16383), 16383, 16383),
        (
            "webp-canvas",
            inputs::webp_patched(inputs::data("alpha.webp"), 100_000, 100_000),
            100_000,
            100_000,
        ),
        (
            "bmp",
            inputs::bmp_claiming(100_000, 100_000),
            100_000,
            100_000,
        ),
        (
            "bmp-top-down",
            inputs::bmp_claiming(100_000, -100_000),
            100_000,
            100_000,
        ),
        (
            "tiff",
            inputs::tiff_claiming(100_000, 100_000),
            100_000,
            100_000,
        ),
    ]
}

#[test]
fn huge_headers_are_refused_by_size_in_every_format() {
    for (name, bytes, w, h) in huge_headers() {
        let start = Instant::now();
        let e = decode_bytes(&bytes, &opts()).unwrap_err();
        match e {
            DecodeError::TooLarge {
                width,
                height,
                max_pixels,
            } => {
                assert_eq!((width, height), (w, h), "{name}");
                assert_eq!(max_pixels, DecodeOptions::DEFAULT_MAX_PIXELS);
            }
            // Some decoders reject the absurd size themselves while reading the header.
            DecodeError::MemoryLimit(_) | DecodeError::Corrupt(_) | DecodeError::Unsupported(_) => {
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{name} took {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn low_max_pixels_refuses_what_the_default_accepts() {
    // 3000×3000 black RGB: a valid 27 KB file that decodes to 27 MB.
    let bytes = inputs::png_zeros(3000, 3000);
    assert!(bytes.len() < 64 << 10);
    let low = DecodeOptions {
        max_pixels: 1_000_000,
    };
    let e = decode_bytes(&bytes, &low).unwrap_err();
    assert_eq!(
        e.to_string(),
        "image is 3000x3000 (9.0 MP), above the 1.0 MP limit (--max-pixels)"
    );
    // Exactly at the limit is allowed.
    let at = DecodeOptions {
        max_pixels: 9_000_000,
    };
    let img = decode_bytes(&bytes, &at).unwrap();
    assert_eq!((img.width(), img.height()), (3000, 3000));
}

#[test]
fn valid_gigapixel_image_is_refused_before_decoding() {
    // 40000×40000 black RGB: a valid PNG of ~4.7 MB that would decode to 4.8 GB.
    let bytes = inputs::png_zeros(40_000, 40_000);
    let start = Instant::now();
    let e = decode_bytes(&bytes, &opts()).unwrap_err();
    assert!(
        matches!(
            e,
            DecodeError::TooLarge {
                width: 40_000,
                height: 40_000,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn colour_profile_bomb_is_cut_off_at_the_allocation_cap() {
    // A 1×1 image whose iCCP profile inflates to 256 MB. The png crate inflates it while
    // reading the headers, bounded only by the limit it is built with; past the cap (64 MB +
    // 8 kB for a 1000-pixel budget) it drops the profile and goes on. Without the cap in place
    // at that point it would inflate all of it (see the `ulimit -v` run below).
    let bytes = inputs::png_iccp_bomb(256 << 20);
    assert!(bytes.len() < 1 << 20);
    let low = DecodeOptions { max_pixels: 1000 };
    let img = decode_bytes(&bytes, &low).unwrap();
    assert_eq!((img.width(), img.height()), (1, 1));
}

/// Every bomb through the binary with 1 GB of address space (`ulimit -v`) and a 1000-pixel
/// budget: refused with a message naming the size, or (the profile bomb, 4 GiB inflated)
/// decoded without the profile; a decoder allocating what a header claims would abort.
#[test]
fn compress_refuses_bombs_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, bytes, _, _) in huge_headers() {
        fs::write(d.join(format!("bomb-{name}.img")), bytes).unwrap();
    }
    fs::write(d.join("valid-9mp.png"), inputs::png_zeros(3000, 3000)).unwrap();
    fs::write(d.join("iccp.png"), inputs::png_iccp_bomb(4 << 30)).unwrap();
    fs::write(
        d.join("small.png"),
        inputs::encode(&inputs::rich(10, 10), image::ImageFormat::Png),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = compress_within_1gb(&["--max-pixels", "1000"], out.path(), d);
    assert_terminal_safe("stderr", &output.stderr);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "bomb-png.img: image is 100000x100000 (10000 MP), above the 1000 px limit (--max-pixels)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("valid-9mp.png: image is 3000x3000 (9.0 MP), above the 1000 px limit"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), huge_headers().len() + 1, "{stderr}");
    assert_eq!(
        super::files_under(out.path()),
        vec![
            std::path::PathBuf::from("iccp.png"),
            std::path::PathBuf::from("small.png")
        ]
    );
    // At the default budget too: the PNG decoder's own allocations are capped at 256 MiB,
    // far below the 1.6 GB image cap, so the 4 GiB profile still fits in 1 GB.
    let out = tempfile::tempdir().unwrap();
    let output = compress_within_1gb(&[], out.path(), &d.join("iccp.png"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[test]
fn decode_from_path_applies_the_same_limits() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bomb.jpg");
    fs::write(&p, inputs::png_header_only(5000, 5000)).unwrap();
    let e = decode(&p, &DecodeOptions { max_pixels: 1000 }).unwrap_err();
    assert!(
        matches!(
            e,
            DecodeError::TooLarge {
                width: 5000,
                height: 5000,
                max_pixels: 1000
            }
        ),
        "{e:?}"
    );
}

/// `kquant compress -k 4 EXTRA -o OUT INPUT` with its address space limited to 1 GB.
fn compress_within_1gb(
    extra: &[&str],
    out: &std::path::Path,
    input: &std::path::Path,
) -> std::process::Output {
    std::process::Command::new("sh")
        .env("KQUANT", assert_cmd::cargo::cargo_bin("kquant"))
        .arg("-c")
        .arg(r#"ulimit -v 1000000 && exec "$KQUANT" "$@""#)
        .arg("sh")
        .args(["compress", "-k", "4"])
        .args(extra)
        .arg("-o")
        .arg(out)
        .arg(input)
        .output()
        .unwrap()
}
