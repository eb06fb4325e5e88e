//! A coarse histogram: distinct colours pooled into bins of `2^(8-bits)` levels per channel,
//! each bin represented by the weighted mean of its colours (in the clustering space) and their
//! total weight. k-means++ seeding and the first Lloyd iterations run here, on tens of thousands
//! of bins instead of up to millions of distinct colours; the exact level then only polishes.

use rayon::prelude::*;

use super::histogram::run_starts;

/// Bins at a given resolution, with the bin of every distinct colour.
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
    pub fn new(colours: &[[u8; 3]], counts: &[u32], points: &[[f32; 3]], bits: u32) -> Coarse {
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
fn slab(
    colours: &[[u8; 3]],
    counts: &[u32],
    points: &[[f32; 3]],
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
        let [x, y, z] = p.map(f64::from);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
