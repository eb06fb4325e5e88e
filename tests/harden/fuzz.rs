//! Property-based fuzzing of decode → quantize → encode (to memory): arbitrary bytes behind
//! each format's magic number, and structure-aware mutations (bit flips, byte and word
//! overwrites with boundary values, insertions, deletions, duplications, truncations; PNG chunk
//! CRCs recomputed in half the cases so the mutation gets past the checksum) of small valid
//! PNG, JPEG, GIF, WebP, BMP and TIFF files. Every input must give a clean error or a
//! correct indexed PNG; a panic fails the test.
//!
//! `cargo test` runs a few hundred cases (a few seconds). For a long run:
//!
//! ```sh
//! KQUANT_FUZZ_CASES=200000 RAYON_NUM_THREADS=1 cargo test --release --test main harden::fuzz -- --test-threads 1
//! ```
//!
//! With `KQUANT_FUZZ_SAVE=DIR` each input is written to `DIR/last-<test>` before it runs, so
//! one that aborts or hangs the process is not lost. Crashing inputs, once fixed, go to
//! `tests/data/fuzz/` and are replayed by [`regressions`].

use std::path::Path;
use std::sync::OnceLock;

use image::GenericImageView as _;
use kquant::decode::{DecodeOptions, decode_bytes, decode_pixels, decode_pixels_banded};
use kquant::palette_png::{self, Effort};
use kquant::quant::{Control, Params, Pixels, quantize};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

use super::inputs;

/// Pixel budget for fuzzing: small enough that a mutated header claiming a big image stays
/// fast, big enough for every seed.
const MAX_PIXELS: u64 = 1 << 20;

fn config(default_cases: u32) -> Config {
    let cases = std::env::var("KQUANT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        // Crashes are committed by hand as files in tests/data/fuzz/, not as seeds in source.
        failure_persistence: None,
        ..Config::default()
    }
}

fn seeds() -> &'static [(&'static str, Vec<u8>)] {
    static SEEDS: OnceLock<Vec<(&'static str, Vec<u8>)>> = OnceLock::new();
    SEEDS.get_or_init(inputs::seeds)
}

fn save_for_post_mortem(test: &str, bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("KQUANT_FUZZ_SAVE") {
        let _ = std::fs::write(Path::new(&dir).join(format!("last-{test}")), bytes);
    }
}

/// The batch pipeline on `bytes`, checking every invariant on the way.
pub fn pipeline(bytes: &[u8], k: u16, small: bool) {
    let opts = DecodeOptions {
        max_pixels: MAX_PIXELS,
    };
    let img = match decode_bytes(bytes, &opts) {
        Ok(img) => img,
        Err(e) => {
            // The message (and its sources) must be printable.
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(&s.to_string());
                source = s.source();
            }
            assert!(!msg.is_empty());
            return;
        }
    };
    let (w, h) = img.dimensions();
    assert!(w > 0 && h > 0);
    assert!(u64::from(w) * u64::from(h) <= MAX_PIXELS, "{w}x{h}");
    let pixels = Pixels::from_dynamic_owned(img);
    assert_eq!(pixels.rgb.len(), w as usize * h as usize);
    let q = quantize(&pixels, &Params::new(k), &Control::none()).unwrap();
    assert!(q.palette.len() <= usize::from(k) && !q.palette.is_empty());
    let effort = if small { Effort::Small } else { Effort::Fast };
    let png = palette_png::encode_with(&q, pixels.alpha.as_deref(), effort).unwrap();
    let back = decode_bytes(&png, &opts).unwrap();
    assert_eq!(back.dimensions(), (w, h));
}

/// A PNG read band by band (`decode_pixels_banded`, from a file) must give what the whole-image
/// decode gives: the same pixels, or the same error.
fn banded_agrees(bytes: &[u8]) {
    let opts = DecodeOptions {
        max_pixels: MAX_PIXELS,
    };
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    let bands = std::sync::Mutex::new(0usize);
    let banded = decode_pixels_banded(file.path(), &opts, &|b| *bands.lock().unwrap() += b.len());
    match (banded, decode_pixels(file.path(), &opts)) {
        (Ok(got), Ok(want)) => {
            assert_eq!(*bands.lock().unwrap(), want.rgb.len());
            assert!(got == want, "banded pixels differ");
        }
        (Err(got), Err(want)) => assert_eq!(got.to_string(), want.to_string()),
        (got, want) => panic!("banded {:?} vs whole {:?}", got.err(), want.err()),
    }
}

/// One edit of a file.
#[derive(Clone, Debug)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    /// Overwrite 2 or 4 bytes (big- or little-endian) with a boundary value: sizes, lengths
    /// and offsets live in such fields.
    SetWord(Index, u32, bool, bool),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    Duplicate(Index, usize),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let word = prop_oneof![
        Just(0u32),
        Just(1),
        Just(0x7f),
        Just(0xff),
        Just(0x100),
        Just(0x7fff),
        Just(0xffff),
        Just(0x1_0000),
        Just(0x7fff_ffff),
        Just(0x8000_0000),
        Just(0xffff_ffff),
        any::<u32>(),
    ];
    prop_oneof![
        4 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        3 => (any::<Index>(), word, any::<bool>(), any::<bool>())
            .prop_map(|(i, w, wide, be)| Mutation::SetWord(i, w, wide, be)),
        1 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..32))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        1 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let len = bytes.len();
    match m {
        Mutation::FlipBit(i, bit) => bytes[i.index(len)] ^= 1 << bit,
        Mutation::SetByte(i, b) => bytes[i.index(len)] = *b,
        Mutation::SetWord(i, w, wide, be) => {
            let raw: Vec<u8> = match (wide, be) {
                (true, true) => w.to_be_bytes().to_vec(),
                (true, false) => w.to_le_bytes().to_vec(),
                (false, true) => (*w as u16).to_be_bytes().to_vec(),
                (false, false) => (*w as u16).to_le_bytes().to_vec(),
            };
            let at = i.index(len);
            for (k, b) in raw.into_iter().enumerate() {
                if at + k < len {
                    bytes[at + k] = b;
                }
            }
        }
        Mutation::Insert(i, v) => {
            let at = i.index(len + 1);
            bytes.splice(at..at, v.iter().copied());
        }
        Mutation::Remove(i, n) => {
            let at = i.index(len);
            bytes.drain(at..(at + n).min(len));
        }
        Mutation::Duplicate(i, n) => {
            let at = i.index(len);
            let part: Vec<u8> = bytes[at..(at + n).min(len)].to_vec();
            bytes.splice(at..at, part);
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(len)),
    }
}

/// Rewrites every PNG chunk CRC (where the chunk is complete), so that a mutation reaches the
/// chunk parsers and the inflater instead of stopping at the checksum.
fn fix_png_crcs(bytes: &mut [u8]) {
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return;
    }
    let mut pos = 8;
    while pos + 12 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let Some(end) = (pos + 8).checked_add(len).filter(|&e| e + 4 <= bytes.len()) else {
            return;
        };
        let crc = crc32fast::hash(&bytes[pos + 4..end]);
        bytes[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        pos = end + 4;
    }
}

/// Magic numbers that route random bytes into each decoder.
const MAGICS: &[&[u8]] = &[
    b"\x89PNG\r\n\x1a\n",
    b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR",
    b"\xff\xd8\xff",
    b"\xff\xd8\xff\xdb",
    b"GIF89a",
    b"GIF87a",
    b"RIFF\0\0\0\0WEBPVP8 ",
    b"RIFF\0\0\0\0WEBPVP8L",
    b"RIFF\0\0\0\0WEBPVP8X",
    b"BM",
    b"II*\0",
    b"MM\0*",
];

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn arbitrary_bytes_behind_a_magic_number(
        magic in 0..MAGICS.len(),
        tail in proptest::collection::vec(any::<u8>(), 0..600),
        k in 1u16..=256,
    ) {
        let mut bytes = MAGICS[magic].to_vec();
        bytes.extend_from_slice(&tail);
        save_for_post_mortem("arbitrary", &bytes);
        pipeline(&bytes, k, false);
    }
}

proptest! {
    #![proptest_config(config(160))]

    #[test]
    fn mutated_valid_files(
        seed in any::<Index>(),
        mutations in proptest::collection::vec(mutation(), 1..6),
        k in prop_oneof![Just(1u16), Just(2), Just(16), Just(255), Just(256), 1u16..=256],
        small in any::<bool>(),
        fix_crcs in any::<bool>(),
    ) {
        let (_, original) = &seeds()[seed.index(seeds().len())];
        let mut bytes = original.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        if fix_crcs {
            fix_png_crcs(&mut bytes);
        }
        save_for_post_mortem("mutated", &bytes);
        pipeline(&bytes, k, small);
        if bytes.starts_with(b"\x89PNG") {
            banded_agrees(&bytes);
        }
    }
}

#[test]
fn every_seed_goes_through_unchanged() {
    for (name, bytes) in seeds() {
        let img = decode_bytes(bytes, &DecodeOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(img.width() > 0, "{name}");
        pipeline(bytes, 16, true);
    }
}

/// Inputs that once crashed the pipeline.
#[test]
fn regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bin") {
            let bytes = std::fs::read(&path).unwrap();
            for k in [1, 2, 16, 256] {
                pipeline(&bytes, k, k == 16);
            }
            n += 1;
        }
    }
    eprintln!("{n} fuzz regression inputs replayed");
}
