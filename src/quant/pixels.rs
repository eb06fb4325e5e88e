//! `Pixels`: the working image the engine reads: 8-bit RGB plus an optional, separate alpha
//! plane. Alpha is kept apart so it is never clustered into the colours.

use image::{DynamicImage, RgbImage};

use crate::buffer::Buffer;

/// An 8-bit RGB image with optional alpha, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pixels {
    pub width: u32,
    pub height: u32,
    pub rgb: Buffer<[u8; 3]>,
    /// `None` when every pixel is opaque.
    pub alpha: Option<Vec<u8>>,
}

impl Pixels {
    /// Converts any decoded image to 8-bit RGB (+ alpha only if some pixel is not opaque).
    pub fn from_dynamic(img: &DynamicImage) -> Pixels {
        let (width, height) = (img.width(), img.height());
        if img.color().has_alpha() {
            let rgba = img.to_rgba8();
            let raw = rgba.as_raw();
            let alpha: Vec<u8> = raw.chunks_exact(4).map(|p| p[3]).collect();
            let rgb = raw.chunks_exact(4).map(|p| [p[0], p[1], p[2]]).collect();
            let alpha = alpha.iter().any(|&a| a != 255).then_some(alpha);
            Pixels {
                width,
                height,
                rgb,
                alpha,
            }
        } else {
            let rgb_img = match img {
                DynamicImage::ImageRgb8(rgb) => std::borrow::Cow::Borrowed(rgb),
                other => std::borrow::Cow::Owned(other.to_rgb8()),
            };
            let rgb = rgb_img
                .as_raw()
                .chunks_exact(3)
                .map(|p| [p[0], p[1], p[2]])
                .collect();
            Pixels {
                width,
                height,
                rgb,
                alpha: None,
            }
        }
    }

    /// The same pixels as [`Pixels::from_dynamic`], with a lower memory peak: an opaque 8-bit
    /// RGB image is taken over without a copy (61 MB less for a 20 MP photo), and any other is
    /// converted to 8 bits by value, so a 16-bit or grey buffer is freed before the RGB and
    /// alpha planes are split off. Peak, in bytes a pixel: RGB8 3, RGB16 6 + 3, RGBA8 4 + 4,
    /// RGBA16 8 + 4 (then 4 + 4), against up to 16.
    #[must_use]
    pub fn from_dynamic_owned(img: DynamicImage) -> Pixels {
        if img.color().has_alpha() {
            let rgba = img.into_rgba8();
            let (width, height) = rgba.dimensions();
            let raw = rgba.into_raw();
            let alpha = raw
                .chunks_exact(4)
                .any(|p| p[3] != 255)
                .then(|| raw.chunks_exact(4).map(|p| p[3]).collect());
            let rgb = raw.chunks_exact(4).map(|p| [p[0], p[1], p[2]]).collect();
            return Pixels {
                width,
                height,
                rgb,
                alpha,
            };
        }
        let rgb = img.into_rgb8();
        let (width, height) = rgb.dimensions();
        match bytemuck::allocation::try_cast_vec::<u8, [u8; 3]>(rgb.into_raw()) {
            Ok(rgb) => Pixels {
                width,
                height,
                rgb: rgb.into(),
                alpha: None,
            },
            // A capacity that is not a whole number of pixels: copy after all.
            Err((_, raw)) => {
                let rgb = raw.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
                Pixels {
                    width,
                    height,
                    rgb,
                    alpha: None,
                }
            }
        }
    }

    /// Builds from packed RGB bytes; `None` if the length does not match.
    pub fn from_rgb_bytes(width: u32, height: u32, bytes: &[u8]) -> Option<Pixels> {
        let n = usize::try_from(u64::from(width) * u64::from(height)).ok()?;
        if bytes.len() != n.checked_mul(3)? {
            return None;
        }
        let rgb = bytes.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
        Some(Pixels {
            width,
            height,
            rgb,
            alpha: None,
        })
    }

    /// Number of pixels.
    pub fn len(&self) -> usize {
        self.rgb.len()
    }

    /// True for a 0-pixel image.
    pub fn is_empty(&self) -> bool {
        self.rgb.is_empty()
    }

    /// The RGB planes as an `image` buffer (alpha dropped).
    pub fn to_rgb_image(&self) -> RgbImage {
        let raw: Vec<u8> = self.rgb.iter().flatten().copied().collect();
        RgbImage::from_raw(self.width, self.height, raw).unwrap_or_default()
    }
}
