//! Greedy k-means++ initialisation (Arthur & Vassilvitskii, with scikit-learn's
//! `2 + ln k` local trials), weighted by pixel counts and driven by a seeded RNG.

use rayon::prelude::*;

use super::Cancelled;
use super::color::dist2;
use super::rng::Rng;

/// Points per chunk of the potential sums (fixed, so results do not depend on the cores).
const CHUNK: usize = 1 << 10;

/// Candidates tried per centroid: scikit-learn's `2 + ln k`.
pub(crate) fn trials(k: usize) -> usize {
    // `ln k` of at most 256 is a small positive number.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let extra = (k.max(1) as f64).ln() as usize;
    2 + extra
}

/// Random numbers [`kmeans_pp`] draws when it returns `found` centroids from a non-empty set:
/// one for the first, then one per trial for each further centroid.
pub(crate) fn draws(found: usize, k: usize) -> u64 {
    (1 + trials(k) * found.saturating_sub(1)) as u64
}

/// Weighted points to seed among, laid out once for every seeding drawn from them (the
/// restarts share it).
pub(crate) struct Seeding<'a> {
    points: &'a [[f32; 3]],
    weights: &'a [u32],
    soa: Soa,
}

impl<'a> Seeding<'a> {
    pub fn new(points: &'a [[f32; 3]], weights: &'a [u32]) -> Seeding<'a> {
        Seeding {
            points,
            weights,
            soa: Soa::new(points, weights),
        }
    }

    /// Picks up to `k` initial centroids among the points. Returns fewer only when fewer than
    /// `k` points carry any weight away from the centroids already chosen.
    pub fn kmeans_pp(
        &self,
        k: usize,
        rng: &mut Rng,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<[f32; 3]>, Cancelled> {
        let (points, weights, soa) = (self.points, self.weights, &self.soa);
        if points.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let total_w: f64 = weights.iter().map(|&w| f64::from(w)).sum();
        let first = sample(
            weights.iter().map(|&w| f64::from(w)),
            total_w * rng.next_f64(),
        );
        let mut centroids = vec![points[first]];
        let mut d2: Vec<f32> = points.iter().map(|&p| dist2(p, points[first])).collect();
        let trials = trials(k);
        // Chunks per parallel task: a round is tens of microseconds of work (seeding runs on at
        // most `SEED_BUDGET / k` points), split only into tasks that outweigh a fork-join.
        let min_chunks = (PAR_WORK / (CHUNK * (trials + 2))).max(1);
        while centroids.len() < k {
            if cancelled() {
                return Err(Cancelled);
            }
            let parts = weighted_sums(&d2, weights, min_chunks);
            let potential: f64 = parts.iter().sum();
            if potential <= 0.0 {
                break;
            }
            let mut thresholds: Vec<f64> =
                (0..trials).map(|_| rng.next_f64() * potential).collect();
            thresholds.sort_unstable_by(f64::total_cmp);
            let candidates = sample_many(&d2, weights, &parts, &thresholds);
            // The potential each candidate would leave, all candidates in one pass over the points.
            let cand: Vec<[f32; 3]> = candidates.iter().map(|&c| points[c]).collect();
            let per_chunk: Vec<Vec<f64>> = (0..d2.len().div_ceil(CHUNK))
                .into_par_iter()
                .with_min_len(min_chunks)
                .map(|chunk| {
                    let range = chunk * CHUNK..d2.len().min((chunk + 1) * CHUNK);
                    cand.iter()
                        .map(|&c| soa.potential_with(range.clone(), &d2[range.clone()], c))
                        .collect()
                })
                .collect();
            let mut best = 0;
            let mut best_pot = f64::INFINITY;
            for (t, _) in candidates.iter().enumerate() {
                let pot: f64 = per_chunk.iter().map(|a| a[t]).sum();
                if pot < best_pot {
                    best_pot = pot;
                    best = t;
                }
            }
            let c = points[candidates[best]];
            centroids.push(c);
            d2.par_chunks_mut(CHUNK)
                .enumerate()
                .with_min_len(min_chunks)
                .for_each(|(chunk, d)| soa.lower_to(chunk * CHUNK, d, c));
        }
        Ok(centroids)
    }
}

/// Work (points × passes) of one task of a seeding step (1 << 16 left a 13 MP photo's
/// k = 256 seeding, 11 ms, on one core).
const PAR_WORK: usize = 1 << 14;

/// The points as structure-of-arrays, with their weights as `f32`, so the scans over all
/// points vectorise.
struct Soa {
    x: Vec<f32>,
    y: Vec<f32>,
    z: Vec<f32>,
    w: Vec<f32>,
}

impl Soa {
    fn new(points: &[[f32; 3]], weights: &[u32]) -> Soa {
        // Counts as f32: exact below 2^24 and close enough above to rank candidates.
        #[allow(clippy::cast_precision_loss)]
        Soa {
            x: points.iter().map(|p| p[0]).collect(),
            y: points.iter().map(|p| p[1]).collect(),
            z: points.iter().map(|p| p[2]).collect(),
            w: weights.iter().map(|&w| w as f32).collect(),
        }
    }

    /// Σ min(d2, |p − c|²)·w over `range`: the potential left if `c` joined the centroids.
    /// Eight lane sums so the loop vectorises; f32 over one chunk ranks candidates exactly
    /// enough.
    fn potential_with(&self, range: std::ops::Range<usize>, d2: &[f32], c: [f32; 3]) -> f64 {
        const LANES: usize = 8;
        let n = d2.len();
        let (x, y, z, w) = (
            &self.x[range.clone()][..n],
            &self.y[range.clone()][..n],
            &self.z[range.clone()][..n],
            &self.w[range][..n],
        );
        let mut acc = [0.0f32; LANES];
        let lanes = x
            .chunks_exact(LANES)
            .zip(y.chunks_exact(LANES))
            .zip(z.chunks_exact(LANES))
            .zip(w.chunks_exact(LANES))
            .zip(d2.chunks_exact(LANES));
        for ((((x, y), z), w), d) in lanes {
            for l in 0..LANES {
                let (dx, dy, dz) = (x[l] - c[0], y[l] - c[1], z[l] - c[2]);
                acc[l] += d[l].min(dx * dx + dy * dy + dz * dz) * w[l];
            }
        }
        for j in n / LANES * LANES..n {
            let (dx, dy, dz) = (x[j] - c[0], y[j] - c[1], z[j] - c[2]);
            acc[0] += d2[j].min(dx * dx + dy * dy + dz * dz) * w[j];
        }
        f64::from(acc.iter().sum::<f32>())
    }

    /// `d2[i] = min(d2[i], |p − c|²)` for the points from `start` on.
    fn lower_to(&self, start: usize, d2: &mut [f32], c: [f32; 3]) {
        let end = start + d2.len();
        let points = self.x[start..end]
            .iter()
            .zip(&self.y[start..end])
            .zip(&self.z[start..end]);
        for (d, ((x, y), z)) in d2.iter_mut().zip(points) {
            let (dx, dy, dz) = (x - c[0], y - c[1], z - c[2]);
            *d = d.min(dx * dx + dy * dy + dz * dz);
        }
    }
}

/// Σ d·w over each fixed chunk of [`CHUNK`] points (deterministic).
fn weighted_sums(d2: &[f32], w: &[u32], min_chunks: usize) -> Vec<f64> {
    d2.par_chunks(CHUNK)
        .zip(w.par_chunks(CHUNK))
        .with_min_len(min_chunks)
        .map(|(d, w)| {
            d.iter()
                .zip(w)
                .map(|(&d, &w)| f64::from(d) * f64::from(w))
                .sum()
        })
        .collect()
}

/// Index where the running sum of `values` first exceeds `target` (the last index if never).
fn sample(values: impl Iterator<Item = f64>, target: f64) -> usize {
    let mut acc = 0.0;
    let mut last = 0;
    for (i, v) in values.enumerate() {
        if v > 0.0 {
            last = i;
            acc += v;
            if acc > target {
                return i;
            }
        }
    }
    last
}

/// Like `sample` for several sorted targets at once; weight is `d2 · w`, and `parts` its
/// sums over each chunk of [`CHUNK`] points. Only the chunks a target falls in are walked
/// point by point: a handful of the tens of chunks.
fn sample_many(d2: &[f32], w: &[u32], parts: &[f64], sorted_targets: &[f64]) -> Vec<usize> {
    let mut out = Vec::with_capacity(sorted_targets.len());
    let mut acc = 0.0;
    for (chunk, &part) in parts.iter().enumerate() {
        let Some(&next) = sorted_targets.get(out.len()) else {
            break;
        };
        if acc + part <= next {
            acc += part;
            continue;
        }
        let start = chunk * CHUNK;
        let end = d2.len().min(start + CHUNK);
        for (i, (&d, &w)) in d2[start..end].iter().zip(&w[start..end]).enumerate() {
            let v = f64::from(d) * f64::from(w);
            if v > 0.0 {
                acc += v;
                while sorted_targets.get(out.len()).is_some_and(|&t| acc > t) {
                    out.push(start + i);
                }
            }
        }
    }
    // Rounding can leave the last targets unmet; they take the last weighted point.
    if out.len() < sorted_targets.len() {
        let last = (0..d2.len())
            .rev()
            .find(|&i| f64::from(d2[i]) * f64::from(w[i]) > 0.0)
            .unwrap_or(0);
        out.resize(sorted_targets.len(), last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_by_chunks_finds_the_points_a_full_walk_finds() {
        let mut rng = Rng::new(5);
        let n = 10 * CHUNK + 77;
        // Some points weigh nothing, as the centroids themselves do.
        let d2: Vec<f32> = (0..n)
            .map(|i| {
                if i % 9 == 0 {
                    0.0
                } else {
                    (rng.next_f64() * 900.0) as f32
                }
            })
            .collect();
        let w: Vec<u32> = (0..n).map(|i| 1 + (i % 7) as u32).collect();
        let parts = weighted_sums(&d2, &w, 1);
        let total: f64 = parts.iter().sum();
        for round in 0..300 {
            // As many targets as a seeding step draws: few, so most chunks hold none.
            let mut targets: Vec<f64> =
                (0..1 + round % 7).map(|_| rng.next_f64() * total).collect();
            targets.sort_unstable_by(f64::total_cmp);
            // One point at a time, over everything.
            let mut want = Vec::new();
            let mut acc = 0.0;
            for i in 0..n {
                acc += f64::from(d2[i]) * f64::from(w[i]);
                while want.len() < targets.len() && acc > targets[want.len()] && d2[i] > 0.0 {
                    want.push(i);
                }
            }
            assert_eq!(sample_many(&d2, &w, &parts, &targets), want);
        }
        // A target past the total (rounding) takes the last point that weighs anything.
        let last = (0..n).rev().find(|&i| d2[i] > 0.0).unwrap_or(0);
        assert_eq!(sample_many(&d2, &w, &parts, &[total * 2.0]), vec![last]);
    }

    #[test]
    fn a_seed_draws_the_counted_numbers_so_restarts_can_start_further_on() {
        let mut rng = Rng::new(3);
        let points: Vec<[f32; 3]> = (0..500)
            .map(|_| [0; 3].map(|_: i32| (rng.next_f64() * 255.0) as f32))
            .collect();
        let weights: Vec<u32> = (0..500).map(|i| 1 + i % 5).collect();
        let never = || false;
        for k in [1usize, 2, 16, 100] {
            let mut one = Rng::new(9);
            let seeding = Seeding::new(&points, &weights);
            let first = seeding.kmeans_pp(k, &mut one, &never).unwrap_or_default();
            let second = seeding.kmeans_pp(k, &mut one, &never).unwrap_or_default();
            let mut skipped = Rng::new(9);
            skipped.advance(draws(first.len(), k));
            let again = seeding
                .kmeans_pp(k, &mut skipped, &never)
                .unwrap_or_default();
            assert_eq!(first.len(), k);
            assert_eq!(second, again, "k={k}");
        }
    }
}
