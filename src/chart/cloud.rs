//! The worker-side colour cloud: a fixed-seed sample of a photo's pixels, binned on a 32³ RGB
//! grid (mean colour and count per occupied bin), so that re-projecting it (a new projection, a
//! cube rotation) touches a few thousand bins instead of every sampled pixel. Pure and
//! deterministic: the same photo and seed always give the same cloud, so the chart never flickers.

use image::{DynamicImage, GenericImageView};

use crate::quant::{Pixels, srgb_to_oklab};

/// Pixels sampled per photo: enough to show the shape of the colour distribution in a chart of
/// a few hundred by a few hundred braille dots (the original notebook plotted 10 000).
pub const SAMPLE_SIZE: usize = 20_000;
/// Seed of the sample: fixed, so the chart is the same every time a photo is shown.
pub const SAMPLE_SEED: u64 = 0x6b71_7561_6e74;
/// Bits kept per channel when binning: 32 levels, bins 8 units wide.
const BIN_BITS: u32 = 5;
const BIN_SHIFT: u32 = 8 - BIN_BITS;
const BINS: usize = 1 << (3 * BIN_BITS);

/// Indices of up to `n` pixels drawn uniformly (with replacement) with a fixed seed, skipping
/// fully transparent pixels. Small images (≤ `n` opaque pixels) give every opaque pixel once.
/// The indices let the worker read the same pixels again from the quantized image.
pub fn sample_indices(pixels: &Pixels, n: usize, seed: u64) -> Vec<usize> {
    let opaque = |i: usize| match &pixels.alpha {
        Some(alpha) => alpha.get(i).is_some_and(|&a| a > 0),
        None => true,
    };
    indices_where(pixels.rgb.len(), n, seed, opaque)
}

/// Like [`sample`], straight from a decoded image of any pixel format, so the worker can
/// sample the full-resolution photo before shrinking it to the pane (a half-block pane holds
/// only a few thousand pixels).
pub fn sample_image(image: &DynamicImage, n: usize, seed: u64) -> Vec<[u8; 3]> {
    let width = image.width();
    let at = |i: usize| {
        let i = u64::try_from(i).unwrap_or(u64::MAX);
        let (x, y) = (i % u64::from(width.max(1)), i / u64::from(width.max(1)));
        let (x, y) = (u32::try_from(x).unwrap_or(0), u32::try_from(y).unwrap_or(0));
        image.get_pixel(x, y).0
    };
    let len = usize::try_from(u64::from(width) * u64::from(image.height())).unwrap_or(0);
    indices_where(len, n, seed, |i| at(i)[3] > 0)
        .into_iter()
        .map(|i| {
            let [r, g, b, _] = at(i);
            [r, g, b]
        })
        .collect()
}

/// Up to `n` indices below `len` that pass `keep`, drawn with a fixed seed; all of them
/// when `len ≤ n`.
fn indices_where(len: usize, n: usize, seed: u64, keep: impl Fn(usize) -> bool) -> Vec<usize> {
    let opaque = keep;
    if len <= n {
        return (0..len).filter(|&i| opaque(i)).collect();
    }
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(n);
    // Bounded, so a (nearly) fully transparent image ends with a short sample, not a hang.
    for _ in 0..n.saturating_mul(4) {
        if out.len() == n {
            break;
        }
        let i = rng.below(len);
        if opaque(i) {
            out.push(i);
        }
    }
    out
}

/// The colours of [`sample_indices`].
pub fn sample(pixels: &Pixels, n: usize, seed: u64) -> Vec<[u8; 3]> {
    sample_indices(pixels, n, seed)
        .into_iter()
        .filter_map(|i| pixels.rgb.get(i).copied())
        .collect()
}

/// The entry of `palette` nearest to `colour` (squared sRGB distance; first on ties), e.g.
/// to recolour a pixel sample with a quantized palette; `None` for an empty palette.
pub fn nearest(palette: &[[u8; 3]], colour: [u8; 3]) -> Option<[u8; 3]> {
    palette.iter().copied().min_by_key(|p| {
        (0..3)
            .map(|i| u32::from(p[i].abs_diff(colour[i])).pow(2))
            .sum::<u32>()
    })
}

/// One occupied bin of the 32³ grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bin {
    /// Mean colour of the points in the bin, in 0..=255 sRGB units.
    pub rgb: [f32; 3],
    /// The same colour in scaled Oklab (L 0..255, a and b ≈ ±80), for the a–b projection.
    pub lab: [f32; 3],
    /// The mean rounded to 8 bits: the colour a cell takes when this bin dominates it.
    pub colour: [u8; 3],
    /// Points (or pixels, for a weighted cloud) in the bin.
    pub count: u64,
}

/// A photo's colour distribution, ready to be projected.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ColourCloud {
    /// Occupied bins in grid order (deterministic).
    pub bins: Vec<Bin>,
    /// Sum of all counts.
    pub total: u64,
}

impl ColourCloud {
    /// Bins a list of colours (a pixel sample), each counting once.
    pub fn from_colours(colours: &[[u8; 3]]) -> ColourCloud {
        ColourCloud::from_weighted(colours.iter().map(|&c| (c, 1)))
    }

    /// Bins colours with weights, e.g. a palette with its pixel counts (the compressed image).
    pub fn from_weighted(colours: impl IntoIterator<Item = ([u8; 3], u64)>) -> ColourCloud {
        // Sums per bin; the grid is 32 768 entries, small next to a photo.
        let mut sums = vec![([0u64; 3], 0u64); BINS];
        for (c, w) in colours {
            if w == 0 {
                continue;
            }
            let key = (usize::from(c[0] >> BIN_SHIFT) << (2 * BIN_BITS))
                | (usize::from(c[1] >> BIN_SHIFT) << BIN_BITS)
                | usize::from(c[2] >> BIN_SHIFT);
            let slot = &mut sums[key];
            for (sum, &v) in slot.0.iter_mut().zip(&c) {
                *sum += u64::from(v) * w;
            }
            slot.1 += w;
        }
        let mut total = 0;
        let bins = sums
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|&(sum, count)| {
                total += count;
                #[allow(clippy::cast_precision_loss)] // sums of 8-bit values: exact enough
                let rgb = sum.map(|s| (s as f64 / count as f64) as f32);
                let colour = rgb.map(|v| v.round().clamp(0.0, 255.0) as u8);
                Bin {
                    rgb,
                    lab: srgb_to_oklab(colour),
                    colour,
                    count,
                }
            })
            .collect();
        ColourCloud { bins, total }
    }

    /// True when there is nothing to plot.
    pub fn is_empty(&self) -> bool {
        self.bins.is_empty()
    }
}

/// A tiny seeded generator (SplitMix64): deterministic across platforms, no dependency.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2⁻³² for photo sizes).
    fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        usize::try_from((u128::from(self.next()) * u128::from(n)) >> 64).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(width: u32, height: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Pixels {
        let rgb = (0..height)
            .flat_map(|y| (0..width).map(move |x| (x, y)))
            .map(|(x, y)| f(x, y))
            .collect();
        Pixels {
            width,
            height,
            rgb,
            alpha: None,
        }
    }

    #[test]
    fn sample_is_deterministic_and_sized() {
        let px = image(300, 200, |x, y| [x as u8, y as u8, 7]);
        let a = sample(&px, 1000, 1);
        assert_eq!(a.len(), 1000);
        assert_eq!(a, sample(&px, 1000, 1));
        assert_ne!(a, sample(&px, 1000, 2));
    }

    #[test]
    fn small_images_are_taken_whole() {
        let px = image(4, 4, |x, y| [x as u8, y as u8, 0]);
        assert_eq!(sample(&px, 1000, 1).len(), 16);
    }

    #[test]
    fn transparent_pixels_are_skipped() {
        let mut px = image(
            100,
            100,
            |x, _| if x < 50 { [255, 0, 0] } else { [0, 0, 255] },
        );
        px.alpha = Some(
            (0..10_000)
                .map(|i| if i % 100 < 50 { 0 } else { 255 })
                .collect(),
        );
        let s = sample(&px, 500, 3);
        assert_eq!(s.len(), 500);
        assert!(s.iter().all(|&c| c == [0, 0, 255]));
        // Fully transparent: a short (empty) sample, no hang.
        px.alpha = Some(vec![0; 10_000]);
        assert!(sample(&px, 500, 3).is_empty());
    }

    #[test]
    fn image_sample_matches_pixel_sample() {
        let px = image(300, 200, |x, y| [x as u8, y as u8, (x ^ y) as u8]);
        let img = DynamicImage::ImageRgb8(px.to_rgb_image());
        assert_eq!(sample_image(&img, 1000, 9), sample(&px, 1000, 9));
        let mut rgba = img.to_rgba8();
        rgba.pixels_mut().for_each(|p| p.0[3] = 0);
        assert!(sample_image(&DynamicImage::ImageRgba8(rgba), 1000, 9).is_empty());
    }

    #[test]
    fn nearest_palette_entry() {
        let palette = [[0, 0, 0], [255, 255, 255], [250, 0, 0]];
        assert_eq!(nearest(&palette, [200, 30, 20]), Some([250, 0, 0]));
        assert_eq!(nearest(&palette, [90, 90, 90]), Some([0, 0, 0]));
        assert_eq!(nearest(&[], [1, 2, 3]), None);
    }

    #[test]
    fn empty_image() {
        let px = image(0, 0, |_, _| [0; 3]);
        assert!(sample(&px, 10, 0).is_empty());
        assert!(ColourCloud::from_colours(&[]).is_empty());
    }

    #[test]
    fn bins_hold_mean_and_count() {
        let cloud = ColourCloud::from_colours(&[[0, 0, 0], [2, 2, 2], [255, 0, 0]]);
        assert_eq!(cloud.bins.len(), 2);
        assert_eq!(cloud.total, 3);
        assert_eq!(cloud.bins[0].rgb, [1.0, 1.0, 1.0]);
        assert_eq!(cloud.bins[0].count, 2);
        assert_eq!(cloud.bins[1].colour, [255, 0, 0]);
        let weighted = ColourCloud::from_weighted([([10, 20, 30], 5), ([1, 1, 1], 0)]);
        assert_eq!(weighted.bins.len(), 1);
        assert_eq!(weighted.total, 5);
    }
}
