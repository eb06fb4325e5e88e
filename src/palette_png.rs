//! Indexed PNG encoding to bytes, and saving those bytes atomically without touching an input.
//!
//! [`encode`] turns a [`Quantized`] image (plus optional alpha) into a palette PNG with the
//! smallest bit depth that fits (1, 2, 4 or 8 bits a pixel), a `PLTE` chunk and, when alpha
//! matters, a `tRNS` chunk. [`save_atomic`] writes a temp file in the destination folder,
//! fsyncs it and renames it into place, refusing any destination that is one of the inputs.
//! This module does not decide output paths; `batch` does.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::quant::Quantized;

/// Why an image could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The quantized image has no palette entries.
    #[error("empty palette")]
    EmptyPalette,
    /// `indices` or `alpha` does not hold one value per pixel.
    #[error("pixel data has {got} values, expected {expected} ({width}x{height})")]
    Length {
        /// Values present.
        got: usize,
        /// width × height.
        expected: usize,
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
    },
    /// Colour × alpha pairs do not fit a 256-entry palette even with two alpha levels.
    #[error("{0} colour/alpha combinations do not fit a 256-entry palette; use k <= 255")]
    TooManyEntries(usize),
    /// The png crate refused the data.
    #[error("PNG encoding failed")]
    Png(#[from] png::EncodingError),
}

/// Why encoded bytes were not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The destination is (or resolves to) one of the inputs.
    #[error("refusing to overwrite input file {}", crate::text::sanitize_path(.0))]
    WouldOverwriteInput(PathBuf),
    /// The destination has no file name (ends in `..` or `/`).
    #[error("output path has no file name")]
    NoFileName,
    /// The destination folder could not be created (say, `-o` names a file).
    #[error("cannot create output folder {}", crate::text::sanitize_path(.dir))]
    CreateDir {
        /// The folder.
        dir: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Creating the folder, writing, syncing or renaming failed.
    #[error("cannot write output")]
    Io(#[from] io::Error),
}

/// Smallest PNG bit depth whose index range holds `entries` palette entries.
pub fn bit_depth_for(entries: usize) -> png::BitDepth {
    match entries {
        0..=2 => png::BitDepth::One,
        3..=4 => png::BitDepth::Two,
        5..=16 => png::BitDepth::Four,
        _ => png::BitDepth::Eight,
    }
}

/// How hard to compress. Measured on Dragonfly_by_Bolly.jpg (13.4 MP, release build, 2 cores;
/// `Small` deflates on both, the others on one):
///
/// | k   | `Fast` (fdeflate, adaptive filter) | `Small` (zlib level 6, no filter) | png `Balanced` |
/// | --- | --- | --- | --- |
/// | 16  | 1.25 MB in 15 ms | 1.00 MB in 68 ms | 1.04 MB in 0.25–0.39 s |
/// | 256 | 4.61 MB in 43 ms | 3.58 MB in 143 ms | 4.06 MB in 0.87–1.36 s |
///
/// Palette rows compress better unfiltered once zlib does real matching, so `Small` beats
/// png's `Balanced` (which filters adaptively) on both size and time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Effort {
    /// For live size estimates (the TUI): ~10× faster, files ~20–30% larger.
    #[default]
    Fast,
    /// For files that are kept (`kquant compress`).
    Small,
}

impl Effort {
    /// The zlib level when kquant deflates the image itself, in parallel.
    fn zlib_level(self) -> Option<u32> {
        match self {
            Effort::Fast => None,
            Effort::Small => Some(SMALL_ZLIB_LEVEL),
        }
    }

    fn settings(self) -> (png::DeflateCompression, png::Filter) {
        match self {
            Effort::Fast => (
                png::DeflateCompression::FdeflateUltraFast,
                png::Filter::Adaptive,
            ),
            Effort::Small => (png::DeflateCompression::Level(6), png::Filter::NoFilter),
        }
    }
}

/// Encodes `q` as an indexed PNG, with `alpha` (one byte a pixel) written through `tRNS`,
/// quickly ([`Effort::Fast`]; use [`encode_with`] and [`Effort::Small`] for kept files).
///
/// Without alpha the palette is exactly `q.palette`. With alpha, each palette entry is a
/// (colour, alpha level) pair that actually occurs: alpha is quantised to the finest step (1,
/// 2, 4, … 128, then just 0/255) for which the used pairs fit in 256 entries, and every fully
/// transparent pixel shares one entry. So with alpha the palette may hold more than k entries
/// (k colours × alpha levels, at most 256). Translucent entries come first so `tRNS` stays
/// short.
pub fn encode(q: &Quantized, alpha: Option<&[u8]>) -> Result<Vec<u8>, EncodeError> {
    encode_with(q, alpha, Effort::Fast)
}

/// [`encode`] with an explicit compression [`Effort`].
pub fn encode_with(
    q: &Quantized,
    alpha: Option<&[u8]>,
    effort: Effort,
) -> Result<Vec<u8>, EncodeError> {
    let (deflate, filter) = effort.settings();
    let expected = q.width as usize * q.height as usize;
    let length_error = |got| EncodeError::Length {
        got,
        expected,
        width: q.width,
        height: q.height,
    };
    if q.indices.len() != expected {
        return Err(length_error(q.indices.len()));
    }
    if q.palette.is_empty() {
        return Err(EncodeError::EmptyPalette);
    }
    let (palette, trns, indices) = match alpha {
        None => (q.palette.clone(), Vec::new(), None),
        Some(a) if a.len() != expected => return Err(length_error(a.len())),
        Some(a) => {
            let (palette, trns, idx) = with_alpha(q, a)?;
            (palette, trns, Some(idx))
        }
    };
    let indices = indices.as_deref().unwrap_or(&q.indices);
    let depth = bit_depth_for(palette.len());

    if let Some(level) = effort.zlib_level() {
        return Ok(write_png(
            q.width, q.height, depth, &palette, &trns, indices, level,
        ));
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, q.width, q.height);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(depth);
    enc.set_deflate_compression(deflate);
    enc.set_filter(filter);
    enc.set_palette(palette.iter().flatten().copied().collect::<Vec<u8>>());
    if !trns.is_empty() {
        enc.set_trns(trns);
    }
    let mut writer = enc.write_header()?;
    writer.write_image_data(&pack_rows(indices, q.width as usize, depth))?;
    writer.finish()?;
    Ok(out)
}

/// Packs one index a byte into rows of `depth` bits a pixel, most significant bits first,
/// each row padded to a whole byte as PNG requires. 8-bit rows are the indices themselves.
fn pack_rows(indices: &[u8], width: usize, depth: png::BitDepth) -> Cow<'_, [u8]> {
    let bits = depth as usize;
    if bits == 8 {
        return Cow::Borrowed(indices);
    }
    let width = width.max(1);
    let row_bytes = width.div_ceil(8 / bits);
    let mut out = vec![0u8; row_bytes * (indices.len() / width)];
    out.par_chunks_mut(row_bytes)
        .zip(indices.par_chunks(width))
        .with_min_len(64)
        .for_each(|(out, row)| pack_row(row, out, bits));
    Cow::Owned(out)
}

/// Packs one row of indices at `bits` (1, 2, 4 or 8) bits each into `out`.
fn pack_row(row: &[u8], out: &mut [u8], bits: usize) {
    match bits {
        1 => pack_row_at::<8>(row, out),
        2 => pack_row_at::<4>(row, out),
        4 => pack_row_at::<2>(row, out),
        _ => out.copy_from_slice(row),
    }
}

/// [`pack_row`] for `PER` indices a byte; a constant, so the inner loop unrolls.
fn pack_row_at<const PER: usize>(row: &[u8], out: &mut [u8]) {
    let bits = 8 / PER;
    let pack = |group: &[u8]| {
        let byte = group.iter().fold(0u8, |b, &ix| (b << bits) | ix);
        // A short last group is padded on the right.
        byte << (bits * (PER - group.len()))
    };
    let groups = row.chunks_exact(PER);
    let tail = groups.remainder();
    for (o, group) in out.iter_mut().zip(groups) {
        *o = pack(group);
    }
    if let Some(last) = out.last_mut().filter(|_| !tail.is_empty()) {
        *last = pack(tail);
    }
}

/// Builds the (colour, alpha) palette: returns RGB entries, tRNS alphas, per-pixel indices.
#[allow(clippy::type_complexity)]
fn with_alpha(
    q: &Quantized,
    alpha: &[u8],
) -> Result<(Vec<[u8; 3]>, Vec<u8>, Vec<u8>), EncodeError> {
    // Key: colour index << 8 | alpha level; fully transparent pixels all map to TRANSPARENT.
    const TRANSPARENT: u32 = u32::MAX;
    let key = |ix: u8, a: u8, step: u32| -> u32 {
        let level = quantise_alpha(a, step);
        if level == 0 {
            TRANSPARENT
        } else {
            u32::from(ix) << 8 | u32::from(level)
        }
    };
    let mut used = 0;
    for step in [1u32, 2, 4, 8, 16, 32, 64, 128, 255] {
        let mut seen = vec![false; 256 * 256 + 1];
        used = 0;
        for (&ix, &a) in q.indices.iter().zip(alpha) {
            let k = key(ix, a, step);
            let slot = if k == TRANSPARENT {
                256 * 256
            } else {
                k as usize
            };
            if !seen[slot] {
                seen[slot] = true;
                used += 1;
            }
        }
        if used > 256 {
            continue;
        }
        // Translucent entries first (sorted by key for determinism), then opaque ones.
        let mut keys: Vec<u32> = (0..seen.len())
            .filter(|&s| seen[s])
            .map(|s| {
                if s == 256 * 256 {
                    TRANSPARENT
                } else {
                    s as u32
                }
            })
            .collect();
        keys.sort_by_key(|&k| (k != TRANSPARENT && k & 0xff == 255, k));
        let mut palette = Vec::with_capacity(keys.len());
        let mut trns = Vec::new();
        let mut slot_of = HashMap::with_capacity(keys.len());
        for (slot, &k) in keys.iter().enumerate() {
            let (rgb, a) = if k == TRANSPARENT {
                ([0, 0, 0], 0)
            } else {
                (q.palette[(k >> 8) as usize], (k & 0xff) as u8)
            };
            palette.push(rgb);
            if a != 255 {
                trns.push(a);
            }
            // slot < 256 because used <= 256.
            slot_of.insert(k, u8::try_from(slot).unwrap_or(u8::MAX));
        }
        let indices = q
            .indices
            .iter()
            .zip(alpha)
            .map(|(&ix, &a)| slot_of.get(&key(ix, a, step)).copied().unwrap_or(0))
            .collect();
        return Ok((palette, trns, indices));
    }
    Err(EncodeError::TooManyEntries(used))
}

/// Rounds `a` to the nearest multiple of `step`, clamped to 255; 255 stays 255.
fn quantise_alpha(a: u8, step: u32) -> u8 {
    if a == 255 {
        return 255;
    }
    let a = u32::from(a);
    let level = (a + step / 2) / step * step;
    u8::try_from(level.min(255)).unwrap_or(255)
}

/// Prefix and suffix of the temp files [`save_atomic`] writes next to their destination.
pub const TEMP_PREFIX: &str = ".kquant-";
/// See [`TEMP_PREFIX`].
pub const TEMP_SUFFIX: &str = ".tmp";

/// True for a name [`save_atomic`] uses for its temp files (`.kquant-XXXXXX.tmp`): a file
/// left behind by a killed process, never an output or an input.
pub fn is_temp_file_name(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|n| n.starts_with(TEMP_PREFIX) && n.ends_with(TEMP_SUFFIX))
}

/// Writes `bytes` to `dest` atomically, refusing to replace any of `protected_inputs`.
///
/// The parent folder is created if needed. `dest` is resolved (canonical parent + file name,
/// and the file itself if it exists) and compared with each canonical input, and by
/// device/inode where the platform has them, so `./a.png`, `dir/../a.png` and hard links are
/// all caught. The bytes go to a temp file in the same folder, are fsynced, then renamed over
/// `dest`; on any error the temp file is removed.
pub fn save_atomic(bytes: &[u8], dest: &Path, protected_inputs: &[&Path]) -> Result<(), SaveError> {
    let name = dest.file_name().ok_or(SaveError::NoFileName)?;
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).map_err(|source| SaveError::CreateDir {
        dir: parent.to_path_buf(),
        source,
    })?;
    let resolved = parent.canonicalize()?.join(name);
    let existing = fs::metadata(&resolved).ok();
    let existing_canon = resolved.canonicalize().ok();
    for input in protected_inputs {
        let Ok(input_canon) = input.canonicalize() else {
            continue;
        };
        let same_path = input_canon == resolved || existing_canon.as_ref() == Some(&input_canon);
        let same_file = match (&existing, fs::metadata(&input_canon)) {
            (Some(a), Ok(b)) => same_inode(a, &b),
            _ => false,
        };
        if same_path || same_file {
            return Err(SaveError::WouldOverwriteInput(input.to_path_buf()));
        }
    }
    let dir = resolved.parent().unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
    // Temp files are private (0600) by default; the output is an ordinary file, so ask for
    // 0666 and let the umask decide, as any other program's output would.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(&resolved).map_err(|e| SaveError::Io(e.error))?;
    Ok(())
}

#[cfg(unix)]
fn same_inode(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_inode(_: &fs::Metadata, _: &fs::Metadata) -> bool {
    false
}

/// zlib level for [`Effort::Small`]; see `write_png`.
const SMALL_ZLIB_LEVEL: u32 = 6;
/// Input bytes per independently deflated slice.
const DEFLATE_SLICE: usize = 1 << 18;
/// Largest IDAT chunk written.
const IDAT_MAX: usize = 1 << 20;

/// Writes a complete indexed PNG of `indices`, rows unfiltered. The png crate deflates on
/// one thread; here the image data is cut into 256 KiB slices deflated in parallel and
/// joined pigz-style (each slice but the last ends with a sync flush, so the raw deflate
/// streams concatenate into one valid stream; the Adler-32 covers the whole). Each slice
/// starts without a dictionary, which costs well under 1% in size.
fn write_png(
    width: u32,
    height: u32,
    depth: png::BitDepth,
    palette: &[[u8; 3]],
    trns: &[u8],
    indices: &[u8],
    level: u32,
) -> Vec<u8> {
    let width_px = (width as usize).max(1);
    let row_bytes = width_px.div_ceil(8 / depth as usize);
    // Each row: filter type None (palette indices do not predict from their neighbours),
    // then the packed row.
    let mut raw = vec![0u8; (row_bytes + 1) * height as usize];
    raw.par_chunks_mut(row_bytes + 1)
        .zip(indices.par_chunks(width_px))
        .with_min_len(64)
        .for_each(|(out, row)| pack_row(row, &mut out[1..], depth as usize));
    let zlib = zlib_parallel(&raw, level);

    let mut out = Vec::with_capacity(zlib.len() + 1024);
    out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[depth as u8, 3, 0, 0, 0]); // indexed, deflate, no filter/interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"PLTE",
        &palette.iter().flatten().copied().collect::<Vec<u8>>(),
    );
    if !trns.is_empty() {
        chunk(&mut out, b"tRNS", trns);
    }
    for part in zlib.chunks(IDAT_MAX) {
        chunk(&mut out, b"IDAT", part);
    }
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    // Chunks here are at most IDAT_MAX or a 768-byte palette, far below u32::MAX.
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// A zlib stream of `data`, deflated in parallel slices.
fn zlib_parallel(data: &[u8], level: u32) -> Vec<u8> {
    let slices: Vec<&[u8]> = if data.is_empty() {
        vec![data]
    } else {
        data.chunks(DEFLATE_SLICE).collect()
    };
    let last = slices.len() - 1;
    let parts: Vec<Vec<u8>> = slices
        .par_iter()
        .enumerate()
        .map(|(i, slice)| deflate_slice(slice, level, i == last))
        .collect();
    let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum::<usize>() + 6);
    out.extend_from_slice(&[0x78, 0x9c]); // zlib header: deflate, 32 KiB window, default level
    for p in &parts {
        out.extend_from_slice(p);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

/// Raw deflate of one slice; ends with a sync flush, or the final block when `last`.
fn deflate_slice(slice: &[u8], level: u32, last: bool) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    let mut c = Compress::new(Compression::new(level), false);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(slice.len() / 2 + 1024);
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(1024));
        }
        let consumed = usize::try_from(c.total_in())
            .unwrap_or(slice.len())
            .min(slice.len());
        // In-memory deflate only fails on misuse of the stream, which this loop does not do.
        let status = c
            .compress_vec(&slice[consumed..], &mut out, flush)
            .unwrap_or(Status::StreamEnd);
        let all_in = usize::try_from(c.total_in()).unwrap_or(usize::MAX) >= slice.len();
        let done = if last {
            status == Status::StreamEnd
        } else {
            all_in && out.len() < out.capacity()
        };
        if done {
            return out;
        }
    }
}

fn adler32(data: &[u8]) -> u32 {
    // Largest n such that 255·n·(n+1)/2 + (n+1)·(65520) fits in u32 (zlib's NMAX).
    const NMAX: usize = 5552;
    let (mut a, mut b) = (1u32, 0u32);
    for block in data.chunks(NMAX) {
        for &x in block {
            a += u32::from(x);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_msb_first_with_row_padding() {
        // 3 pixels a row at 2 bits: one byte per row, last 2 bits padding.
        let rows = pack_rows(&[1, 2, 3, 3, 0, 1], 3, png::BitDepth::Two);
        assert_eq!(*rows, [0b0110_1100, 0b1100_0100]);
        let rows = pack_rows(&[1, 0, 1, 1, 0, 0, 0, 1, 1], 9, png::BitDepth::One);
        assert_eq!(*rows, [0b1011_0001, 0b1000_0000]);
        let rows = pack_rows(&[1, 2, 3, 4, 5], 5, png::BitDepth::Four);
        assert_eq!(*rows, [0x12, 0x34, 0x50]);
        let rows = pack_rows(&[9, 200], 1, png::BitDepth::Eight);
        assert_eq!(*rows, [9, 200]);
    }

    #[test]
    fn bit_depths() {
        assert_eq!(bit_depth_for(1), png::BitDepth::One);
        assert_eq!(bit_depth_for(2), png::BitDepth::One);
        assert_eq!(bit_depth_for(3), png::BitDepth::Two);
        assert_eq!(bit_depth_for(16), png::BitDepth::Four);
        assert_eq!(bit_depth_for(17), png::BitDepth::Eight);
        assert_eq!(bit_depth_for(256), png::BitDepth::Eight);
    }

    #[test]
    fn alpha_levels() {
        assert_eq!(quantise_alpha(255, 128), 255);
        assert_eq!(quantise_alpha(0, 4), 0);
        assert_eq!(quantise_alpha(130, 1), 130);
        assert_eq!(quantise_alpha(130, 255), 255);
        assert_eq!(quantise_alpha(100, 255), 0);
        assert_eq!(quantise_alpha(250, 16), 255);
    }

    #[test]
    fn parallel_zlib_round_trips_across_slices() {
        use std::io::Read as _;
        // 700 KB of compressible but varied bytes: three slices.
        let data: Vec<u8> = (0..700_000u32)
            .map(|i| ((i / 7) ^ (i % 251)) as u8)
            .collect();
        let z = zlib_parallel(&data, 6);
        let mut back = Vec::new();
        flate2::read::ZlibDecoder::new(&z[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        assert!(z.len() < data.len() / 2);
        let mut empty = Vec::new();
        flate2::read::ZlibDecoder::new(&zlib_parallel(&[], 6)[..])
            .read_to_end(&mut empty)
            .unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn small_effort_png_decodes_to_the_same_indices() {
        for (k, w, h) in [
            (2u8, 1001, 700),
            (4, 333, 9),
            (16, 1000, 600),
            (200, 800, 700),
        ] {
            let indices: Vec<u8> = (0..w * h)
                .map(|i| ((i * 7 + i / w) % usize::from(k)) as u8)
                .collect();
            let q = Quantized {
                width: w as u32,
                height: h as u32,
                palette: (0..k).map(|i| [i, 255 - i, i / 2]).collect(),
                counts: vec![1; usize::from(k)],
                indices: indices.clone(),
                mse: 0.0,
                psnr: f64::INFINITY,
                iterations: 0,
            };
            let bytes = encode_with(&q, None, Effort::Small).unwrap();
            let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
            dec.set_transformations(png::Transformations::IDENTITY);
            let mut reader = dec.read_info().unwrap();
            assert_eq!(reader.info().bit_depth, bit_depth_for(usize::from(k)));
            let mut buf = vec![0; reader.output_buffer_size().unwrap()];
            let frame = reader.next_frame(&mut buf).unwrap();
            let bits = frame.bit_depth as usize;
            let row = frame.line_size;
            let got: Vec<u8> = (0..h)
                .flat_map(|y| {
                    let line = &buf[y * row..(y + 1) * row];
                    (0..w).map(move |x| {
                        let bit = x * bits;
                        (line[bit / 8] >> (8 - bits - bit % 8)) & ((1u16 << bits) - 1) as u8
                    })
                })
                .collect();
            assert_eq!(got, indices, "k={k} {w}x{h}");
        }
    }
}
