//! The k-means colour quantization engine: pure, deterministic, rayon-parallel, no I/O.
//!
//! Pipeline, for an image and a k:
//! 1. [`Histogram`]: the distinct colours with their pixel counts (built once per image).
//! 2. Clustering of the distinct colours weighted by their counts, in sRGB or Oklab:
//!    greedy k-means++ seeding and Lloyd iterations on a coarse histogram (`coarse`), then
//!    Lloyd iterations on the exact distinct colours until no centroid moves more than
//!    `epsilon`: a SIMD scan of all centroids up to k = 64, Hamerly's bounds above
//!    (`kmeans`). Cancellation is checked and progress reported between iterations.
//! 3. The centroids are rounded to 8-bit sRGB and every distinct colour is assigned to its
//!    nearest entry of that rounded palette, so remapping the pixels is a table lookup (or
//!    Floyd–Steinberg dithering with an exact nearest search, `remap`).
//! 4. MSE and PSNR over all pixels and the three 8-bit channels; the palette sorted by share.
//!
//! Fully transparent pixels (alpha 0) are invisible: they weigh nothing in the clustering, the
//! error or the shares, though their colours still get the nearest entry.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use kquant::quant::{quantize, Control, Params, Pixels};
//! let px = Pixels::from_rgb_bytes(2, 1, &[255, 0, 0, 0, 0, 255]).ok_or("size mismatch")?;
//! let q = quantize(&px, &Params::new(16), &Control::none())?;
//! assert_eq!(q.palette.len(), 2);
//! assert!(q.psnr.is_infinite());
//! # Ok(())
//! # }
//! ```

// Lane- and channel-indexed loops over several arrays at once read better indexed, and
// vectorise the same.
#![allow(clippy::needless_range_loop)]

mod coarse;
mod color;
mod histogram;
mod kmeans;
mod pixels;
mod remap;
mod rng;
mod seed;

use std::fmt;

use image::RgbImage;
use rayon::prelude::*;

pub use color::{dist2, oklab_to_srgb_f32, srgb_to_oklab};
pub use histogram::{Histogram, HistogramBuilder};
pub use pixels::Pixels;

use crate::buffer::Buffer;
use coarse::{Coarse, LEVEL_BITS};
use histogram::{key, run_starts};
use kmeans::{Bound, Lloyd, Point};

/// Below this many distinct colours, seeding runs directly on them.
const COARSE_MIN_DISTINCT: usize = 16_384;
/// Largest points × k that seeding may run on.
const SEED_BUDGET: usize = 1 << 18;
/// Most k-means++ restarts on the seed level (fewer when points × k is large).
const MAX_RESTARTS: usize = 4;
/// Lloyd steps every restart runs before all but the one with the lowest error are dropped.
/// Measured on the 19 corpus photos at k = 8..64 against converging every restart: the same
/// PSNR on average (−0.004 dB; worst −0.13 dB, best +0.03), for about a quarter less
/// clustering time on 0.27 MP photos.
const TRIAL_ITERATIONS: u32 = 5;
/// Lloyd iterations on the exact distinct colours after the binned levels converged: their
/// gain is small (hundredths of a dB) and each costs a pass over every distinct colour.
const EXACT_ITERATIONS: u32 = 2;
/// A level also stops when an iteration lowers the error by less than this fraction: Lloyd's
/// long tail of tiny moves costs many iterations for no visible change (measured on the corpus
/// photos at k = 16..256: within 0.01–0.03 dB of running to epsilon, at half the time).
const MIN_IMPROVEMENT: f64 = 5e-4;
/// From this many pixels on, remapping builds a 16 MB colour → entry table; below, faulting
/// in and zeroing its pages costs more than finding each pixel's entry by its cell (`Cells`).
/// (Measured against the cells' forerunner, `Positions`: one-shot `compress` of a 0.27 MP
/// photo was 7–13% faster without the table; above, the table won, by 8 ms at k = 256 on a
/// 4 MP photo and 22 ms on a 20 MP one. The cells, cheaper, may move the line up.)
const TABLE_FROM_PIXELS: usize = 1 << 19;
/// Pixels per parallel chunk when remapping.
const PIXEL_CHUNK: usize = 1 << 16;

/// The space distances are measured in while clustering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ColorSpace {
    /// Plain 8-bit sRGB, as the original notebook did; maximises PSNR.
    #[default]
    Srgb,
    /// Oklab, a perceptual space: distances match what the eye sees better.
    Oklab,
}

impl fmt::Display for ColorSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColorSpace::Srgb => "sRGB",
            ColorSpace::Oklab => "Oklab",
        })
    }
}

/// What to compute.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Palette size, 1..=256 (clamped). An image with alpha gets one colour fewer (at least
    /// one): its PNG needs an entry for the fully transparent pixels, and that entry counts as
    /// one of the k, so the file keeps the bit depth of k.
    pub k: u16,
    pub space: ColorSpace,
    /// Floyd–Steinberg dithering when remapping.
    pub dither: bool,
    pub seed: u64,
    /// Iteration cap for each of the two levels (coarse, exact).
    pub max_iterations: u32,
    /// Converged when no centroid moves more than this (0..255 units), or when an iteration
    /// improves the error by less than 0.05%.
    pub epsilon: f32,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            k: 16,
            space: ColorSpace::Srgb,
            dither: false,
            seed: 0,
            max_iterations: 100,
            epsilon: 0.05,
        }
    }
}

impl Params {
    /// Defaults with the given k.
    pub fn new(k: u16) -> Params {
        Params {
            k,
            ..Params::default()
        }
    }
}

/// Reported after each Lloyd iteration.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    /// 1-based, counted across both levels.
    pub iteration: u32,
    /// The current centroids, as the nearest 8-bit sRGB colours.
    pub centroids: &'a [[u8; 3]],
    /// Weighted squared error (summed over pixels) of the current assignment, in the
    /// clustering space. Never increases from one iteration to the next.
    pub inertia: f64,
}

/// Cancellation and progress hooks, consulted between iterations.
#[derive(Clone, Copy, Default)]
pub struct Control<'a> {
    cancel: Option<&'a (dyn Fn() -> bool + Sync)>,
    progress: Option<&'a (dyn Fn(&Progress<'_>) + Sync)>,
}

impl<'a> Control<'a> {
    /// Never cancelled, reports nothing.
    pub fn none() -> Control<'static> {
        Control {
            cancel: None,
            progress: None,
        }
    }

    /// Both hooks.
    pub fn new(
        cancel: &'a (dyn Fn() -> bool + Sync),
        progress: &'a (dyn Fn(&Progress<'_>) + Sync),
    ) -> Control<'a> {
        Control {
            cancel: Some(cancel),
            progress: Some(progress),
        }
    }

    /// Only a cancellation check.
    pub fn cancel_only(cancel: &'a (dyn Fn() -> bool + Sync)) -> Control<'a> {
        Control {
            cancel: Some(cancel),
            progress: None,
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c())
    }
}

/// The work was cancelled through [`Control`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// A quantized image.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantized {
    pub width: u32,
    pub height: u32,
    /// Most used first; at most k entries and at most the number of distinct colours.
    pub palette: Vec<[u8; 3]>,
    /// Pixels per palette entry, same order.
    pub counts: Vec<u64>,
    /// One palette index per pixel, row-major.
    pub indices: Buffer<u8>,
    /// Mean squared error over all pixels (the visible ones, when some are fully transparent)
    /// and the three 8-bit RGB channels.
    pub mse: f64,
    /// `10·log10(255²/mse)`, infinite when lossless.
    pub psnr: f64,
    /// Lloyd iterations run (both levels).
    pub iterations: u32,
}

impl Quantized {
    /// The image with every pixel replaced by its palette colour.
    pub fn to_rgb_image(&self) -> RgbImage {
        let raw: Vec<u8> = self
            .indices
            .par_iter()
            .flat_map_iter(|&i| {
                self.palette
                    .get(usize::from(i))
                    .copied()
                    .unwrap_or_default()
            })
            .collect();
        RgbImage::from_raw(self.width, self.height, raw).unwrap_or_default()
    }
}

/// PSNR in dB for an MSE over 8-bit channels.
pub fn psnr(mse: f64) -> f64 {
    if mse <= 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// Quantizes `pixels` to at most `params.k` colours.
pub fn quantize(
    pixels: &Pixels,
    params: &Params,
    control: &Control,
) -> Result<Quantized, Cancelled> {
    let histogram = Histogram::new(pixels);
    quantize_with(pixels, &histogram, params, control)
}

/// Like [`quantize`], reusing a histogram built from the same `pixels`.
pub fn quantize_with(
    pixels: &Pixels,
    histogram: &Histogram,
    params: &Params,
    control: &Control,
) -> Result<Quantized, Cancelled> {
    // Run on a pool thread: every step below is a short parallel loop, and from a pool thread
    // each costs a cheap fork-join instead of a hand-off to the pool and back.
    rayon::scope(|_| quantize_in_pool(pixels, histogram, params, control))
}

fn quantize_in_pool(
    pixels: &Pixels,
    histogram: &Histogram,
    params: &Params,
    control: &Control,
) -> Result<Quantized, Cancelled> {
    let k = usize::from(params.k.clamp(1, 256));
    let k = if pixels.alpha.is_some() {
        (k - 1).max(1)
    } else {
        k
    };
    // Fully transparent pixels are invisible: their RGB must not take palette entries, nor
    // count in the error or the shares. The colours are weighted by their visible pixels; each
    // colour, hidden ones too, still gets its nearest entry (the RGB planes are shown as is).
    let hiding = pixels.alpha.as_deref().filter(|alpha| alpha.contains(&0));
    // Counting the visible pixels needs the colours' positions (which a small image's remap
    // reuses in the rare case the cells cannot serve it).
    let at = hiding.map(|_| histogram.positions());
    let shown = hiding
        .zip(at.as_ref())
        .map(|(alpha, at)| histogram.visible_counts(at, &pixels.rgb, alpha))
        .filter(|counts| counts.iter().any(|&n| n > 0));
    let visible = shown.as_deref().map(|counts| histogram.recounted(counts));
    let weights: &[u32] = shown.as_deref().unwrap_or(&histogram.counts);
    let shown_pixels = visible.as_ref().map_or(pixels.len(), Histogram::pixels);
    let clustering = || -> Result<Clustering, Cancelled> {
        let weighted = visible.as_ref().unwrap_or(histogram);
        let mut clustering = if weighted.distinct() <= k {
            // Few enough colours: keep them all, lossless. Indices fit u8 (at most k ≤ 256).
            let assign = (0..=u8::MAX).take(weighted.distinct()).collect();
            Clustering {
                palette: weighted.colours.clone(),
                assign,
                iterations: 0,
            }
        } else {
            cluster(weighted, k, params, control)?
        };
        if let Some(shown) = &shown {
            clustering.assign = widen(&histogram.colours, shown, &clustering, params.space);
        }
        Ok(clustering)
    };
    // Clustering is many short parallel steps with serial bits between them; in those gaps
    // another core faults in the remapping's output (13 MB for 13 MP).
    let small = pixels.len() < TABLE_FROM_PIXELS;
    let (clustering, buffer) = if params.dither {
        (clustering(), None)
    } else {
        let (c, b) = rayon::join(clustering, || Buffer::prefaulted(pixels.len()));
        (c, Some(b))
    };
    let Clustering {
        palette,
        assign,
        iterations,
    } = clustering?;
    let mut counts = vec![0u64; palette.len()];
    for (&a, &c) in assign.iter().zip(weights) {
        counts[usize::from(a)] += u64::from(c);
    }
    let (palette, counts, lut) = compact(&palette, &counts);
    let width = pixels.width;
    let height = pixels.height;
    if params.dither && palette.len() > 1 {
        // Fully transparent pixels neither take nor spread error, and are not counted.
        let hidden = |p: usize| {
            shown.is_some() && pixels.alpha.as_ref().is_some_and(|a| a.get(p) == Some(&0))
        };
        let raw = remap::dither(width as usize, &pixels.rgb, &hidden, &palette, params.space);
        let mut counts = vec![0u64; palette.len()];
        for (p, &entry) in raw.iter().enumerate() {
            if !hidden(p) {
                counts[usize::from(entry)] += 1;
            }
        }
        let (palette2, counts, lut) = compact(&palette, &counts);
        let indices: Buffer<u8> = raw
            .par_iter()
            .map(|&i| lut[usize::from(i)])
            .collect::<Vec<u8>>()
            .into();
        let sq: u64 = indices
            .par_chunks(PIXEL_CHUNK)
            .zip(pixels.rgb.par_chunks(PIXEL_CHUNK))
            .enumerate()
            .map(|(n, (i, p))| {
                i.iter()
                    .zip(p)
                    .enumerate()
                    .filter(|&(j, _)| !hidden(n * PIXEL_CHUNK + j))
                    .map(|(_, (&i, &c))| err2(c, palette2[usize::from(i)]))
                    .sum::<u64>()
            })
            .sum();
        let mse = mse_of(sq, shown_pixels);
        return Ok(Quantized {
            width,
            height,
            palette: palette2,
            counts,
            indices,
            mse,
            psnr: psnr(mse),
            iterations,
        });
    }
    let colour_index: Vec<u8> = assign.par_iter().map(|&a| lut[usize::from(a)]).collect();
    let mut indices = buffer.unwrap_or_else(|| Buffer::prefaulted(pixels.len()));
    if small {
        match Cells::new(&histogram.colours, &colour_index) {
            Some(cells) => map_into(&mut indices, &pixels.rgb, |c| cells.entry(c)),
            None => {
                let at = at.unwrap_or_else(|| histogram.positions());
                // Every pixel colour is in the histogram; `unwrap_or` only keeps this total.
                map_into(&mut indices, &pixels.rgb, |c| {
                    at.find(c)
                        .and_then(|i| colour_index.get(i).copied())
                        .unwrap_or(0)
                });
            }
        }
    } else {
        // A 16 MB colour → entry table: one lookup per pixel, spread over the cores. The
        // colours are sorted, so those of one red fill one 64 KiB slab, and the slabs (and
        // their page faults, only where colours are) are filled side by side. On the heap, not
        // in huge pages: those would be zeroed whole wherever one colour lands, and a warm
        // process reuses heap memory (Dragonfly k=256: same cold, quant stage 5-15 ms faster
        // warm than a `Buffer`).
        let reds = run_starts(&histogram.colours, 256, |c| usize::from(c[0]));
        let mut table = vec![0u8; 1 << 24];
        table
            .par_chunks_mut(1 << 16)
            .enumerate()
            .for_each(|(r, slab)| {
                let run = reds[r]..reds[r + 1];
                for (&c, &i) in histogram.colours[run.clone()]
                    .iter()
                    .zip(&colour_index[run])
                {
                    slab[key(c) & 0xffff] = i;
                }
            });
        map_into(&mut indices, &pixels.rgb, |c| {
            table.get(key(c)).copied().unwrap_or(0)
        });
    }
    // Whole numbers: the sum is the same in any order.
    let sq: u64 = histogram
        .colours
        .par_iter()
        .zip(weights)
        .zip(&colour_index)
        .map(|((&c, &n), &i)| u64::from(n) * err2(c, palette[usize::from(i)]))
        .sum();
    let mse = mse_of(sq, shown_pixels);
    Ok(Quantized {
        width,
        height,
        palette,
        counts,
        indices,
        mse,
        psnr: psnr(mse),
        iterations,
    })
}

/// The palette entry of every colour of a small image, by 4×4×4 cell (top 6 bits of each
/// channel). Most cells' colours all have the same entry (at k = 16, 95% of a photo's cells,
/// holding ~90% of its pixels): the cell's slot in a 512 KiB table holds it. The few others
/// point to a block of 64 entries, one per colour of the cell. Both stay in the L2 cache,
/// where finding each pixel's colour among the histogram's (`Positions`, 1.3 MB to make for
/// a 0.27 MP photo) missed it.
struct Cells {
    table: Vec<u16>,
    blocks: Vec<[u8; 64]>,
}

/// A table slot: below it, one past the entry of the whole cell; from it on, a block's number
/// past it.
const MIXED: u16 = 257;
/// A slot of a cell with no colour: zero, so the table is fresh zeroed pages, and only those
/// of the cells the colours fall in are faulted in (by the cores side by side).
const EMPTY: u16 = 0;

impl Cells {
    /// `colours` sorted, as the histogram keeps them, with the entry of each. `None` when the
    /// mixed cells are too many to number in a slot (never seen in a photo).
    fn new(colours: &[[u8; 3]], entries: &[u8]) -> Option<Cells> {
        let starts = run_starts(colours, 64, |c| usize::from(c[0] >> 2));
        let mut table = vec![EMPTY; 1 << 18];
        // Colours of one red cell fill their own 4096 slots: the slabs side by side, each
        // numbering its blocks from 0, and listing the slots that point to them.
        let blocks: Vec<(Vec<[u8; 64]>, Vec<u16>)> = table
            .par_chunks_mut(1 << 12)
            .zip(starts.par_windows(2))
            .map(|(slab, run)| {
                let mut blocks: Vec<[u8; 64]> = Vec::new();
                let mut mixed: Vec<u16> = Vec::new();
                if run[0] < run[1] {
                    // Written before it is read: a fresh page read first is mapped to the
                    // zero page, then faulted again (and flushed from the other core's TLB)
                    // on the first write.
                    slab.fill(EMPTY);
                }
                for (&c, &e) in colours[run[0]..run[1]].iter().zip(&entries[run[0]..run[1]]) {
                    let at = Cells::key(c) & 0xfff;
                    let slot = &mut slab[at];
                    match *slot {
                        EMPTY => *slot = u16::from(e) + 1,
                        same if same == u16::from(e) + 1 => {}
                        // Every colour so far had that one entry.
                        whole if whole < MIXED => {
                            let n = u16::try_from(blocks.len()).ok()?.checked_add(MIXED)?;
                            #[allow(clippy::cast_possible_truncation)]
                            blocks.push([(whole - 1) as u8; 64]);
                            *slot = n;
                            // Below 4096.
                            #[allow(clippy::cast_possible_truncation)]
                            mixed.push(at as u16);
                            blocks.last_mut()?[Cells::within(c)] = e;
                        }
                        block => blocks[usize::from(block - MIXED)][Cells::within(c)] = e,
                    }
                }
                Some((blocks, mixed))
            })
            .collect::<Option<_>>()?;
        // Number the blocks across the slabs, if their slots can.
        let total: usize = blocks.iter().map(|(_, mixed)| mixed.len()).sum();
        u16::try_from(total).ok()?.checked_add(MIXED - 1)?;
        let mut first = 0u16;
        for ((_, mixed), slab) in blocks.iter().zip(table.chunks_mut(1 << 12)) {
            for &at in mixed {
                slab[usize::from(at)] += first;
            }
            first += u16::try_from(mixed.len()).ok()?;
        }
        Some(Cells {
            table,
            blocks: blocks.into_iter().flat_map(|(b, _)| b).collect(),
        })
    }

    /// The entry of `c`, one of the colours the table was made from.
    #[inline]
    fn entry(&self, c: [u8; 3]) -> u8 {
        match self.table.get(Cells::key(c)).copied().unwrap_or(0) {
            // Below 257.
            #[allow(clippy::cast_possible_truncation)]
            whole if whole < MIXED => whole.saturating_sub(1) as u8,
            block => self
                .blocks
                .get(usize::from(block - MIXED))
                .map_or(0, |b| b[Cells::within(c)]),
        }
    }

    fn key(c: [u8; 3]) -> usize {
        (usize::from(c[0] >> 2) << 12) | (usize::from(c[1] >> 2) << 6) | usize::from(c[2] >> 2)
    }

    /// A colour's place among its cell's 64.
    fn within(c: [u8; 3]) -> usize {
        (usize::from(c[0] & 3) << 4) | (usize::from(c[1] & 3) << 2) | usize::from(c[2] & 3)
    }
}

/// `f` of every colour of `rgb` into `out`, chunk by chunk over the cores.
fn map_into<T: Send>(out: &mut [T], rgb: &[[u8; 3]], f: impl Fn([u8; 3]) -> T + Sync) {
    out.par_chunks_mut(PIXEL_CHUNK)
        .zip(rgb.par_chunks(PIXEL_CHUNK))
        .for_each(|(out, rgb)| {
            for (o, &c) in out.iter_mut().zip(rgb) {
                *o = f(c);
            }
        });
}

fn err2(a: [u8; 3], b: [u8; 3]) -> u64 {
    (0..3).map(|c| u64::from(a[c].abs_diff(b[c])).pow(2)).sum()
}

fn mse_of(sq: u64, pixels: usize) -> f64 {
    if pixels == 0 {
        return 0.0;
    }
    // Exact enough: both are far below 2^53 for any image we accept.
    #[allow(clippy::cast_precision_loss)]
    let v = sq as f64 / (3.0 * pixels as f64);
    v
}

/// Sorts a palette by count (then colour), drops unused entries and merges duplicates.
/// Returns the new palette, counts, and a table from old to new index.
fn compact(palette: &[[u8; 3]], counts: &[u64]) -> (Vec<[u8; 3]>, Vec<u64>, Vec<u8>) {
    let mut merged: Vec<([u8; 3], u64, Vec<usize>)> = Vec::new();
    let mut by_colour: Vec<usize> = (0..palette.len()).filter(|&i| counts[i] > 0).collect();
    by_colour.sort_by_key(|&i| palette[i]);
    for i in by_colour {
        match merged.last_mut() {
            Some(m) if m.0 == palette[i] => {
                m.1 += counts[i];
                m.2.push(i);
            }
            _ => merged.push((palette[i], counts[i], vec![i])),
        }
    }
    merged.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut lut = vec![0u8; palette.len()];
    for (new, m) in merged.iter().enumerate() {
        for &old in &m.2 {
            // At most 256 entries.
            lut[old] = u8::try_from(new).unwrap_or(u8::MAX);
        }
    }
    (
        merged.iter().map(|m| m.0).collect(),
        merged.iter().map(|m| m.1).collect(),
        lut,
    )
}

/// The outcome of clustering: palette (rounded centroids), the palette entry of every distinct
/// colour, and the iterations run.
struct Clustering {
    palette: Vec<[u8; 3]>,
    assign: Vec<u8>,
    iterations: u32,
}

/// Clusters the distinct colours into `k` (< distinct) groups. Returns the palette (rounded
/// centroids), the palette entry of every distinct colour, and the iterations run.
///
/// Coarse-to-fine: seeding and most iterations run on binned histograms (5 then 6 bits per
/// channel), each level warm-started from the one before (with its Hamerly bounds carried
/// over, where k is large enough to use them); the exact distinct colours come last.
fn cluster(
    histogram: &Histogram,
    k: usize,
    params: &Params,
    control: &Control,
) -> Result<Clustering, Cancelled> {
    let colours = &histogram.colours;
    match params.space {
        // The colours' own bytes are their sRGB coordinates: no copy as floats (a megabyte of
        // fresh memory for a 0.27 MP photo, the 13 MP one's 419 000 colours five).
        ColorSpace::Srgb => cluster_on(histogram, colours, k, params, control),
        ColorSpace::Oklab => {
            // Megabytes of fresh memory for a big image: in huge pages, as the other
            // per-image buffers.
            let mut points: Buffer<[f32; 3]> = Buffer::zeroed(colours.len());
            map_into(&mut points, colours, |c| ColorSpace::Oklab.point(c));
            cluster_on(histogram, &points, k, params, control)
        }
    }
}

/// [`cluster`] with `points`, the distinct colours in the clustering space.
fn cluster_on<P: Point>(
    histogram: &Histogram,
    points: &[P],
    k: usize,
    params: &Params,
    control: &Control,
) -> Result<Clustering, Cancelled> {
    let space = params.space;
    let colours = &histogram.colours;
    let counts = &histogram.counts;
    let cancelled = || control.is_cancelled();
    let mut iterations = 0u32;
    let mut report = |centroids: &[[f32; 3]], inertia: f64| -> Result<(), Cancelled> {
        iterations += 1;
        if control.is_cancelled() {
            return Err(Cancelled);
        }
        if let Some(progress) = control.progress {
            let rgb: Vec<[u8; 3]> = centroids.iter().map(|&c| space.rgb(c)).collect();
            progress(&Progress {
                iteration: iterations,
                centroids: &rgb,
                inertia,
            });
        }
        Ok(())
    };

    // Seeding runs on the finest level k-means++ can afford (its cost is points × k × trials),
    // or else on the coarsest: finer seeds find better optima at small k, where the choice of
    // optimum matters most. So the levels are made finest first, none coarser than the one
    // seeding is made at all, and `levels` ends coarsest first. In sRGB the histogram's bin
    // sums give a level's points; a level is made from the colours only where the bin of
    // every colour is needed (to carry bounds between levels) or the space is not sRGB.
    let from_sums = space == ColorSpace::Srgb && !kmeans::uses_bounds(k);
    let mut chosen: Vec<usize> = Vec::new();
    if colours.len() > COARSE_MIN_DISTINCT {
        for l in (0..LEVEL_BITS.len()).rev() {
            let bins = histogram.bins.len(l);
            // A level must leave room for k distinct seeds and actually shrink the problem.
            if bins >= 4 * k && bins * 2 <= colours.len() {
                chosen.insert(0, l);
                if bins * k <= SEED_BUDGET {
                    break;
                }
            }
        }
    }
    let make = |l: usize| {
        if from_sums {
            Coarse::srgb(&histogram.bins, l)
        } else {
            Coarse::new(colours, counts, points, LEVEL_BITS[l])
        }
    };
    // Only the seed level is needed first: the finer ones are made while it is seeded and
    // converged (below), on whichever core is free.
    let seed_level = chosen.first().map(|&l| make(l));

    // Seeding takes points as floats: the colours' own, when no level is coarse enough.
    let exact_f32 = P::floats(if seed_level.is_none() { points } else { &[] });
    let (sp, sw, scatter) = match &seed_level {
        Some(l) => (&l.points[..], &l.weights[..], l.scatter),
        None => (&exact_f32[..], &counts[..], 0.0),
    };

    // Several k-means++ restarts on the seed level when it is cheap: k-means only finds a local
    // optimum, and at small k they differ by tenths of a dB. Each restart runs a few Lloyd
    // steps, then only the one with the lowest error goes on to convergence (by then the
    // ranking has mostly settled, and converging every restart cost twice the time). The seeds
    // are drawn in turn from one generator; the runs then go side by side, so the cores share
    // whole runs rather than fork-joining every small step. Restarts report nothing (their
    // errors are not one descending sequence).
    let restarts = (SEED_BUDGET * 4 / (sp.len() * k).max(1)).clamp(1, MAX_RESTARTS);
    let mut rng = rng::Rng::new(params.seed);
    let seeding = seed::Seeding::new(sp, sw);
    let seeded = || -> Result<Lloyd<'_>, Cancelled> {
        if restarts == 1 {
            let init = seeding.kmeans_pp(k, &mut rng, &cancelled)?;
            let mut lloyd = Lloyd::new(sp, sw, init);
            converge(
                &mut lloyd,
                params.max_iterations,
                params.epsilon,
                &mut |c: &[[f32; 3]], e| report(c, e + scatter),
            )?;
            return Ok(lloyd);
        }
        // Seeds as if drawn in turn from one generator, computed side by side: a seed that
        // finds all k centroids always draws the same count of numbers, so each restart's
        // generator starts that many draws further on. One that found fewer drew fewer; the
        // seeds after it are then drawn again in turn.
        let mut inits = (0..restarts)
            .into_par_iter()
            .map(|r| {
                let mut rng = rng.clone();
                rng.advance(r as u64 * seed::draws(k, k));
                seeding.kmeans_pp(k, &mut rng, &cancelled)
            })
            .collect::<Result<Vec<_>, Cancelled>>()?;
        if let Some(short) = inits.iter().position(|init| init.len() < k) {
            let drawn: u64 = inits[..=short]
                .iter()
                .map(|i| seed::draws(i.len(), k))
                .sum();
            rng.advance(drawn);
            for init in &mut inits[short + 1..] {
                *init = seeding.kmeans_pp(k, &mut rng, &cancelled)?;
            }
        }
        let silent = |_: &[[f32; 3]], _| {
            if control.is_cancelled() {
                Err(Cancelled)
            } else {
                Ok(())
            }
        };
        let trial = params.max_iterations.min(TRIAL_ITERATIONS);
        let runs = inits
            .into_par_iter()
            .map(|init| {
                let mut lloyd = Lloyd::new(sp, sw, init);
                let mut silent = silent;
                let run = converge(&mut lloyd, trial, params.epsilon, &mut silent)?;
                Ok((run, lloyd))
            })
            .collect::<Result<Vec<_>, Cancelled>>()?;
        // The first lowest error wins, as when the runs went one after another.
        let best = runs.into_iter().reduce(|best, run| {
            if run.0.inertia < best.0.inertia {
                run
            } else {
                best
            }
        });
        let Some((run, mut lloyd)) = best else {
            return Err(Cancelled);
        };
        report(&lloyd.centroids, run.inertia + scatter)?;
        if !run.converged {
            converge(
                &mut lloyd,
                params.max_iterations - trial,
                params.epsilon,
                &mut |c: &[[f32; 3]], e| report(c, e + scatter),
            )?;
        }
        Ok(lloyd)
    };
    let (lloyd, finer) = rayon::join(seeded, || {
        chosen
            .iter()
            .skip(1)
            .map(|&l| make(l))
            .collect::<Vec<Coarse>>()
    });
    let mut lloyd = lloyd?;
    let levels: Vec<&Coarse> = seed_level.iter().chain(&finer).collect();

    for li in 1..levels.len() {
        let level = levels[li];
        let (lp, lw) = (&level.points[..], &level.weights[..]);
        lloyd = next_level(lloyd, levels[li - 1], Some(&level.bin_of), lp, lw);
        converge(
            &mut lloyd,
            params.max_iterations,
            params.epsilon,
            &mut |c: &[[f32; 3]], e| report(c, e + level.scatter),
        )?;
    }
    let (palette, assign) = match levels.last() {
        None => finish(lloyd, space),
        Some(&last) => {
            let mut exact = next_level(lloyd, last, None, points, counts);
            converge(
                &mut exact,
                params.max_iterations.min(EXACT_ITERATIONS),
                params.epsilon,
                &mut report,
            )?;
            finish(exact, space)
        }
    };
    Ok(Clustering {
        palette,
        assign,
        iterations,
    })
}

/// A run on the level after `prev` (`next_bin_of` its bins; `None` for the distinct colours
/// themselves) from where `lloyd` left `prev`: bounds are carried over where its search keeps
/// them. (By the centroids found: a seeding short of k may leave few enough to scan.)
fn next_level<'b, Q: Point>(
    mut lloyd: Lloyd<'_>,
    prev: &Coarse,
    next_bin_of: Option<&[u32]>,
    points: &'b [Q],
    weights: &'b [u32],
) -> Lloyd<'b, Q> {
    let known = kmeans::uses_bounds(lloyd.centroids.len()).then(|| {
        lloyd.settle();
        let parent = parent_bins(&prev.bin_of, next_bin_of, points.len());
        transfer(&lloyd.labels, &lloyd.bounds, &prev.points, points, &parent)
    });
    lloyd.into_level(points, weights, known)
}

/// Rounds the centroids to what the PNG can hold, then gives every point its nearest rounded
/// entry: the palette and each point's entry.
fn finish<P: Point>(mut lloyd: Lloyd<'_, P>, space: ColorSpace) -> (Vec<[u8; 3]>, Vec<u8>) {
    let palette: Vec<[u8; 3]> = lloyd.centroids.iter().map(|&c| space.rgb(c)).collect();
    let rounded: Vec<[f32; 3]> = palette.iter().map(|&c| space.point(c)).collect();
    lloyd.move_to(&rounded);
    lloyd.assign();
    (palette, lloyd.labels)
}

/// The entry of each of `colours`, from a clustering of those with a non-zero `shown` count
/// (in order, as [`Histogram::recounted`] keeps them): a colour seen only under transparent
/// pixels gets its nearest entry.
fn widen(
    colours: &[[u8; 3]],
    shown: &[u32],
    clustering: &Clustering,
    space: ColorSpace,
) -> Vec<u8> {
    let mut clustered = clustering.assign.iter();
    let mut hidden = Vec::new();
    let mut assign: Vec<u8> = shown
        .iter()
        .enumerate()
        .map(
            |(i, &n)| match (n > 0).then(|| clustered.next()).flatten() {
                Some(&a) => a,
                None => {
                    hidden.push(i);
                    0
                }
            },
        )
        .collect();
    let nearest = remap::Nearest::new(&clustering.palette, space);
    let found: Vec<u8> = hidden
        .par_iter()
        .map(|&i| nearest.find(space.point(colours[i])))
        .collect();
    for (&i, a) in hidden.iter().zip(found) {
        assign[i] = a;
    }
    assign
}

/// Called after each Lloyd step with the centroids and the error; `Err` stops the run.
type Report<'a> = dyn FnMut(&[[f32; 3]], f64) -> Result<(), Cancelled> + 'a;

/// How a [`converge`] call ended.
#[derive(Clone, Copy, Debug)]
struct Run {
    /// The last step's error.
    inertia: f64,
    /// Stopped because it converged rather than at the step cap.
    converged: bool,
}

/// Lloyd steps until no centroid moves more than `epsilon`, the error improves by less than
/// `MIN_IMPROVEMENT`, or `cap` steps.
fn converge<P: Point>(
    lloyd: &mut Lloyd<'_, P>,
    cap: u32,
    epsilon: f32,
    report: &mut Report<'_>,
) -> Result<Run, Cancelled> {
    let mut run = Run {
        inertia: f64::INFINITY,
        converged: false,
    };
    for _ in 0..cap {
        let step = lloyd.step();
        report(&lloyd.centroids, step.inertia)?;
        run.converged = step.max_move <= epsilon
            || run.inertia - step.inertia <= MIN_IMPROVEMENT * step.inertia;
        run.inertia = step.inertia;
        if run.converged {
            break;
        }
    }
    Ok(run)
}

/// For each point of the next level, its bin in the previous level. `prev_bin_of` maps distinct
/// colours to previous-level bins, `next_bin_of` distinct colours to next-level bins (`None`
/// when the next level is the distinct colours themselves).
fn parent_bins(prev_bin_of: &[u32], next_bin_of: Option<&[u32]>, next_len: usize) -> Vec<u32> {
    match next_bin_of {
        None => prev_bin_of.to_vec(),
        Some(next) => {
            let mut parent = vec![0u32; next_len];
            for (&n, &p) in next.iter().zip(prev_bin_of) {
                parent[n as usize] = p;
            }
            parent
        }
    }
}

/// Starting bounds for a finer level: each point starts in its parent bin's cluster; by the
/// triangle inequality its distance `r` to the parent's mean loosens the parent's bounds: the
/// upper grows by `r`, the lower (to every other centroid) shrinks by `r`. A point still inside
/// them keeps its centroid without a distance computed.
fn transfer<P: Point>(
    prev_labels: &[u8],
    prev: &[Bound],
    prev_points: &[[f32; 3]],
    points: &[P],
    parent: &[u32],
) -> (Vec<u8>, Vec<Bound>) {
    points
        .par_iter()
        .zip(parent.par_iter())
        .map(|(&p, &b)| {
            let b = b as usize;
            let pb = prev[b];
            let r = dist2(p.xyz(), prev_points[b]).sqrt();
            let bound = Bound {
                upper: pb.upper + r,
                lower: (pb.lower - r).max(0.0),
            };
            (prev_labels[b], bound)
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_colour_finds_its_own_entry_by_cell() {
        // Cells of one colour, of several sharing an entry, and mixed ones (entries that
        // would be the marks' values included), over every red cell.
        let mut rng = rng::Rng::new(3);
        let mut colours: Vec<[u8; 3]> = (0..20_000)
            .map(|_| {
                let v = rng.next_u64().to_le_bytes();
                [v[0], v[1], v[2]]
            })
            .collect();
        colours.sort_unstable_by_key(|&c| key(c));
        colours.dedup();
        let entries: Vec<u8> = colours
            .iter()
            .map(|&c| match c[0] % 4 {
                0 => c[0] / 64,
                1 => 255 - (c[2] & 1),
                _ => c[1] ^ c[2],
            })
            .collect();
        let cells = Cells::new(&colours, &entries).unwrap();
        assert!(!cells.blocks.is_empty() && cells.blocks.len() < 4000);
        for (&c, &e) in colours.iter().zip(&entries) {
            assert_eq!(cells.entry(c), e, "{c:?}");
        }
    }

    #[test]
    fn too_many_mixed_cells_to_number_make_no_table() {
        // 65 300 cells of two colours with different entries.
        let mut colours: Vec<[u8; 3]> = (0..65_300u32)
            .flat_map(|cell| {
                let c = [12, 6, 0].map(|shift| (((cell >> shift) & 63) << 2) as u8);
                [c, [c[0], c[1], c[2] + 1]]
            })
            .collect();
        colours.sort_unstable_by_key(|&c| key(c));
        let entries: Vec<u8> = (0..colours.len()).map(|i| (i % 2) as u8).collect();
        assert!(Cells::new(&colours, &entries).is_none());
        // A few cells fewer fit.
        let fewer = 2 * 65_000;
        assert!(Cells::new(&colours[..fewer], &entries[..fewer]).is_some());
    }
}
