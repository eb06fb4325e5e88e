//! Broken files: empty, truncated at several points, corrupt chunks and CRCs, trailing
//! garbage, extensions that lie. Each gives a clear error (or, where the format allows, a
//! full-size image), never a panic.

use std::fs;

use image::GenericImageView as _;
use kquant::decode::{DecodeError, DecodeOptions, decode, decode_bytes};

use super::inputs::{self, png_chunk, seeds};
use super::{assert_terminal_safe, kquant};

fn opts() -> DecodeOptions {
    DecodeOptions::default()
}

/// Errors a damaged file may legitimately give.
fn is_damage_error(e: &DecodeError) -> bool {
    matches!(
        e,
        DecodeError::Truncated(_)
            | DecodeError::Corrupt(_)
            | DecodeError::UnknownFormat
            | DecodeError::Unsupported(_)
            | DecodeError::ZeroSize { .. }
            | DecodeError::Empty
    )
}

#[test]
fn empty_input_is_its_own_error() {
    assert!(matches!(
        decode_bytes(&[], &opts()),
        Err(DecodeError::Empty)
    ));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.png");
    fs::write(&p, b"").unwrap();
    let e = decode(&p, &opts()).unwrap_err();
    assert_eq!(e.to_string(), "empty file (0 bytes)");
}

#[test]
fn truncated_files_fail_cleanly_or_keep_their_size() {
    for (name, bytes) in seeds() {
        let full = decode_bytes(&bytes, &opts()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let dims = full.dimensions();
        let n = bytes.len();
        let mut cuts = vec![1, 8, 16, 32, n / 10, n / 2, n * 9 / 10, n - 1];
        cuts.retain(|&c| c > 0 && c < n);
        for cut in cuts {
            match decode_bytes(&bytes[..cut], &opts()) {
                // Some decoders fill what is missing (JPEG, interlaced PNG): same size then.
                Ok(img) => assert_eq!(img.dimensions(), dims, "{name} cut at {cut}/{n}"),
                Err(e) => assert!(is_damage_error(&e), "{name} cut at {cut}/{n}: {e:?}"),
            }
        }
    }
}

#[test]
fn trailing_garbage_after_a_valid_image_still_decodes() {
    for (name, mut bytes) in seeds() {
        let want = decode_bytes(&bytes, &opts()).unwrap().dimensions();
        bytes.extend((0..4096u32).map(|i| (i * 31 % 251) as u8));
        let got = decode_bytes(&bytes, &opts()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(got.dimensions(), want, "{name}");
    }
}

#[test]
fn corrupt_png_chunks_are_reported_as_corrupt() {
    let good = inputs::encode(&inputs::rich(16, 12), image::ImageFormat::Png);
    // Flip one bit in the IHDR CRC, then in the IDAT data (its CRC no longer matches).
    let mut bad_ihdr_crc = good.clone();
    bad_ihdr_crc[8 + 8 + 13] ^= 1;
    let idat = good.windows(4).position(|w| w == b"IDAT").unwrap();
    let mut bad_idat = good.clone();
    bad_idat[idat + 10] ^= 0x40;
    // A chunk length far past the end of the file.
    let mut bad_len = good.clone();
    bad_len[idat - 4..idat].copy_from_slice(&0x7fff_fff0u32.to_be_bytes());
    // An unknown critical chunk (upper-case first letter) before the image data.
    let mut critical = good[..idat - 4].to_vec();
    png_chunk(&mut critical, b"ZZZZ", b"?");
    critical.extend_from_slice(&good[idat - 4..]);
    for (what, bytes) in [
        ("IHDR CRC", bad_ihdr_crc),
        ("IDAT byte", bad_idat),
        ("chunk length", bad_len),
        ("unknown critical chunk", critical),
    ] {
        let e = decode_bytes(&bytes, &opts()).unwrap_err();
        assert!(is_damage_error(&e), "{what}: {e:?}");
        let msg = e.to_string();
        assert!(
            msg.starts_with("corrupt image") || msg.starts_with("truncated image"),
            "{what}: {msg}"
        );
    }
}

#[test]
fn content_decides_not_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(
        d.join("really-a-png.jpg"),
        inputs::encode(&inputs::rich(9, 7), image::ImageFormat::Png),
    )
    .unwrap();
    fs::write(d.join("really-text.png"), b"just some notes\n").unwrap();
    fs::write(
        d.join("really-gif.webp"),
        inputs::encode(&inputs::rich(5, 4), image::ImageFormat::Gif),
    )
    .unwrap();
    assert_eq!(
        decode(&d.join("really-a-png.jpg"), &opts())
            .unwrap()
            .dimensions(),
        (9, 7)
    );
    assert_eq!(
        decode(&d.join("really-gif.webp"), &opts())
            .unwrap()
            .dimensions(),
        (5, 4)
    );
    assert!(matches!(
        decode(&d.join("really-text.png"), &opts()),
        Err(DecodeError::UnknownFormat)
    ));
}

/// The whole zoo through the binary: one line per bad file, good files written, exit 1.
#[test]
fn compress_reports_each_damaged_file_and_writes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut good = Vec::new();
    for (name, bytes) in seeds() {
        let n = bytes.len();
        fs::write(d.join(format!("{name}.img")), &bytes).unwrap();
        good.push(format!("{name}.img"));
        fs::write(d.join(format!("{name}-half.img")), &bytes[..n / 2]).unwrap();
        fs::write(d.join(format!("{name}-head.img")), &bytes[..16.min(n)]).unwrap();
    }
    fs::write(d.join("empty.jpg"), b"").unwrap();
    fs::write(d.join("text.png"), b"hello").unwrap();
    let out = tempfile::tempdir().unwrap();
    let assert = kquant()
        .arg("compress")
        .arg(d)
        .args(["-k", "8", "-o"])
        .arg(out.path())
        .assert()
        .code(1);
    let output = assert.get_output();
    assert_terminal_safe("stderr", &output.stderr);
    assert_terminal_safe("stdout", &output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panic"), "{stderr}");
    assert!(
        stderr.contains("empty.jpg: empty file (0 bytes)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("text.png: not a supported image (unknown format)"),
        "{stderr}"
    );
    // Every stderr line is `path: cause` for a file of this folder, says it once (a decoder's
    // message used to be repeated by its own cause chain) and on one line.
    for line in stderr.lines() {
        assert!(
            line.starts_with(&d.to_string_lossy().into_owned()),
            "{line}"
        );
        assert!(!line.contains("\\x0a"), "{line}");
        let parts: Vec<&str> = line.split(": ").collect();
        let last = parts[parts.len() - 1];
        assert!(
            !parts[..parts.len() - 1].contains(&last),
            "repeats itself: {line}"
        );
    }
    // Every complete seed was written.
    for name in good {
        let png = out.path().join(name.replace(".img", ".png"));
        assert!(png.is_file(), "{} missing; stderr: {stderr}", png.display());
    }
}
