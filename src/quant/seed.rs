//! Greedy k-means++ initialisation (Arthur & Vassilvitskii, with scikit-learn's
//! `2 + ln k` local trials), weighted by pixel counts and driven by a seeded RNG.

use rayon::prelude::*;

use super::Cancelled;
use super::color::dist2;
use super::rng::Rng;

/// Points per parallel chunk; small so that a few thousand bins still use every core.
const CHUNK: usize = 1 << 10;

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
    // Counts as f32 for the vectorised scans; exact below 2^24 and close enough above.
    #[allow(clippy::cast_precision_loss)]
    let weights_f32: Vec<f32> = weights.iter().map(|&w| w as f32).collect();
    let mut d2: Vec<f32> = points
        .par_iter()
        .map(|&p| dist2(p, points[first]))
        .collect();
    // `ln k` of at most 256 is a small positive number.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let trials = 2 + (k as f64).ln() as usize;
    while centroids.len() < k {
        if cancelled() {
            return Err(Cancelled);
        }
        let potential = weighted_sum(&d2, weights);
        if potential <= 0.0 {
            break;
        }
        let mut thresholds: Vec<f64> = (0..trials).map(|_| rng.next_f64() * potential).collect();
        thresholds.sort_unstable_by(f64::total_cmp);
        let candidates = sample_many(&d2, weights, &thresholds);
        // The potential each candidate would leave, all candidates in one pass over the points.
        let cand: Vec<[f32; 3]> = candidates.iter().map(|&c| points[c]).collect();
        let per_chunk: Vec<Vec<f64>> = points
            .par_chunks(CHUNK)
            .zip(d2.par_chunks(CHUNK))
            .zip(weights_f32.par_chunks(CHUNK))
            .map(|((p, d), w)| {
                // Candidate-major so the inner loop over points vectorises; f32 partial sums
                // over one chunk are exact enough to rank candidates.
                cand.iter()
                    .map(|&c| {
                        let s: f32 = p
                            .iter()
                            .zip(d)
                            .zip(w)
                            .map(|((&p, &d), &w)| d.min(dist2(p, c)) * w)
                            .sum();
                        f64::from(s)
                    })
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
        d2.par_iter_mut()
            .zip(points.par_iter())
            .for_each(|(d, &p)| *d = d.min(dist2(p, c)));
    }
    Ok(centroids)
}

/// Σ d·w in fixed chunks, reduced in order (deterministic).
fn weighted_sum(d2: &[f32], w: &[u32]) -> f64 {
    let parts: Vec<f64> = d2
        .par_chunks(CHUNK)
        .zip(w.par_chunks(CHUNK))
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
