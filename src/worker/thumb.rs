//! A reduced decode for the preview working copy. A JPEG can be decoded at 1/2, 1/4 or 1/8 of
//! its size by scaling its DCT (jpeg-decoder), which skips most of the inverse transform,
//! upsampling and colour conversion, and leaves an image a few times the pane's size for the
//! final resize instead of 20 MP. The full-resolution stage decodes the photo in full later.
//!
//! Anything this path does not handle (other formats, CMYK, 16-bit, an error of any kind)
//! returns `None`, and the caller decodes in full through [`crate::decode`], which also gives
//! bad files their proper error.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, RgbImage};
use jpeg_decoder::{Decoder, PixelFormat};

use crate::decode;

/// The photo at the smallest DCT scale that still covers `max_w × max_h` in one direction,
/// with its EXIF orientation applied, and the full photo's (oriented) dimensions.
pub(crate) fn jpeg_scaled(
    path: &Path,
    max_w: u32,
    max_h: u32,
    max_pixels: u64,
) -> Option<(DynamicImage, (u32, u32))> {
    // Only a regular file, opened without blocking (a FIFO or device is refused).
    let mut file = decode::open_regular(path).ok()?;
    let mut magic = [0u8; 3];
    file.read_exact(&mut magic).ok()?;
    if magic != [0xFF, 0xD8, 0xFF] {
        return None;
    }
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut decoder = Decoder::new(BufReader::new(file));
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    if u64::from(w) * u64::from(h) > max_pixels || w == 0 || h == 0 {
        return None; // the full decode refuses it with the usual message
    }
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let turned = matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    let (want_w, want_h) = if turned {
        (max_h, max_w)
    } else {
        (max_w, max_h)
    };
    let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
    let (sw, sh) = decoder.scale(clamp(want_w), clamp(want_h)).ok()?;
    let pixels = decoder.decode().ok()?;
    let (sw, sh) = (u32::from(sw), u32::from(sh));
    let mut image = match info.pixel_format {
        PixelFormat::RGB24 => DynamicImage::ImageRgb8(RgbImage::from_raw(sw, sh, pixels)?),
        PixelFormat::L8 => DynamicImage::ImageLuma8(GrayImage::from_raw(sw, sh, pixels)?),
        PixelFormat::L16 | PixelFormat::CMYK32 => return None,
    };
    image.apply_orientation(orientation);
    let full = if turned { (h, w) } else { (w, h) };
    Some((image, full))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, Rgb};

    fn jpeg(dir: &Path, w: u32, h: u32) -> std::path::PathBuf {
        let img = RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 90])
        });
        let path = dir.join("photo.jpg");
        DynamicImage::ImageRgb8(img)
            .save_with_format(&path, ImageFormat::Jpeg)
            .unwrap_or_else(|e| panic!("writing the test JPEG: {e}"));
        path
    }

    #[test]
    fn a_large_jpeg_decodes_at_a_scale_that_still_covers_the_pane() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = jpeg(dir.path(), 1600, 1200);
        let (image, full) = jpeg_scaled(&path, 300, 300, 1 << 30).unwrap_or_else(|| panic!());
        assert_eq!(full, (1600, 1200));
        // 1/4 gives 400×300, the smallest scale at least 300 wide; 1/8 would be 200×150.
        assert_eq!((image.width(), image.height()), (400, 300));
        // Colours survive: the left edge is dark red, the bottom edge bright green.
        let p = image.to_rgb8().get_pixel(2, 290).0;
        assert!(p[0] < 40 && p[1] > 150, "{p:?}");
    }

    #[test]
    fn other_files_and_oversized_jpegs_fall_back_to_the_full_decode() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let png = dir.path().join("a.png");
        RgbImage::new(64, 64)
            .save(&png)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(jpeg_scaled(&png, 10, 10, 1 << 30).is_none());
        assert!(jpeg_scaled(dir.path(), 10, 10, 1 << 30).is_none());
        let path = jpeg(dir.path(), 64, 64);
        assert!(
            jpeg_scaled(&path, 10, 10, 1000).is_none(),
            "over the pixel cap"
        );
        assert!(jpeg_scaled(&path, 10, 10, 1 << 30).is_some());
    }
}
