//! Shared helpers: corpus location, synthetic images, PNG inspection.

use std::path::{Path, PathBuf};

/// `../shared/corpus` next to the crate, or `None` (after printing why) when it is absent,
/// so that `cargo test` passes on a clone without it.
pub fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: ../shared/corpus not found");
        None
    }
}

/// Returns the corpus folder or returns from the test.
macro_rules! corpus_or_skip {
    () => {
        match $crate::util::corpus() {
            Some(dir) => dir,
            None => return,
        }
    };
}
pub(crate) use corpus_or_skip;

/// A w×h RGB image with many distinct colours (smooth gradients plus a hash pattern).
pub fn rich_rgb(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let n = x
            .wrapping_mul(2_654_435_761)
            .wrapping_add(y.wrapping_mul(40_503))
            >> 24;
        image::Rgb([
            (x * 255 / w.max(1)) as u8,
            (y * 255 / h.max(1)) as u8,
            n as u8,
        ])
    })
}

/// What an indexed PNG says about itself.
#[derive(Debug)]
pub struct PngInfo {
    pub color_type: png::ColorType,
    pub bit_depth: png::BitDepth,
    pub width: u32,
    pub height: u32,
    pub palette: Vec<[u8; 3]>,
    pub trns: Option<Vec<u8>>,
    /// Pixels expanded to RGBA by the png crate (a second, independent decoder path).
    pub rgba: Vec<[u8; 4]>,
}

pub fn read_png(bytes: &[u8]) -> PngInfo {
    let raw = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let info = raw.info();
    let palette = info
        .palette
        .as_ref()
        .map(|p| p.chunks(3).map(|c| [c[0], c[1], c[2]]).collect())
        .unwrap_or_default();
    let (color_type, bit_depth, width, height) =
        (info.color_type, info.bit_depth, info.width, info.height);
    let trns = info.trns.as_ref().map(|t| t.to_vec());

    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buf).unwrap();
    assert_eq!(frame.color_type, png::ColorType::Rgba);
    assert_eq!(frame.bit_depth, png::BitDepth::Eight);
    let rgba = buf[..frame.buffer_size()]
        .chunks(4)
        .map(|c| [c[0], c[1], c[2], c[3]])
        .collect();
    PngInfo {
        color_type,
        bit_depth,
        width,
        height,
        palette,
        trns,
        rgba,
    }
}

pub fn expected_depth(entries: usize) -> png::BitDepth {
    match entries {
        0..=2 => png::BitDepth::One,
        3..=4 => png::BitDepth::Two,
        5..=16 => png::BitDepth::Four,
        _ => png::BitDepth::Eight,
    }
}
