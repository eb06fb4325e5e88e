//! Indexed PNG encoding to bytes, and saving those bytes atomically without touching an input.
//!
//! [`encode`] turns a [`Quantized`] image (plus optional alpha) into a palette PNG with the
//! smallest bit depth that fits (1, 2, 4 or 8 bits a pixel), a `PLTE` chunk and, when alpha
//! matters, a `tRNS` chunk. [`save_atomic`] writes a temp file in the destination folder,
//! fsyncs it and renames it into place, refusing any destination that is one of the inputs.
//! This module does not decide output paths; `batch` does.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use flate2::{Compress, Compression, FlushCompress, Status};
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
    /// A folder between the output root and the destination is, or leads through a symbolic
    /// link to, a place outside the root.
    #[error(
        "output folder {} leads outside {}; not written there",
        crate::text::sanitize_path(.dir),
        crate::text::sanitize_path(.root)
    )]
    OutsideRoot {
        /// The folder that leads out.
        dir: PathBuf,
        /// The output root.
        root: PathBuf,
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

/// How hard to compress: the zlib level of the image data, which kquant deflates in
/// parallel slices (see `zlib_parallel`). Rows are never filtered: palette indices do not
/// predict from their neighbours, so filtering only costs time. Measured on
/// Dragonfly_by_Bolly.jpg (13.4 MP, release build, 2 cores, deflate alone):
///
/// | k   | `Fast` (level 2) | `Small` (level 5) | level 6 | png crate, fdeflate (one core) |
/// | --- | --- | --- | --- | --- |
/// | 16  | 1.23 MB in 13 ms | 1.02 MB in 35 ms | 0.99 MB in 50 ms | 1.25 MB in 15 ms |
/// | 64  | 2.66 MB in 29 ms | 2.14 MB in 64 ms | 2.04 MB in 118 ms | 2.59 MB |
/// | 256 | 4.19 MB in 42 ms | 3.59 MB in 81 ms | 3.53 MB in 123 ms | 4.61 MB in 43 ms |
///
/// Level 5 is the knee: level 6 searches four times longer hash chains for files 0.3–5.7%
/// smaller (six corpus photos at k = 64 and 256).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Effort {
    /// For `kquant compress --fast`: ~2× faster to write, files 17–24% larger.
    #[default]
    Fast,
    /// For files that are kept (`kquant compress`, saving from the TUI, its size estimate).
    Small,
}

impl Effort {
    fn zlib_level(self) -> u32 {
        match self {
            Effort::Fast => 2,
            Effort::Small => 5,
        }
    }
}

/// Encodes `q` as an indexed PNG, with `alpha` (one byte a pixel) written through `tRNS`,
/// quickly ([`Effort::Fast`]; use [`encode_with`] and [`Effort::Small`] for smaller files).
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

    Ok(write_png(
        q.width,
        q.height,
        depth,
        &palette,
        &trns,
        indices,
        effort.zlib_level(),
    ))
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

/// The longest file name, in bytes, that the common filesystems take (NAME_MAX on Linux,
/// macOS and the BSDs).
const NAME_MAX: usize = 255;

/// The output file name for an input named `input`: its stem, then its `.ext` when
/// `keep_extension` (which tells `a.jpg` and `a.png` apart), then `suffix`. Only the stem is
/// cut short (at a character boundary when it is UTF-8) so that the whole fits in `NAME_MAX`
/// bytes: a photo whose name is already near the limit still gets an output instead of "File
/// name too long", and two long names differing in their extension stay apart. A shortened
/// name that meets another output is refused like any collision.
pub fn output_file_name(
    input: &std::ffi::OsStr,
    keep_extension: bool,
    suffix: &str,
) -> std::ffi::OsString {
    let path = Path::new(input);
    let stem = path.file_stem().unwrap_or(input);
    let mut tail = std::ffi::OsString::new();
    if let Some(ext) = path.extension().filter(|_| keep_extension) {
        tail.push(".");
        tail.push(ext);
    }
    tail.push(suffix);
    let room = NAME_MAX.saturating_sub(tail.len());
    let mut name = if stem.len() <= room {
        stem.to_os_string()
    } else {
        shorten(stem, room)
    };
    name.push(tail);
    name
}

/// The first `room` bytes of `name`, or fewer to end on a character boundary.
#[cfg(unix)]
fn shorten(name: &std::ffi::OsStr, room: usize) -> std::ffi::OsString {
    use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
    let bytes = name.as_bytes();
    let mut end = room.min(bytes.len());
    if let Ok(text) = std::str::from_utf8(bytes) {
        while !text.is_char_boundary(end) {
            end -= 1;
        }
    }
    std::ffi::OsString::from_vec(bytes[..end].to_vec())
}

#[cfg(not(unix))]
fn shorten(name: &std::ffi::OsStr, room: usize) -> std::ffi::OsString {
    let text = name.to_string_lossy();
    let mut end = room.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::ffi::OsString::from(&text[..end])
}

/// Writes `bytes` to `dest` atomically, inside the output folder `root`, refusing to replace
/// any of `protected_inputs`.
///
/// `root` and the folders between it and `dest` are created if needed; one that is, or leads
/// through a symbolic link to, a place outside `root` is refused ([`SaveError::OutsideRoot`]),
/// so nothing is ever written outside the folder the user chose. `dest` is resolved (canonical
/// folder + file name, and the file itself if it exists) and compared with each canonical
/// input, and by device/inode where the platform has them, so `./a.png`, `dir/../a.png` and
/// hard links are all caught. The bytes go to a temp file in the same folder, are fsynced,
/// then renamed over `dest`; on any error the temp file is removed.
pub fn save_atomic(
    bytes: &[u8],
    root: &Path,
    dest: &Path,
    protected_inputs: &[&Path],
) -> Result<(), SaveError> {
    let name = dest.file_name().ok_or(SaveError::NoFileName)?;
    let resolved = folder_within(root, dest)?.join(name);
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

/// The canonical folder `dest` goes in, made folder by folder below `root` (which is created
/// too). A folder that exists is checked before anything is made in it: `create_dir_all` would
/// follow a link out of `root` and create folders at its target.
fn folder_within(root: &Path, dest: &Path) -> Result<PathBuf, SaveError> {
    let root_dir = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    fs::create_dir_all(root_dir).map_err(|source| SaveError::CreateDir {
        dir: root.to_path_buf(),
        source,
    })?;
    let root_canon = root_dir.canonicalize()?;
    let outside = |dir: &Path| SaveError::OutsideRoot {
        dir: dir.to_path_buf(),
        root: root.to_path_buf(),
    };
    let folders = dest
        .parent()
        .and_then(|p| p.strip_prefix(root).ok())
        .ok_or_else(|| outside(dest))?;
    let mut at = root_canon.clone();
    let mut shown = root.to_path_buf();
    for part in folders.components() {
        use std::path::Component;
        shown.push(part);
        let next = at.join(part);
        let plain = match part {
            Component::Normal(_) => true,
            // `..` is fine while it stays below the root: checked below.
            Component::CurDir | Component::ParentDir => false,
            Component::RootDir | Component::Prefix(_) => return Err(outside(&shown)),
        };
        if plain && fs::symlink_metadata(&next).is_err() {
            // Made here, or by another writer meanwhile: checked below either way.
            if let Err(source) = fs::create_dir(&next)
                && source.kind() != io::ErrorKind::AlreadyExists
            {
                return Err(SaveError::CreateDir { dir: shown, source });
            }
        }
        // A plain folder is itself; a link is followed, and must stay below the root.
        at = next.canonicalize()?;
        if !at.starts_with(&root_canon) {
            return Err(outside(&shown));
        }
        if !at.is_dir() {
            return Err(SaveError::CreateDir {
                dir: shown,
                source: io::Error::new(io::ErrorKind::NotADirectory, "not a folder"),
            });
        }
    }
    Ok(at)
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

/// Bytes of image data per slice deflated on its own (whole rows, at least one).
const DEFLATE_SLICE: usize = 1 << 18;
/// Smaller images are still cut into up to [`MIN_SLICES`] slices of at least this many bytes,
/// so the cores share them too: a 0.27 MP photo at k = 16 is 137 KB of image data, one
/// slice of 256 KiB.
const MIN_SLICE: usize = 1 << 15;
const MIN_SLICES: usize = 4;
/// Deflate's window: each slice is primed with this much of the data before it.
const WINDOW: usize = 1 << 15;

/// Writes a complete indexed PNG of `indices`, rows unfiltered, deflated at zlib `level`.
fn write_png(
    width: u32,
    height: u32,
    depth: png::BitDepth,
    palette: &[[u8; 3]],
    trns: &[u8],
    indices: &[u8],
    level: u32,
) -> Vec<u8> {
    let rows = Rows::new(indices, (width as usize).max(1), depth as usize);
    let zlib = zlib_parallel(&rows, level);

    let mut out = Vec::with_capacity(zlib.iter().map(|p| p.len() + 12).sum::<usize>() + 1024);
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
    // One IDAT per deflated slice: a few hundred KiB at most, never copied into one stream.
    for part in &zlib {
        chunk(&mut out, b"IDAT", part);
    }
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    // Chunks here are at most a deflated slice or a 768-byte palette, far below u32::MAX.
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// A PNG's image data before deflating, made a range of rows at a time where it is deflated:
/// each row is its filter type (None: palette indices do not predict from their neighbours)
/// then the row's indices packed at the bit depth. Never built whole: that is 13 MB of fresh
/// pages for a 13 MP photo.
struct Rows<'a> {
    indices: &'a [u8],
    width: usize,
    bits: usize,
    /// Bytes of one row: the filter type and the packed indices.
    stride: usize,
}

impl<'a> Rows<'a> {
    fn new(indices: &'a [u8], width: usize, bits: usize) -> Rows<'a> {
        Rows {
            indices,
            width,
            bits,
            stride: 1 + width.div_ceil(8 / bits),
        }
    }

    fn count(&self) -> usize {
        self.indices.len() / self.width
    }

    /// Rows `from..to` into `out`, which is cleared first.
    fn write(&self, from: usize, to: usize, out: &mut Vec<u8>) {
        out.clear();
        out.resize((to - from) * self.stride, 0);
        let rows = self.indices[from * self.width..to * self.width].chunks_exact(self.width);
        for (row, dst) in rows.zip(out.chunks_exact_mut(self.stride)) {
            pack_row(row, &mut dst[1..], self.bits);
        }
    }
}

/// A zlib stream of `rows` at `level`, in parts that join into it, deflated in parallel the
/// way pigz does it. The png crate deflates on one thread; here the rows are cut into slices
/// of at most 256 KiB, each made and deflated on its own with the 32 KiB before it as its
/// dictionary (so matches still reach back across the cut, and the output is within 0.1% of
/// one serial stream), each but the last ending with a sync flush so that the raw deflate
/// streams join into one. Each slice's Adler-32 is computed beside it and the parts combined.
fn zlib_parallel(rows: &Rows<'_>, level: u32) -> Vec<Vec<u8>> {
    let count = rows.count();
    let per_slice =
        crate::split::rows_per_part(count, rows.stride, DEFLATE_SLICE, MIN_SLICE, MIN_SLICES);
    let slices = count.div_ceil(per_slice).max(1);
    let window_rows = WINDOW.div_ceil(rows.stride);
    // CMF: deflate, 32 KiB window. FLG: the level class (informative only), and check bits
    // that make the pair a multiple of 31.
    let class: u16 = match level {
        0 | 1 => 0,
        2..=5 => 1,
        6 => 2,
        _ => 3,
    };
    let header = 0x7800 | (class << 6);
    let header = (header + 31 - header % 31).to_be_bytes();
    let mut parts: Vec<(Vec<u8>, u32, usize)> = (0..slices)
        .into_par_iter()
        // A fresh deflate stream per slice, never one reset after another slice: a reset
        // stream keeps the old slice's bytes past the new input's end, and its matches near
        // the end then depend on which slice the task did before (the file's bytes changed
        // with the thread count and the scheduling).
        .map_init(Vec::new, |raw, i| {
            let start = i * per_slice;
            let end = (start + per_slice).min(count);
            let from = start.saturating_sub(window_rows);
            rows.write(from, end, raw);
            let cut = (start - from) * rows.stride;
            let (dictionary, slice) = raw.split_at(cut);
            let dictionary = &dictionary[dictionary.len().saturating_sub(WINDOW)..];
            let out = if i == 0 { header.to_vec() } else { Vec::new() };
            (
                deflate_slice(level, out, slice, dictionary, i + 1 == slices),
                adler32(slice),
                slice.len(),
            )
        })
        .collect();
    let adler = parts
        .iter()
        .fold(1, |adler, &(_, sum, len)| adler32_combine(adler, sum, len));
    if let Some(last) = parts.last_mut() {
        last.0.extend_from_slice(&adler.to_be_bytes());
    }
    parts.into_iter().map(|p| p.0).collect()
}

/// Raw deflate of one slice at `level` by a fresh stream, primed with `dictionary`, appended
/// to `out`; ends with a sync flush, or the final block when `last`.
fn deflate_slice(
    level: u32,
    mut out: Vec<u8>,
    slice: &[u8],
    dictionary: &[u8],
    last: bool,
) -> Vec<u8> {
    let mut c = Compress::new(Compression::new(level), false);
    if !dictionary.is_empty() {
        // Only fails once data has gone in; none has.
        let _ = c.set_dictionary(dictionary);
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    out.reserve(slice.len() / 2 + 1024);
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

/// Adler-32's modulus.
const ADLER_BASE: u32 = 65521;

fn adler32(data: &[u8]) -> u32 {
    // Largest n such that 255·n·(n+1)/2 + (n+1)·(65520) fits in u32 (zlib's NMAX).
    const NMAX: usize = 5552;
    let (mut a, mut b) = (1u32, 0u32);
    for block in data.chunks(NMAX) {
        for &x in block {
            a += u32::from(x);
            b += a;
        }
        a %= ADLER_BASE;
        b %= ADLER_BASE;
    }
    (b << 16) | a
}

/// The Adler-32 of `x` followed by `y`, from theirs and `y`'s length. With A = 1 + the sum
/// of the bytes and B = the sum of the A after each byte: A = A1 + A2 − 1, and each of
/// `y`'s B terms gains A1 − 1, so B = B1 + B2 + len·(A1 − 1).
fn adler32_combine(x: u32, y: u32, y_len: usize) -> u32 {
    let base = u64::from(ADLER_BASE);
    let (a1, b1) = (u64::from(x & 0xffff), u64::from(x >> 16));
    let (a2, b2) = (u64::from(y & 0xffff), u64::from(y >> 16));
    let len = y_len as u64 % base;
    let a = (a1 + a2 + base - 1) % base;
    let b = (b1 + b2 + len * ((a1 + base - 1) % base)) % base;
    // Both are below the 16-bit modulus.
    #[allow(clippy::cast_possible_truncation)]
    let sum = ((b << 16) | a) as u32;
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack_rows(indices: &[u8], width: usize, depth: png::BitDepth) -> Vec<u8> {
        let bits = depth as usize;
        let row_bytes = width.div_ceil(8 / bits);
        let mut out = vec![0u8; row_bytes * (indices.len() / width)];
        for (row, out) in indices.chunks(width).zip(out.chunks_mut(row_bytes)) {
            pack_row(row, out, bits);
        }
        out
    }

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
    fn output_names_fit_the_filesystem_limit() {
        use std::ffi::OsStr;
        assert_eq!(
            output_file_name(OsStr::new("beach.jpg"), false, ".png"),
            "beach.png"
        );
        assert_eq!(
            output_file_name(OsStr::new("beach.jpg"), true, ".png"),
            "beach.jpg.png"
        );
        let ascii = "a".repeat(300);
        let name = output_file_name(OsStr::new(&ascii), false, "-k16.png");
        assert_eq!(name.len(), 255);
        assert_eq!(name, *format!("{}-k16.png", &ascii[..247]));
        // Never half a character: 123 × "é" is 246 bytes, the cut falls inside the 124th.
        let accents = "é".repeat(200);
        let name = output_file_name(OsStr::new(&accents), false, "-k16.png");
        assert_eq!(name, *format!("{}-k16.png", "é".repeat(123)));
        // A long stem is cut, never the extension kept to tell two inputs apart.
        let long = "z".repeat(250);
        let [jpg, png] = ["jpg", "png"]
            .map(|ext| output_file_name(OsStr::new(&format!("{long}.{ext}")), true, ".png"));
        assert_ne!(jpg, png);
        assert_eq!(jpg, *format!("{}.jpg.png", &long[..247]));
        assert_eq!(png.len(), 255);
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt as _;
            // Not UTF-8: cut at the byte.
            let raw = [0xffu8; 300];
            let name = output_file_name(OsStr::from_bytes(&raw), false, ".png");
            assert_eq!(name.as_bytes(), [&raw[..251], b".png"].concat());
        }
    }

    #[test]
    fn parallel_zlib_round_trips_across_slices() {
        use std::io::Read as _;
        // 700 rows of 1000 compressible but varied bytes: three slices, the later two
        // primed, cut between rows.
        let data: Vec<u8> = (0..700_000u32)
            .map(|i| ((i / 7) ^ (i % 251)) as u8)
            .collect();
        let filtered: Vec<u8> = data
            .chunks(1000)
            .flat_map(|row| std::iter::once(0).chain(row.iter().copied()))
            .collect();
        for effort in [Effort::Fast, Effort::Small] {
            for (data, filtered) in [(&data[..], &filtered[..]), (&[], &[])] {
                // The decoder checks the header's check bits and the Adler-32.
                let z = zlib_parallel(&Rows::new(data, 1000, 8), effort.zlib_level()).concat();
                let mut back = Vec::new();
                flate2::read::ZlibDecoder::new(&z[..])
                    .read_to_end(&mut back)
                    .unwrap();
                assert_eq!(back, filtered, "{effort:?}");
                assert!(z.len() <= data.len() / 2 + 8);
            }
        }
    }

    #[test]
    fn adler32_of_parts_combines_to_the_whole() {
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 / 7) as u8).collect();
        for cut in [0, 1, 5552, 65_521, 65_522, 99_999, 100_000] {
            let (x, y) = data.split_at(cut);
            assert_eq!(
                adler32_combine(adler32(x), adler32(y), y.len()),
                adler32(&data),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn small_effort_png_decodes_to_the_same_indices() {
        for (k, w, h) in [
            (2u8, 1001, 700),
            (4, 333, 9),
            (16, 1000, 600),
            (200, 800, 700),
            // Rows longer than a deflate slice (one row a slice, primed with the end of the
            // row before), and a column of one-pixel rows (many rows a slice).
            (200, 300_000, 3),
            (4, 1, 300_000),
        ] {
            let indices: Vec<u8> = (0..w * h)
                .map(|i| ((i * 7 + i / w) % usize::from(k)) as u8)
                .collect();
            let q = Quantized {
                width: w as u32,
                height: h as u32,
                palette: (0..k).map(|i| [i, 255 - i, i / 2]).collect(),
                counts: vec![1; usize::from(k)],
                indices: indices.clone().into(),
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

    #[test]
    fn file_bytes_do_not_depend_on_the_threads() {
        // Runs copied from the left or from the row above with some noise, as a photo's
        // indices: many equally long matches for deflate to choose between, over 6 slices.
        // (A stream reused across slices chose among them by the last slice's leftovers.)
        let (w, h) = (1500usize, 1000usize);
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut indices = vec![0u8; w * h];
        for at in 0..w * h {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            indices[at] = if state.is_multiple_of(8) {
                ((state >> 8) % 64) as u8
            } else if at >= w && (state >> 4).is_multiple_of(2) {
                indices[at - w]
            } else if at % w > 0 {
                indices[at - 1]
            } else {
                0
            };
        }
        let q = Quantized {
            width: w as u32,
            height: h as u32,
            palette: (0..64).map(|i| [i * 4, 255 - i * 4, i]).collect(),
            counts: vec![1; 64],
            indices: indices.into(),
            mse: 0.0,
            psnr: f64::INFINITY,
            iterations: 0,
        };
        let on = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| encode_with(&q, None, Effort::Small).unwrap())
        };
        let one = on(1);
        assert_eq!(on(2), one);
        assert_eq!(on(3), one);
    }
}
