//! A coarse histogram: distinct colours pooled into bins of `2^(8-bits)` levels per channel,
//! each bin represented by the weighted mean of its colours (in the clustering space) and their
//! total weight. k-means++ seeding and the first Lloyd iterations run here, on tens of thousands
//! of bins instead of up to millions of distinct colours; the exact level then only polishes.
//!
//! In sRGB, a bin's mean is its integer sums over its weight. Those are summed when the
//! histogram is counted ([`BinSums`]), each run of a few reds' colours as it is copied into
//! place, so such a level costs one step per bin and no pass over the colours. Only the bounds carried from level to level (k > 64) need the bin of every
//! colour, and Oklab needs the means of transformed colours: those make a level from the
//! colours ([`Coarse::new`]).

use rayon::prelude::*;

use super::histogram::run_starts;
use super::kmeans::Point;

/// Bin resolutions (bits per channel) of the coarse levels, coarsest first.
pub(crate) const LEVEL_BITS: [u32; 2] = [5, 6];

/// For each coarse level, the integer sums of every bin, in order of first colour (the order
/// [`Coarse::new`] numbers them in), in runs of consecutive colours summed apart.
#[derive(Clone, Debug, Default)]
pub(crate) struct BinSums {
    levels: [Vec<Vec<BinSum>>; 2],
    /// Weighted squared norm of all the colours.
    norm2: u64,
}

/// A bin's weighted red, green and blue sums and its weight: exact in any order, and below
/// 2^53 for any image accepted, so their `f64`s are exact too.
type BinSum = [u64; 4];

impl BinSums {
    /// Number of bins of level `level` (an index into [`LEVEL_BITS`]).
    pub fn len(&self, level: usize) -> usize {
        self.levels[level].iter().map(Vec::len).sum()
    }

    /// Appends the sums of the colours that follow those already summed, from the first
    /// colour of a red bin at every level.
    pub fn push(&mut self, run: BinSums) {
        let BinSums { levels, norm2 } = run;
        for (all, part) in self.levels.iter_mut().zip(levels) {
            all.extend(part);
        }
        self.norm2 += norm2;
    }

    /// The sums of `colours` with `counts`. The colours are sorted by packed RGB value, and
    /// those of a red bin at any level are all here or none. `slots` is scratch, kept by a
    /// task from one call to the next. Only the finest level is summed from the colours; each
    /// coarser bin is the sum of the finer bins inside it, a pass over bins instead of colours.
    pub fn of(colours: &[[u8; 3]], counts: &[u32], slots: &mut Slots) -> BinSums {
        const { assert!(LEVEL_BITS[0] <= LEVEL_BITS[1]) };
        let [coarse_bits, fine_bits] = LEVEL_BITS;
        let norm2 = |c: [u8; 3]| c.map(|v| u64::from(v).pow(2)).iter().sum::<u64>();
        let norm2 = colours
            .iter()
            .zip(counts)
            .map(|(&c, &w)| u64::from(w) * norm2(c))
            .sum();
        let Slots { tables, used } = slots;
        let [coarse_slot, fine_slot] = tables;
        let [coarse_used, fine_used] = used;
        // Room for the bins of one coarse red run (and no more than colours): a call gets
        // one from the histogram's counting, and room past that would be fresh pages.
        let mut fine: Vec<BinSum> =
            Vec::with_capacity(colours.len().min(1 << (3 * fine_bits - coarse_bits)));
        let mut coarse: Vec<BinSum> = Vec::with_capacity(colours.len().min(1 << (2 * coarse_bits)));
        let fine_key = |c: [u8; 3]| {
            let shift = 8 - fine_bits;
            (usize::from(c[1] >> shift) << fine_bits) | usize::from(c[2] >> shift)
        };
        let coarser = |key: usize| {
            let d = fine_bits - coarse_bits;
            (((key >> fine_bits) >> d) << coarse_bits) | ((key & ((1 << fine_bits) - 1)) >> d)
        };
        for coarse_run in red_runs(colours, 8 - coarse_bits) {
            let first_coarse = coarse.len();
            for run in red_runs(&colours[coarse_run.clone()], 8 - fine_bits) {
                let run = coarse_run.start + run.start..coarse_run.start + run.end;
                let first_fine = fine.len();
                let weighted = colours[run.clone()]
                    .iter()
                    .zip(&counts[run])
                    .map(|(&c, &w)| {
                        let w = u64::from(w);
                        (fine_key(c), [c[0], c[1], c[2], 1].map(|v| w * u64::from(v)))
                    });
                add_to_bins(weighted, fine_slot, fine_used, &mut fine, first_fine);
                // The finer bins are numbered in order of their first colour, so adding them in
                // that order numbers the coarser ones in order of theirs, as from the colours.
                let summed = fine_used.iter().zip(&fine[first_fine..]);
                add_to_bins(
                    summed.map(|(&key, &sums)| (coarser(key), sums)),
                    coarse_slot,
                    coarse_used,
                    &mut coarse,
                    first_coarse,
                );
                clear_slots(fine_slot, fine_used);
            }
            clear_slots(coarse_slot, coarse_used);
        }
        // The histogram keeps these for every k: no room reserved past what was used.
        coarse.shrink_to_fit();
        fine.shrink_to_fit();
        BinSums {
            levels: [vec![coarse], vec![fine]],
            norm2,
        }
    }

    /// [`BinSums::of`] for any sorted colours, the runs of each coarsest red bin side by side.
    pub fn of_sorted(colours: &[[u8; 3]], counts: &[u32]) -> BinSums {
        let shift = 8 - LEVEL_BITS[0];
        let starts = run_starts(colours, 1 << LEVEL_BITS[0], |c| usize::from(c[0] >> shift));
        let runs: Vec<BinSums> = starts
            .par_windows(2)
            .map_init(Slots::new, |slots, run| {
                BinSums::of(&colours[run[0]..run[1]], &counts[run[0]..run[1]], slots)
            })
            .collect();
        let mut all = BinSums::default();
        for run in runs {
            all.push(run);
        }
        all
    }
}

/// Scratch for [`BinSums::of`]: a (green, blue) slot table per level, all `u32::MAX`
/// between calls, and the slots used of each. Bins never straddle a red bin, so each run of
/// colours sharing one is summed in a table small enough for the L1 cache.
pub(crate) struct Slots {
    tables: [Vec<u32>; 2],
    used: [Vec<usize>; 2],
}

impl Slots {
    pub fn new() -> Slots {
        Slots {
            tables: LEVEL_BITS.map(|bits| vec![u32::MAX; 1 << (2 * bits)]),
            used: [Vec::new(), Vec::new()],
        }
    }
}

/// Adds each `(key, sums)` into its bin in `part`: the bins from `first` on, numbered from
/// there in order of their first key (`slot[key]`, `u32::MAX` for none yet), keys first seen
/// appended to `used`.
fn add_to_bins(
    items: impl Iterator<Item = (usize, BinSum)>,
    slot: &mut [u32],
    used: &mut Vec<usize>,
    part: &mut Vec<BinSum>,
    first: usize,
) {
    for (key, sums) in items {
        let mut s = slot[key];
        if s == u32::MAX {
            // At most 2^21 bins.
            #[allow(clippy::cast_possible_truncation)]
            let next = (part.len() - first) as u32;
            s = next;
            slot[key] = s;
            part.push([0; 4]);
            used.push(key);
        }
        let bin = &mut part[first + s as usize];
        for (b, v) in bin.iter_mut().zip(sums) {
            *b += v;
        }
    }
}

/// Empties the slots `used` lists, and the list.
fn clear_slots(slot: &mut [u32], used: &mut Vec<usize>) {
    for &key in used.iter() {
        slot[key] = u32::MAX;
    }
    used.clear();
}

/// The runs of sorted `colours` whose reds agree above the low `shift` bits.
fn red_runs(colours: &[[u8; 3]], shift: u32) -> impl Iterator<Item = std::ops::Range<usize>> {
    let mut from = 0;
    std::iter::from_fn(move || {
        let red = colours.get(from)?[0] >> shift;
        let to = from + colours[from..].partition_point(|c| c[0] >> shift == red);
        Some(std::mem::replace(&mut from, to)..to)
    })
}

/// Bins at a given resolution, with the bin of every distinct colour (empty when made from
/// [`BinSums`]).
pub(crate) struct Coarse {
    pub points: Vec<[f32; 3]>,
    pub weights: Vec<u32>,
    /// For each distinct colour, the index of its bin in `points`.
    pub bin_of: Vec<u32>,
    /// Weighted squared distance of the colours to their bin means. Constant, so adding it to
    /// the coarse inertia gives the error of the same assignment on the exact colours.
    pub scatter: f64,
}

/// The bins of the colours whose red falls in one bin: they never share a bin with others.
#[derive(Default)]
struct Slab {
    points: Vec<[f32; 3]>,
    weights: Vec<u32>,
    /// Bin of each colour, counted from the slab's first bin.
    bin_of: Vec<u32>,
    norm2: f64,
    means_norm2: f64,
}

impl Coarse {
    /// `colours` must be sorted by packed RGB value, as [`super::Histogram`] keeps them. Bins
    /// are numbered in order of their first colour.
    pub fn new<P: Point>(colours: &[[u8; 3]], counts: &[u32], points: &[P], bits: u32) -> Coarse {
        let shift = 8 - bits;
        // Sorted colours come in runs of one red bin each; every run is binned on its own in a
        // (green, blue) slot table small enough for the L1 cache, the runs side by side.
        let starts = run_starts(colours, 1 << bits, |c| usize::from(c[0] >> shift));
        let slabs: Vec<Slab> = starts
            .par_windows(2)
            .map_init(
                || vec![u32::MAX; 1 << (2 * bits)],
                |slot, run| {
                    let range = run[0]..run[1];
                    slab(
                        &colours[range.clone()],
                        &counts[range.clone()],
                        &points[range],
                        shift,
                        slot,
                    )
                },
            )
            .collect();
        let bins = slabs.iter().map(|s| s.points.len()).sum();
        let mut coarse = Coarse {
            points: Vec::with_capacity(bins),
            weights: Vec::with_capacity(bins),
            bin_of: Vec::with_capacity(colours.len()),
            scatter: 0.0,
        };
        let (mut norm2, mut means_norm2) = (0.0, 0.0);
        for s in slabs {
            // At most 2^21 bins.
            #[allow(clippy::cast_possible_truncation)]
            let first = coarse.points.len() as u32;
            coarse.bin_of.extend(s.bin_of.iter().map(|&b| first + b));
            coarse.points.extend_from_slice(&s.points);
            coarse.weights.extend_from_slice(&s.weights);
            norm2 += s.norm2;
            means_norm2 += s.means_norm2;
        }
        coarse.scatter = (norm2 - means_norm2).max(0.0);
        coarse
    }
}

/// Bins one run of colours sharing a red bin. `slot` is all `u32::MAX` on entry and on exit.
fn slab<P: Point>(
    colours: &[[u8; 3]],
    counts: &[u32],
    points: &[P],
    shift: u32,
    slot: &mut [u32],
) -> Slab {
    let bits = 8 - shift;
    // Per bin: weighted coordinate sums, weight, and weighted squared norm. The norm is summed
    // per bin rather than in one running total, which was a chain of dependent adds through
    // every colour (a quarter to a third of the time).
    let mut sums: Vec<[f64; 5]> = Vec::new();
    let mut keys = Vec::new();
    let mut out = Slab {
        bin_of: Vec::with_capacity(colours.len()),
        ..Slab::default()
    };
    for ((&c, &w), &p) in colours.iter().zip(counts).zip(points) {
        let key = (usize::from(c[1] >> shift) << bits) | usize::from(c[2] >> shift);
        let s = &mut slot[key];
        if *s == u32::MAX {
            // At most 2^21 bins.
            #[allow(clippy::cast_possible_truncation)]
            let next = sums.len() as u32;
            *s = next;
            sums.push([0.0; 5]);
            keys.push(key);
        }
        out.bin_of.push(*s);
        let w = f64::from(w);
        let [x, y, z] = p.xyz().map(f64::from);
        let e = &mut sums[*s as usize];
        e[0] += w * x;
        e[1] += w * y;
        e[2] += w * z;
        e[3] += w;
        e[4] += w * (x * x + y * y + z * z);
    }
    for key in keys {
        slot[key] = u32::MAX;
    }
    out.points.reserve(sums.len());
    out.weights.reserve(sums.len());
    for &[x, y, z, w, norm2] in &sums {
        let m = [x / w, y / w, z / w];
        out.norm2 += norm2;
        out.means_norm2 += w * (m[0] * m[0] + m[1] * m[1] + m[2] * m[2]);
        // Means of f32 points fit f32; bin weights are pixel counts, which fit u32.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        {
            out.points.push(m.map(|v| v as f32));
            out.weights.push(w as u32);
        }
    }
    out
}

impl Coarse {
    /// The sRGB level `level` (an index into [`LEVEL_BITS`]) from its sums: the same points,
    /// weights and scatter as [`Coarse::new`] makes from the colours, without `bin_of`.
    pub fn srgb(sums: &BinSums, level: usize) -> Coarse {
        let bins = sums.len(level);
        let mut coarse = Coarse {
            points: Vec::with_capacity(bins),
            weights: Vec::with_capacity(bins),
            bin_of: Vec::new(),
            scatter: 0.0,
        };
        let mut means_norm2 = 0.0;
        for s in sums.levels[level].iter().flatten() {
            // Exact: all below 2^53.
            #[allow(clippy::cast_precision_loss)]
            let [x, y, z, w] = s.map(|v| v as f64);
            let m = [x / w, y / w, z / w];
            means_norm2 += w * (m[0] * m[0] + m[1] * m[1] + m[2] * m[2]);
            // Means of 8-bit values fit f32; bin weights are pixel counts, which fit u32.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            {
                coarse.points.push(m.map(|v| v as f32));
                coarse.weights.push(w as u32);
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let norm2 = sums.norm2 as f64;
        coarse.scatter = (norm2 - means_norm2).max(0.0);
        coarse
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{Histogram, Pixels};

    #[test]
    fn bins_pool_colours_by_their_top_bits_in_order_of_first_colour() {
        // Sorted colours; with 1 bit a channel, bins split at 128.
        let colours = [
            [0, 0, 0],
            [0, 200, 0],
            [10, 0, 10],
            [200, 0, 0],
            [250, 0, 0],
        ];
        let counts = [1, 2, 3, 4, 4];
        let points: Vec<[f32; 3]> = colours.iter().map(|c| c.map(f32::from)).collect();
        let c = Coarse::new(&colours, &counts, &points, 1);
        assert_eq!(c.bin_of, vec![0, 1, 0, 2, 2]);
        assert_eq!(c.weights, vec![4, 2, 8]);
        assert_eq!(
            c.points,
            vec![[7.5, 0.0, 7.5], [0.0, 200.0, 0.0], [225.0, 0.0, 0.0]]
        );
        // Bin 0: 1·(7.5²·2) + 3·(2.5²·2); bin 2: 8·25².
        let scatter = 1.0 * 112.5 + 3.0 * 12.5 + 8.0 * 625.0;
        assert!((c.scatter - scatter).abs() < 1e-6, "{}", c.scatter);
    }

    #[test]
    fn srgb_levels_from_the_histograms_sums_match_levels_from_its_colours() {
        // Clumps of colours of all sizes, some straddling bin edges, over every red.
        let mut rng = super::super::rng::Rng::new(7);
        let mut rgb = Vec::new();
        for _ in 0..3000 {
            let centre = rng.next_u64().to_le_bytes();
            for _ in 0..rng.next_u64() % 40 {
                let d = rng.next_u64().to_le_bytes();
                rgb.push([0, 1, 2].map(|c| centre[c].saturating_add(d[c] % 9)));
            }
        }
        let width = u32::try_from(rgb.len()).unwrap();
        let pixels = Pixels {
            width,
            height: 1,
            rgb: rgb.into(),
            alpha: None,
        };
        let h = Histogram::new(&pixels);
        let points: Vec<[f32; 3]> = h.colours.iter().map(|c| c.map(f32::from)).collect();
        let resummed = BinSums::of_sorted(&h.colours, &h.counts);
        for (level, bits) in LEVEL_BITS.into_iter().enumerate() {
            let want = Coarse::new(&h.colours, &h.counts, &points, bits);
            assert!(
                want.points.len() > 1000,
                "{bits} bits: {}",
                want.points.len()
            );
            for sums in [&h.bins, &resummed] {
                let got = Coarse::srgb(sums, level);
                assert_eq!(got.points, want.points, "{bits} bits");
                assert_eq!(got.weights, want.weights, "{bits} bits");
                assert!(
                    (got.scatter - want.scatter).abs() <= 1e-9 * want.scatter,
                    "{bits} bits: {} against {}",
                    got.scatter,
                    want.scatter
                );
            }
        }
    }
}
