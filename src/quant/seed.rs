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

/// Picks up to `k` initial centroids among `points`. Returns fewer only when fewer than `k`
/// points carry any weight away from the centroids already chosen.
pub(crate) fn kmeans_pp(
    points: &[[f32; 3]],
    weights: &[u32],
    k: usize,
    rng: &mut Rng,
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<[f32; 3]>, Cancelled> {
    if points.is_empty() || k == 0 {
        return Ok(Vec::new());
    }
    let total_w: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    let first = sample(
        weights.iter().map(|&w| f64::from(w)),
        total_w * rng.next_f64(),
    );
    let mut centroids = vec![points[first]];
    let soa = Soa::new(points, weights);
    let mut d2: Vec<f32> = points.iter().map(|&p| dist2(p, points[first])).collect();
    let trials = trials(k);
    // Chunks per parallel task: seeding runs on at most `SEED_BUDGET / k` points, so most
    // rounds are a few hundred microseconds of work that splitting would only slow down.
    let min_chunks = (PAR_WORK / (CHUNK * (trials + 2))).max(1);
    while centroids.len() < k {
        if cancelled() {
            return Err(Cancelled);
        }
        let potential = weighted_sum(&d2, weights, min_chunks);
        if potential <= 0.0 {
            break;
        }
        let mut thresholds: Vec<f64> = (0..trials).map(|_| rng.next_f64() * potential).collect();
        thresholds.sort_unstable_by(f64::total_cmp);
        let candidates = sample_many(&d2, weights, &thresholds);
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

/// Work (points × passes) below which a seeding step runs as one task.
const PAR_WORK: usize = 1 << 16;

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

/// Σ d·w in fixed chunks, reduced in order (deterministic).
fn weighted_sum(d2: &[f32], w: &[u32], min_chunks: usize) -> f64 {
    let parts: Vec<f64> = d2
        .par_chunks(CHUNK)
        .zip(w.par_chunks(CHUNK))
        .with_min_len(min_chunks)
        .map(|(d, w)| {
            d.iter()
                .zip(w)
                .map(|(&d, &w)| f64::from(d) * f64::from(w))
                .sum()
        })
        .collect();
    parts.iter().sum()
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

/// Like `sample` for several sorted targets at once, in one pass; weight is `d2 · w`.
fn sample_many(d2: &[f32], w: &[u32], sorted_targets: &[f64]) -> Vec<usize> {
    let mut out = Vec::with_capacity(sorted_targets.len());
    let mut acc = 0.0;
    let mut last = 0;
    let mut t = 0;
    for (i, (&d, &w)) in d2.iter().zip(w).enumerate() {
        let v = f64::from(d) * f64::from(w);
        if v > 0.0 {
            last = i;
            acc += v;
            while t < sorted_targets.len() && acc > sorted_targets[t] {
                out.push(i);
                t += 1;
            }
        }
    }
    // Rounding can leave the last targets unmet; they take the last weighted point.
    while out.len() < sorted_targets.len() {
        out.push(last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let first = kmeans_pp(&points, &weights, k, &mut one, &never).unwrap_or_default();
            let second = kmeans_pp(&points, &weights, k, &mut one, &never).unwrap_or_default();
            let mut skipped = Rng::new(9);
            skipped.advance(draws(first.len(), k));
            let again = kmeans_pp(&points, &weights, k, &mut skipped, &never).unwrap_or_default();
            assert_eq!(first.len(), k);
            assert_eq!(second, again, "k={k}");
        }
    }
}
