//! Opening an image file defensively and turning it into pixels for clustering.
//!
//! The format is decided by content, never by extension. The dimensions are read from the
//! header and checked against a pixel budget *before* any pixel buffer is allocated, so a
//! decompression bomb is refused with a clear error; `image::Limits::max_alloc` backs that up
//! inside the decoders. EXIF orientation is applied, so the result is upright as displayed.
//! Animated formats give their first frame. Only regular files are opened, and never in a way
//! that can block (a named pipe or a device where a photo was expected is refused by its file
//! type, so `/dev/zero` cannot be read forever). This module does not resize, cluster or encode.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Cursor, Read as _, Seek};
use std::path::Path;

use image::{DynamicImage, ImageDecoder as _, ImageError, ImageFormat, ImageReader, Limits};

use crate::quant::Pixels;

mod png_rows;

/// How defensive decoding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Largest accepted image, in pixels (width × height as displayed or stored).
    pub max_pixels: u64,
}

impl DecodeOptions {
    /// Default pixel budget: 200 megapixels.
    pub const DEFAULT_MAX_PIXELS: u64 = 200_000_000;
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_pixels: Self::DEFAULT_MAX_PIXELS,
        }
    }
}

/// Why a file could not be decoded. Messages are meant for users, after `path: `.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The file could not be opened or read.
    #[error("cannot read file")]
    Io(#[source] io::Error),
    /// The file has zero bytes.
    #[error("empty file (0 bytes)")]
    Empty,
    /// The path is a folder, a named pipe, a device or a socket, not a file.
    #[error("not a regular file ({0})")]
    NotRegularFile(&'static str),
    /// The content is not an image format kquant can decode.
    #[error("not a supported image (unknown format)")]
    UnknownFormat,
    /// The format was recognised but this variant of it is not supported.
    #[error("unsupported image: {}", detail(.0))]
    Unsupported(ImageError),
    /// The image is larger than the pixel budget.
    #[error(
        "image is {width}x{height} ({}), above the {} limit (--max-pixels)",
        size_and_limit(u64::from(*width) * u64::from(*height), *max_pixels)[0],
        size_and_limit(u64::from(*width) * u64::from(*height), *max_pixels)[1]
    )]
    TooLarge {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// The budget that was exceeded.
        max_pixels: u64,
    },
    /// A decoder needed more memory than the limit allows.
    #[error("image needs more memory than allowed (--max-pixels)")]
    MemoryLimit(ImageError),
    /// The file ends before the image data does.
    #[error("truncated image: {}", detail(.0))]
    Truncated(ImageError),
    /// The data is malformed.
    #[error("corrupt image: {}", detail(.0))]
    Corrupt(ImageError),
    /// The header claims a zero-sized image.
    #[error("image has no pixels ({width}x{height})")]
    ZeroSize {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
    },
}

/// "900 MP", "9.0 MP", "0.3 MP", or "1000 px" below 0.1 MP (a low `--max-pixels` must not
/// read as "0.0 MP").
fn megapixels(pixels: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let mp = pixels as f64 / 1e6;
    if mp >= 10.0 {
        format!("{mp:.0} MP")
    } else if pixels >= 100_000 {
        format!("{mp:.1} MP")
    } else {
        format!("{pixels} px")
    }
}

/// An image size and the limit it exceeds, in megapixels, or in pixels when the two would
/// read the same ("0.3 MP, above the 0.3 MP limit").
fn size_and_limit(pixels: u64, max_pixels: u64) -> [String; 2] {
    let (size, limit) = (megapixels(pixels), megapixels(max_pixels));
    if size == limit {
        [format!("{pixels} px"), format!("{max_pixels} px")]
    } else {
        [size, limit]
    }
}

/// The decoder's explanation on one line. Decoder errors are kept as the variants' payload
/// but not exposed as `source()`: their `Display` already ends with their causes, so printing
/// the chain (`path: error: source: source`) said everything two or three times.
fn detail(err: &ImageError) -> String {
    let text = err.to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("; ")
}

/// True when a decoder's message says the data ended early.
fn says_truncated(err: &ImageError) -> bool {
    let text = err.to_string().to_ascii_lowercase();
    ["eof", "end of file", "not enough bytes", "unexpected end"]
        .iter()
        .any(|s| text.contains(s))
}

fn classify(err: ImageError) -> DecodeError {
    match err {
        ImageError::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            DecodeError::Truncated(ImageError::IoError(e))
        }
        ImageError::IoError(e) => DecodeError::Io(e),
        e @ ImageError::Limits(_) => DecodeError::MemoryLimit(e),
        e @ ImageError::Unsupported(_) => DecodeError::Unsupported(e),
        e @ (ImageError::Decoding(_) | ImageError::Parameter(_) | ImageError::Encoding(_)) => {
            if says_truncated(&e) {
                DecodeError::Truncated(e)
            } else {
                DecodeError::Corrupt(e)
            }
        }
    }
}

/// Bytes a decoder may allocate for an image within the pixel budget: 16-bit RGBA is the
/// widest layout we accept (8 bytes a pixel), plus room for format-specific buffers.
fn alloc_cap(max_pixels: u64) -> u64 {
    const SLACK: u64 = 64 << 20;
    max_pixels.saturating_mul(8).saturating_add(SLACK)
}

/// What kind of non-file `meta` describes, or `None` for a regular file.
fn special_kind(meta: &fs::Metadata) -> Option<&'static str> {
    let ft = meta.file_type();
    if ft.is_file() {
        return None;
    }
    if ft.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ft.is_fifo() {
            return Some("a named pipe");
        }
        if ft.is_char_device() {
            return Some("a character device");
        }
        if ft.is_block_device() {
            return Some("a block device");
        }
        if ft.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a file")
}

/// Opens `path` for reading if it is a regular file (after following symlinks).
///
/// The type is checked before opening, so no device or pipe is ever opened in the usual case;
/// and the open itself is non-blocking and checked again on the open handle, so a path swapped
/// for a named pipe in between cannot hang the caller either. Never opens for writing.
pub fn open_regular(path: &Path) -> Result<File, DecodeError> {
    let before = fs::metadata(path).map_err(DecodeError::Io)?;
    if let Some(kind) = special_kind(&before) {
        return Err(DecodeError::NotRegularFile(kind));
    }
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a
        // writer (it changes nothing for regular files). O_NOCTTY: a terminal device never
        // becomes our controlling terminal.
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path).map_err(DecodeError::Io)?;
    let after = file.metadata().map_err(DecodeError::Io)?;
    if let Some(kind) = special_kind(&after) {
        return Err(DecodeError::NotRegularFile(kind));
    }
    Ok(file)
}

/// What the PNG decoder may allocate for itself. An iCCP colour profile is inflated while the
/// headers are read, and dropped once it passes the limit; with the whole allocation cap (1.6
/// GB at the default budget) a 4 MB file could take that much. 256 MiB still holds one row
/// of any PNG up to 33 million pixels wide (16-bit RGBA).
const PNG_INTERNAL_CAP: u64 = 256 << 20;

/// Decodes `path` into an upright image, refusing anything above `opts.max_pixels`.
pub fn decode(path: &Path, opts: &DecodeOptions) -> Result<DynamicImage, DecodeError> {
    decode_from(open_image(path)?, opts)
}

/// `path` opened for decoding: a regular file, not empty.
fn open_image(path: &Path) -> Result<BufReader<File>, DecodeError> {
    let file = open_regular(path)?;
    if file.metadata().map_err(DecodeError::Io)?.len() == 0 {
        return Err(DecodeError::Empty);
    }
    // Decoders read in small pieces; 8 KiB reads were ~1 500 system calls for a 12 MB PNG, on
    // the thread that inflates it.
    Ok(BufReader::with_capacity(READ_BUFFER, file))
}

/// Bytes read from an image file at a time.
const READ_BUFFER: usize = 1 << 18;

/// [`decode`] for an image already in memory (the same checks and limits).
pub fn decode_bytes(bytes: &[u8], opts: &DecodeOptions) -> Result<DynamicImage, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    decode_from(Cursor::new(bytes), opts)
}

fn decode_from<R: BufRead + Seek>(
    reader: R,
    opts: &DecodeOptions,
) -> Result<DynamicImage, DecodeError> {
    let mut reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(DecodeError::Io)?;
    if reader.format().is_none() {
        return Err(DecodeError::UnknownFormat);
    }
    // The allocation cap applies from the first byte: some decoders allocate while reading
    // headers (the PNG decoder inflates an iCCP profile before the image data, and takes its
    // limit only at construction). No width/height limit here: the dimensions are checked
    // below so the "too large" error can name them.
    let mut limits = Limits::default();
    limits.max_alloc = Some(alloc_cap(opts.max_pixels));
    let mut construction = limits.clone();
    if reader.format() == Some(ImageFormat::Png) {
        // The PNG decoder keeps this first limit for everything it allocates itself (chunk
        // buffers, the iCCP profile, one row), never for the image, which `image` allocates.
        construction.max_alloc = Some(alloc_cap(opts.max_pixels).min(PNG_INTERNAL_CAP));
    }
    reader.limits(construction);
    let mut decoder = reader.into_decoder().map_err(classify)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > opts.max_pixels {
        return Err(DecodeError::TooLarge {
            width,
            height,
            max_pixels: opts.max_pixels,
        });
    }
    if width == 0 || height == 0 {
        return Err(DecodeError::ZeroSize { width, height });
    }
    decoder.set_limits(limits).map_err(classify)?;
    // A broken EXIF block must not sink an otherwise good image: treat it as "no rotation".
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(classify)?;
    // Rotation keeps the pixel count, so it stays within the budget checked above.
    img.apply_orientation(orientation);
    Ok(img)
}

/// Decodes `path` into 8-bit RGB plus separate alpha, ready for clustering.
pub fn decode_pixels(path: &Path, opts: &DecodeOptions) -> Result<Pixels, DecodeError> {
    decode(path, opts).map(Pixels::from_dynamic_owned)
}

/// Pixels [`decode_pixels_banded`] hands over at a time (whole rows, at least one).
pub const BAND_PIXELS: usize = 1 << 18;

/// [`decode_pixels`], also handing every pixel to `on_band` exactly once, in bands of whole
/// rows, from rayon tasks in any order. An 8-bit RGB(A) PNG is decoded on two threads
/// (`png_rows`) and hands each band over as soon as its rows are decoded, so another core can
/// work on the finished rows (the histogram) meanwhile. Anything else is decoded whole first.
/// Results and errors are those of [`decode_pixels`].
pub fn decode_pixels_banded(
    path: &Path,
    opts: &DecodeOptions,
    on_band: &(dyn Fn(&[[u8; 3]]) + Sync),
) -> Result<Pixels, DecodeError> {
    let mut file = open_image(path)?;
    let is_png = file
        .fill_buf()
        .map_err(DecodeError::Io)?
        .starts_with(PNG_SIGNATURE);
    let layout = if is_png {
        png_layout(&mut file, opts)
    } else {
        None
    };
    rewind_buffered(&mut file)?;
    let (image, handed) = match layout {
        Some(layout) => match png_rows::read(file, layout, band_len(layout.width), on_band) {
            Ok(pixels) => return Ok(pixels),
            // Decoded again the ordinary way, for its error in its words; the bands already
            // handed over are not handed again.
            Err(stopped) => {
                let image = decode(path, opts)?;
                // Only a file that changed in between should get here: otherwise png_rows
                // refused a PNG the png crate reads, which is a bug (the tests run in debug
                // builds).
                debug_assert!(false, "png_rows stopped on a PNG that decodes");
                (image, stopped.bands_handed)
            }
        },
        None => (decode_from(file, opts)?, 0),
    };
    let pixels = Pixels::from_dynamic_owned(image);
    // Decoded whole: the bands are only there to share the work between the cores.
    let band = if handed == 0 {
        even_band_len(pixels.width, pixels.rgb.len())
    } else {
        band_len(pixels.width)
    };
    {
        use rayon::prelude::*;
        pixels.rgb.par_chunks(band).skip(handed).for_each(on_band);
    }
    Ok(pixels)
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Pixels in each band of an image of `len` pixels handed over whole: at most
/// [`BAND_PIXELS`], and a small image in a few even bands rather than one. Whole rows, at
/// least one.
fn even_band_len(width: u32, len: usize) -> usize {
    use crate::split::{MIN_PIXEL_PARTS, MIN_PIXELS, rows_per_part};
    let width = (width as usize).max(1);
    let rows = len.div_ceil(width);
    rows_per_part(rows, width, BAND_PIXELS, MIN_PIXELS, MIN_PIXEL_PARTS) * width
}

/// Back to the first byte of `file`, keeping what is buffered when it still holds that (the
/// header pass seldom reads past the first buffer), so the start is not read twice.
fn rewind_buffered(file: &mut BufReader<File>) -> Result<(), DecodeError> {
    let at = file.stream_position().map_err(DecodeError::Io)?;
    file.seek_relative(-i64::try_from(at).unwrap_or(i64::MAX))
        .map_err(DecodeError::Io)
}

/// Pixels in a band of whole rows: [`BAND_PIXELS`] rounded down to rows, at least one row.
fn band_len(width: u32) -> usize {
    let width = (width as usize).max(1);
    (BAND_PIXELS / width).max(1) * width
}

/// The layout of the PNG in `file` if `png_rows` can decode it into the same pixels [`decode`]
/// gives: 8-bit RGB or RGBA, not interlaced or animated, no tRNS (so nothing to expand), no
/// EXIF (so no orientation to apply), within the budget. Its chunks up to the image data are
/// read as image-rs reads them, with the same memory cap. `None` for anything else, and for
/// any error, which [`decode`] then reports in its words.
fn png_layout(file: &mut BufReader<File>, opts: &DecodeOptions) -> Option<png_rows::Layout> {
    let cap = alloc_cap(opts.max_pixels).min(PNG_INTERNAL_CAP);
    let mut decoder = png::Decoder::new_with_limits(
        file,
        png::Limits {
            bytes: usize::try_from(cap).unwrap_or(usize::MAX),
        },
    );
    decoder.set_ignore_text_chunk(false);
    let header = decoder.read_header_info().ok()?;
    let pixels = u64::from(header.width) * u64::from(header.height);
    if pixels == 0 || pixels > opts.max_pixels || header.interlaced {
        return None;
    }
    let reader = decoder.read_info().ok()?;
    let info = reader.info();
    let alpha = match (info.color_type, info.bit_depth) {
        (png::ColorType::Rgb, png::BitDepth::Eight) => false,
        (png::ColorType::Rgba, png::BitDepth::Eight) => true,
        _ => return None,
    };
    let plain =
        info.trns.is_none() && info.exif_metadata.is_none() && info.animation_control.is_none();
    plain.then_some(png_rows::Layout {
        width: info.width,
        height: info.height,
        alpha,
    })
}

const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "jfif", "png", "gif", "webp", "tif", "tiff", "bmp",
];

/// Cheap test for "worth trying to decode": a known image extension, or magic bytes that
/// `image` recognises. Used to skip non-images when walking folders; never reads more than the
/// first 32 bytes, and never opens anything but a regular file (see [`open_regular`]).
pub fn sniff_image(path: &Path) -> bool {
    if fs::metadata(path).map_or(true, |m| !m.is_file()) {
        return false;
    }
    let known_ext = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)));
    if known_ext {
        return true;
    }
    let mut head = [0u8; 32];
    let Ok(mut file) = open_regular(path) else {
        return false;
    };
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(m) => n += m,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    n > 0 && image::guess_format(&head[..n]).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_large_message_names_size_and_flag() {
        let e = DecodeError::TooLarge {
            width: 30000,
            height: 30000,
            max_pixels: 200_000_000,
        };
        assert_eq!(
            e.to_string(),
            "image is 30000x30000 (900 MP), above the 200 MP limit (--max-pixels)"
        );
    }

    #[test]
    fn small_budgets_are_not_rounded_to_zero() {
        let e = DecodeError::TooLarge {
            width: 100,
            height: 20,
            max_pixels: 1000,
        };
        assert_eq!(
            e.to_string(),
            "image is 100x20 (2000 px), above the 1000 px limit (--max-pixels)"
        );
        assert_eq!(megapixels(250_000), "0.2 MP");
        // Just over a limit that rounds to the same figure.
        let e = DecodeError::TooLarge {
            width: 640,
            height: 427,
            max_pixels: 273_279,
        };
        assert_eq!(
            e.to_string(),
            "image is 640x427 (273280 px), above the 273279 px limit (--max-pixels)"
        );
        assert_eq!(megapixels(99_999), "99999 px");
    }

    #[test]
    fn alloc_cap_saturates() {
        assert_eq!(alloc_cap(u64::MAX), u64::MAX);
        assert!(alloc_cap(200_000_000) >= 1_600_000_000);
    }
}
