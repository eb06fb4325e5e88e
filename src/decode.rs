//! Opening an image file defensively and turning it into pixels for clustering.
//!
//! The format is decided by content, never by extension. The dimensions are read from the
//! header and checked against a pixel budget *before* any pixel buffer is allocated, so a
//! decompression bomb is refused with a clear error; `image::Limits::max_alloc` backs that up
//! inside the decoders. EXIF orientation is applied, so the result is upright as displayed.
//! Animated formats give their first frame. This module does not resize, cluster or encode.

use std::fs::File;
use std::io::{self, BufReader, Read as _};
use std::path::Path;

use image::{DynamicImage, ImageDecoder as _, ImageError, ImageReader, Limits};

use crate::quant::Pixels;

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
    /// The content is not an image format kquant can decode.
    #[error("not a supported image (unknown format)")]
    UnknownFormat,
    /// The format was recognised but this variant of it is not supported.
    #[error("unsupported image")]
    Unsupported(#[source] ImageError),
    /// The image is larger than the pixel budget.
    #[error(
        "image is {width}x{height} ({} MP), above the {} MP limit (--max-pixels)",
        megapixels(u64::from(*width) * u64::from(*height)),
        megapixels(*max_pixels)
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
    MemoryLimit(#[source] ImageError),
    /// The file ends before the image data does.
    #[error("truncated image")]
    Truncated(#[source] ImageError),
    /// The data is malformed.
    #[error("corrupt image")]
    Corrupt(#[source] ImageError),
    /// The header claims a zero-sized image.
    #[error("image has no pixels ({width}x{height})")]
    ZeroSize {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
    },
}

fn megapixels(pixels: u64) -> String {
    // Whole megapixels when large, one decimal otherwise ("0.3 MP").
    #[allow(clippy::cast_precision_loss)]
    let mp = pixels as f64 / 1e6;
    if mp >= 10.0 {
        format!("{mp:.0}")
    } else {
        format!("{mp:.1}")
    }
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
            if e.to_string().to_ascii_lowercase().contains("eof") {
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

/// Decodes `path` into an upright image, refusing anything above `opts.max_pixels`.
pub fn decode(path: &Path, opts: &DecodeOptions) -> Result<DynamicImage, DecodeError> {
    let file = File::open(path).map_err(DecodeError::Io)?;
    let meta = file.metadata().map_err(DecodeError::Io)?;
    if meta.is_dir() {
        return Err(DecodeError::Io(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        )));
    }
    if meta.len() == 0 {
        return Err(DecodeError::Empty);
    }
    let mut reader = ImageReader::new(BufReader::new(file))
        .with_guessed_format()
        .map_err(DecodeError::Io)?;
    if reader.format().is_none() {
        return Err(DecodeError::UnknownFormat);
    }
    // Headers only at this point: the real limit is set once the dimensions are known, so the
    // "too large" error can name them.
    reader.no_limits();
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
    let mut limits = Limits::default();
    limits.max_alloc = Some(alloc_cap(opts.max_pixels));
    decoder.set_limits(limits).map_err(classify)?;
    // A broken EXIF block must not sink an otherwise good image: treat it as "no rotation".
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(classify)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Decodes `path` into 8-bit RGB plus separate alpha, ready for clustering.
pub fn decode_pixels(path: &Path, opts: &DecodeOptions) -> Result<Pixels, DecodeError> {
    decode(path, opts).map(Pixels::from_dynamic_owned)
}

const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "jfif", "png", "gif", "webp", "tif", "tiff", "bmp",
];

/// Cheap test for "worth trying to decode": a known image extension, or magic bytes that
/// `image` recognises. Used to skip non-images when walking folders; never opens more than the
/// first 32 bytes.
pub fn sniff_image(path: &Path) -> bool {
    let known_ext = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)));
    if known_ext {
        return true;
    }
    let mut head = [0u8; 32];
    let Ok(mut file) = File::open(path) else {
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
    fn alloc_cap_saturates() {
        assert_eq!(alloc_cap(u64::MAX), u64::MAX);
        assert!(alloc_cap(200_000_000) >= 1_600_000_000);
    }
}
