//! Weighted Lloyd iterations. Up to [`SCAN_ALL_UP_TO`] centroids every point is measured
//! against all of them, eight points at a time in SIMD lanes. Above, Hamerly's bounds:
//!
//! Every point carries an upper bound on the distance to its centroid and a lower bound on the
//! distance to any other centroid. After centroids move, the bounds are loosened by how far they
//! moved; a point whose upper bound is still below the larger of its lower bound and half the
//! distance from its centroid to the nearest other one provably keeps its centroid and costs no
//! distance computation. Near convergence almost every point is skipped, so an iteration costs
//! about one pass over memory. Assignments stay exact: the result is the same as plain Lloyd.
//!
//! Sums are accumulated per fixed-size chunk and reduced in chunk order, so results do not depend
//! on how rayon schedules the chunks.

use std::borrow::Cow;

use rayon::iter::Either;
use rayon::prelude::*;

use wide::f32x8;

use super::color::dist2;

/// Points per parallel chunk: small enough that a few thousand coarse bins still spread over
/// the cores, large enough that per-chunk sums (k × 5 floats) stay cheap. By the point count
/// alone, never the core count: how the sums are grouped decides their last bits.
fn chunk_len(points: usize, k: usize) -> usize {
    (points / 8).clamp(256.max(k * 4), 1 << 13)
}
/// One assignment pass over the points in fixed chunks, side by side: `pass` updates a chunk's
/// labels and bounds (empty chunks when there are none) and adds to the chunk's sums. The sums
/// come back in chunk order.
fn by_chunks<P: Point>(
    labels: &mut [u8],
    bounds: &mut [Bound],
    points: &[P],
    weights: &[u32],
    k: usize,
    pass: impl Fn(&mut [u8], &mut [Bound], &[P], &[u32], &mut Sums) + Sync,
) -> Vec<Sums> {
    let chunk = chunk_len(points.len(), k);
    let bounds = if bounds.is_empty() {
        let chunks = points.len().div_ceil(chunk);
        Either::Right(
            (0..chunks)
                .into_par_iter()
                .map(|_| <&mut [Bound]>::default()),
        )
    } else {
        Either::Left(bounds.par_chunks_mut(chunk))
    };
    labels
        .par_chunks_mut(chunk)
        .zip(bounds)
        .zip(points.par_chunks(chunk))
        .zip(weights.par_chunks(chunk))
        .map(|(((labels, bounds), points), weights)| {
            let mut acc = Sums::zero(k);
            pass(labels, bounds, points, weights, &mut acc);
            acc
        })
        .collect()
}

/// A point as stored: coarse bins' means and Oklab colours as floats, sRGB colours as their
/// own bytes (exact as floats, and a quarter of the memory).
pub(crate) trait Point: Copy + Send + Sync {
    fn xyz(self) -> [f32; 3];

    /// The points as floats: borrowed when they are.
    fn floats(points: &[Self]) -> Cow<'_, [[f32; 3]]>;
}

impl Point for [f32; 3] {
    #[inline]
    fn xyz(self) -> [f32; 3] {
        self
    }

    fn floats(points: &[Self]) -> Cow<'_, [[f32; 3]]> {
        Cow::Borrowed(points)
    }
}

impl Point for [u8; 3] {
    #[inline]
    fn xyz(self) -> [f32; 3] {
        self.map(f32::from)
    }

    fn floats(points: &[Self]) -> Cow<'_, [[f32; 3]]> {
        Cow::Owned(points.iter().map(|p| p.xyz()).collect())
    }
}

/// Width of the SIMD lanes (f32).
const LANES: usize = 8;
/// Padding centroids sit this far away so they are never nearest.
const FAR: f32 = 1.0e18;
const INF: f32 = f32::INFINITY;

/// Hamerly's two bounds of a point (plain distances, not squared): on the distance to its
/// centroid, and to any other.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bound {
    pub upper: f32,
    pub lower: f32,
}

impl Bound {
    /// Nothing known yet: the first pass computes the exact assignment.
    pub const UNKNOWN: Bound = Bound {
        upper: INF,
        lower: 0.0,
    };
}

/// A point's nearest and second nearest centroid per SIMD lane, as candidates are offered eight
/// at a time. Centroid numbers are kept as f32: exact below 2^24, and there are at most 256.
struct Lanes {
    p: [f32x8; 3],
    b1: f32x8,
    b2: f32x8,
    i1: f32x8,
}

impl Lanes {
    /// For point `p`, with one candidate known already: centroid `index` at squared distance
    /// `d` (infinite for none).
    fn new(p: [f32; 3], d: f32, index: f32) -> Lanes {
        Lanes {
            p: p.map(f32x8::splat),
            b1: f32x8::from([d, INF, INF, INF, INF, INF, INF, INF]),
            b2: f32x8::splat(INF),
            i1: f32x8::from([index, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        }
    }

    /// Offers the eight centroids at `x, y, z`, numbered `index`.
    fn offer(&mut self, x: [f32; LANES], y: [f32; LANES], z: [f32; LANES], index: f32x8) {
        let dx = self.p[0] - f32x8::from(x);
        let dy = self.p[1] - f32x8::from(y);
        let dz = self.p[2] - f32x8::from(z);
        let d = dx * dx + dy * dy + dz * dz;
        // Candidates need not come in number order: an equal distance goes to the lower.
        let closer = d.simd_lt(self.b1) | (d.simd_eq(self.b1) & index.simd_lt(self.i1));
        self.b2 = self.b2.fast_min(d.fast_max(self.b1));
        self.b1 = self.b1.fast_min(d);
        self.i1 = closer.bitselect(index, self.i1);
    }

    /// Whether the second nearest so far lies within squared distance `limit`: whether two of
    /// the distances offered do (each lane keeps its two nearest). Two compares, no reduction
    /// over the lanes.
    fn second_within(&self, limit: f32) -> bool {
        let limit = f32x8::splat(limit);
        let within = self.b1.simd_le(limit).to_bitmask().count_ones()
            + self.b2.simd_le(limit).to_bitmask().count_ones();
        within >= 2
    }

    /// The nearest centroid (ties to the lower number) and the squared distances to it and to
    /// the second nearest, over all lanes, with three reductions and no jump: it ends every
    /// full search (at k = 16 its earlier form, a lane-by-lane fold and a pick of the winning
    /// lane, cost as much as the two offers before it).
    fn best(&self) -> (u32, f32, f32) {
        let nearest = min_lane(self.b1);
        let tie = self.b1.simd_eq(f32x8::splat(nearest));
        // The lowest number among the lanes holding the nearest distance.
        let index = min_lane(tie.bitselect(self.i1, f32x8::splat(INF)));
        // With one such lane, the second nearest is its runner-up or another lane's nearest;
        // with two, it is the nearest distance again.
        let single = tie.to_bitmask().count_ones() == 1;
        let second = min_lane(tie.bitselect(self.b2, self.b1));
        let second = if single { second } else { nearest };
        // A lane's index is a small whole number (INF only if a distance were NaN).
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let index = if index < 256.0 { index as u32 } else { 0 };
        (index, nearest, second)
    }
}

/// The smallest of the eight lanes, as a tree of pairwise minima (no NaN among them).
fn min_lane(v: f32x8) -> f32 {
    let min = |a: f32, b: f32| if b < a { b } else { a };
    let a = v.to_array();
    let q = [
        min(a[0], a[4]),
        min(a[1], a[5]),
        min(a[2], a[6]),
        min(a[3], a[7]),
    ];
    min(min(q[0], q[2]), min(q[1], q[3]))
}

/// Up to this many centroids, every point is measured against all of them
/// ([`Lloyd::assign_by_scan`]): branch-free lanes of eight points cost less than testing and
/// updating each point's bounds, even near convergence where most points would skip.
const SCAN_ALL_UP_TO: usize = 64;

/// Whether a run with `k` centroids keeps Hamerly's bounds (so they are worth carrying from
/// one level to the next).
pub(crate) fn uses_bounds(k: usize) -> bool {
    k > SCAN_ALL_UP_TO
}

/// For up to eight points, the number of each one's nearest centroid (ties to the lower
/// number), a lane per point. The squared distances compared are [`dist2`]'s to the bit: the
/// same operations in the same order.
fn nearest_of_eight<P: Point>(points: &[P], centroids: &[[f32x8; 3]]) -> [i32; LANES] {
    let mut p = [[0.0f32; LANES]; 3];
    for (l, x) in points.iter().enumerate() {
        let x = x.xyz();
        for d in 0..3 {
            p[d][l] = x[d];
        }
    }
    let p = p.map(f32x8::from);
    let mut best = f32x8::splat(INF);
    let mut nearest = f32x8::splat(0.0);
    let mut index = f32x8::splat(0.0);
    for c in centroids {
        let dx = p[0] - c[0];
        let dy = p[1] - c[1];
        let dz = p[2] - c[2];
        let d = dx * dx + dy * dy + dz * dz;
        // Centroids come in number order: only a strictly closer one takes over.
        let closer = d.simd_lt(best);
        best = best.fast_min(d);
        nearest = closer.bitselect(index, nearest);
        index += f32x8::splat(1.0);
    }
    // Small whole numbers: exact in f32 and in the conversion.
    nearest.fast_trunc_int().to_array()
}

/// For each centroid, the others by distance from it. A point's exact distance `u` to its own
/// centroid `a` bounds every other: `d(x, c_j) ≥ d(c_a, c_j) − u`. Walking `a`'s neighbours
/// nearest first, the search stops as soon as that bound reaches the second-best distance
/// found, so it visits the few centroids around `a` rather than all k.
struct Neighbours {
    k: usize,
    /// Row `a` holds (distance from `c_a`, index) for every other centroid: the nearest
    /// [`SORTED_NEIGHBOURS`] in order, then the rest in any order (none nearer than those).
    rows: Vec<(f32, u32)>,
    /// The ordered part of each row as SIMD lanes, [`NEAR_CHUNKS`] per row, so a walk
    /// measures eight neighbours at a time without a branch per neighbour.
    near: Vec<NearChunk>,
}

/// Eight neighbours of a centroid, nearest first, padded with far-away dummies.
#[derive(Clone, Copy)]
struct NearChunk {
    x: [f32; LANES],
    y: [f32; LANES],
    z: [f32; LANES],
    /// Centroid numbers as f32 (exact: at most 256).
    index: [f32; LANES],
}

impl NearChunk {
    const EMPTY: NearChunk = NearChunk {
        x: [FAR; LANES],
        y: [FAR; LANES],
        z: [FAR; LANES],
        index: [f32::MAX; LANES],
    };
}

const NEAR_CHUNKS: usize = SORTED_NEIGHBOURS / LANES;

/// Neighbours kept in order in each row. A walk seldom gets further; sorting whole rows of
/// 255 was most of the cost of a Lloyd step at k = 256, done again every step. With 32, one
/// walk in twenty still went on through the unordered rest on the 13 MP photo's first exact
/// step (callgrind at k = 256: 32 → 4669M instructions, 64 → 4550M, 96 → 4563M).
const SORTED_NEIGHBOURS: usize = 64;

impl Neighbours {
    fn new(c: &[[f32; 3]]) -> Neighbours {
        let k = c.len();
        let mut nb = Neighbours {
            k,
            rows: vec![(0.0f32, 0u32); k * k.saturating_sub(1)],
            near: vec![NearChunk::EMPTY; k * NEAR_CHUNKS],
        };
        nb.fill(c, false);
        nb
    }

    /// The rows for centroids that moved since `self` was made for them (the same count).
    /// After small moves each row is nearly in order still: it is re-sorted from its old
    /// order, which costs a pass over the row, where choosing and sorting its nearest afresh
    /// was most of the cost of a Lloyd step at k = 256.
    fn refresh(&mut self, c: &[[f32; 3]]) {
        debug_assert_eq!(c.len(), self.k);
        self.fill(c, true);
    }

    fn fill(&mut self, c: &[[f32; 3]], from_old_order: bool) {
        let width = self.k.saturating_sub(1);
        // Rows are independent.
        self.rows
            .par_chunks_mut(width.max(1))
            .zip(self.near.par_chunks_mut(NEAR_CHUNKS))
            .enumerate()
            .for_each(|(a, (row, near))| {
                if !(from_old_order && reorder(a, c, row)) {
                    order(a, c, row);
                }
                let sorted = &row[..width.min(SORTED_NEIGHBOURS)];
                for (ch, chunk) in near.iter_mut().enumerate() {
                    *chunk = NearChunk::EMPTY;
                    for (l, &(_, j)) in sorted.iter().skip(ch * LANES).take(LANES).enumerate() {
                        let p = c[j as usize];
                        (chunk.x[l], chunk.y[l], chunk.z[l]) = (p[0], p[1], p[2]);
                        // At most 256 centroids: exact in f32.
                        #[allow(clippy::cast_precision_loss)]
                        {
                            chunk.index[l] = j as f32;
                        }
                    }
                }
            });
    }

    /// [`half_separation`] read off the rows: each starts with its centroid's nearest.
    fn half_separation(&self) -> Vec<f32> {
        self.rows
            .chunks_exact(self.k - 1)
            .map(|row| 0.5 * row[0].0)
            .collect()
    }

    /// Nearest centroid and the squared distances to the nearest and second nearest, for a
    /// point at exact distance `u` from centroid `a`.
    fn nearest2(&self, c: &[[f32; 3]], p: [f32; 3], a: usize, u: f32) -> (u32, f32, f32) {
        let row = &self.rows[a * (self.k - 1)..(a + 1) * (self.k - 1)];
        // The ordered part eight at a time, lane-wise like the scan, starting from `a` itself
        // (a < k <= 256: exact in f32).
        #[allow(clippy::cast_precision_loss)]
        let mut lanes = Lanes::new(p, u * u, a as f32);
        let mut stopped = false;
        for (ch, chunk) in self.near[a * NEAR_CHUNKS..(a + 1) * NEAR_CHUNKS]
            .iter()
            .enumerate()
        {
            // The chunk's nearest neighbour; none left (padding) is infinitely far.
            let lower = row.get(ch * LANES).map_or(INF, |n| n.0) - u;
            if lower > 0.0 && lanes.second_within(lower * lower) {
                // Every neighbour from here on is at least as far as the second nearest.
                stopped = true;
                break;
            }
            lanes.offer(chunk.x, chunk.y, chunk.z, f32x8::from(chunk.index));
        }
        let (mut i1, mut b1, mut b2) = lanes.best();
        if stopped || row.len() <= SORTED_NEIGHBOURS {
            return (i1, b1, b2);
        }
        for &(dist_a, j) in &row[SORTED_NEIGHBOURS..] {
            let lower = dist_a - u;
            if lower > 0.0 && lower * lower >= b2 {
                // Past the ordered part, only this one is ruled out.
                continue;
            }
            let d = dist2(p, c[j as usize]);
            if d < b1 || (d == b1 && j < i1) {
                b2 = b1;
                b1 = d;
                i1 = j;
            } else if d < b2 {
                b2 = d;
            }
        }
        (i1, b1, b2)
    }
}

/// A row's sort key: the distance's bits (a distance is never negative, so they sort like the
/// value), ties to the lower index; integer keys sort several times faster than a comparison
/// closure.
fn row_key((d, j): (f32, u32)) -> u64 {
    (u64::from(d.to_bits()) << 32) | u64::from(j)
}

/// Row `a` afresh: every other centroid at its distance, the nearest [`SORTED_NEIGHBOURS`]
/// first and in order.
fn order(a: usize, c: &[[f32; 3]], row: &mut [(f32, u32)]) {
    let mut keys: Vec<u64> = (0..c.len())
        .filter(|&j| j != a)
        .map(|j| {
            // At most 256 centroids.
            #[allow(clippy::cast_possible_truncation)]
            row_key((dist2(c[a], c[j]).sqrt(), j as u32))
        })
        .collect();
    if keys.len() > SORTED_NEIGHBOURS {
        keys.select_nth_unstable(SORTED_NEIGHBOURS - 1);
        keys[..SORTED_NEIGHBOURS].sort_unstable();
    } else {
        keys.sort_unstable();
    }
    for (slot, key) in row.iter_mut().zip(keys) {
        // The high half holds the distance's bits, the low half the index (< 256).
        #[allow(clippy::cast_possible_truncation)]
        {
            *slot = (f32::from_bits((key >> 32) as u32), key as u32);
        }
    }
}

/// Most neighbours that may enter a row's ordered part in [`reorder`] before it gives up.
const MAX_ENTERING: usize = 8;

/// Row `a` brought up to date from its old order: new distances, the ordered part re-sorted by
/// insertion (a few swaps when it is nearly in order), then each of the rest that is now
/// nearer than the last ordered one swapped in. Every one left outside is then at least as far
/// as the whole ordered part. `false` (the row half done) when more than [`MAX_ENTERING`] had
/// to come in: the centroids moved too far for this to be cheap.
fn reorder(a: usize, c: &[[f32; 3]], row: &mut [(f32, u32)]) -> bool {
    for slot in row.iter_mut() {
        slot.0 = dist2(c[a], c[slot.1 as usize]).sqrt();
    }
    let n = SORTED_NEIGHBOURS.min(row.len());
    let (ordered, rest) = row.split_at_mut(n);
    for i in 1..n {
        sink(ordered, i);
    }
    let mut entered = 0;
    for slot in rest {
        if row_key(*slot) < row_key(ordered[n - 1]) {
            entered += 1;
            if entered > MAX_ENTERING {
                return false;
            }
            std::mem::swap(slot, &mut ordered[n - 1]);
            sink(ordered, n - 1);
        }
    }
    true
}

/// One insertion-sort step: `row[i]` moved down into the ordered `row[..i]`.
fn sink(row: &mut [(f32, u32)], mut i: usize) {
    while i > 0 && row_key(row[i - 1]) > row_key(row[i]) {
        row.swap(i - 1, i);
        i -= 1;
    }
}

/// Per-cluster sums of one assignment pass: weight, weighted coordinates, weighted squared norm.
#[derive(Clone, Debug)]
pub(crate) struct Sums {
    pub weight: Vec<f64>,
    pub coord: Vec<[f64; 3]>,
    pub norm2: Vec<f64>,
}

impl Sums {
    fn zero(k: usize) -> Sums {
        Sums {
            weight: vec![0.0; k],
            coord: vec![[0.0; 3]; k],
            norm2: vec![0.0; k],
        }
    }

    fn add(&mut self, o: &Sums) {
        for j in 0..self.weight.len() {
            self.weight[j] += o.weight[j];
            self.norm2[j] += o.norm2[j];
            for d in 0..3 {
                self.coord[j][d] += o.coord[j][d];
            }
        }
    }

    /// Accounts for a point of weight `w` at `x` now in cluster `new`: on a full pass every
    /// point is added; otherwise only one that left cluster `old` moves between the two.
    fn record(&mut self, full: bool, old: u8, new: u8, x: [f32; 3], w: u32) {
        if full {
            self.put(usize::from(new), x, f64::from(w));
        } else if new != old {
            self.put(usize::from(new), x, f64::from(w));
            self.put(usize::from(old), x, -f64::from(w));
        }
    }

    /// Adds point `x` with weight `w` (negative to take it away) to cluster `a`.
    fn put(&mut self, a: usize, x: [f32; 3], w: f64) {
        let xd = x.map(f64::from);
        self.weight[a] += w;
        self.norm2[a] += w * (xd[0] * xd[0] + xd[1] * xd[1] + xd[2] * xd[2]);
        for d in 0..3 {
            self.coord[a][d] += w * xd[d];
        }
    }
}

/// What one Lloyd step did.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    /// Weighted squared error of the new assignment against the centroids it was made with.
    /// Lloyd's algorithm never increases it from one step to the next.
    pub inertia: f64,
    /// Largest distance a centroid moved in the update.
    pub max_move: f32,
}

/// A weighted k-means run over fixed points, resumable step by step.
pub(crate) struct Lloyd<'a, P: Point = [f32; 3]> {
    points: &'a [P],
    weights: &'a [u32],
    pub centroids: Vec<[f32; 3]>,
    /// Each point's centroid (k ≤ 256).
    pub labels: Vec<u8>,
    /// Each point's bounds, where the search keeps them ([`uses_bounds`]); empty otherwise.
    pub bounds: Vec<Bound>,
    /// How far each centroid moved since the bounds were last brought up to date.
    pending: Vec<f32>,
    /// The cluster sums of the current assignment, once a full pass has made them: later
    /// passes only move the points that change cluster, which near convergence are few.
    sums: Option<Sums>,
    /// The neighbour rows of the last full search by walking, refreshed for the next.
    neighbours: Option<Neighbours>,
}

impl<'a, P: Point> Lloyd<'a, P> {
    /// A run from `centroids`, nothing known yet of where the points belong.
    pub fn new(points: &'a [P], weights: &'a [u32], centroids: Vec<[f32; 3]>) -> Lloyd<'a, P> {
        let bounds = if uses_bounds(centroids.len()) {
            vec![Bound::UNKNOWN; points.len()]
        } else {
            Vec::new()
        };
        Lloyd::starting(points, weights, centroids, (vec![0; points.len()], bounds))
    }

    /// A run from `centroids` with the points' labels and bounds (as [`Lloyd::labels`] and
    /// [`Lloyd::bounds`]) already known.
    fn starting(
        points: &'a [P],
        weights: &'a [u32],
        centroids: Vec<[f32; 3]>,
        (labels, bounds): (Vec<u8>, Vec<Bound>),
    ) -> Lloyd<'a, P> {
        debug_assert_eq!(points.len(), weights.len());
        debug_assert_eq!(points.len(), labels.len());
        debug_assert!(bounds.is_empty() || points.len() == bounds.len());
        let pending = vec![0.0; centroids.len()];
        Lloyd {
            points,
            weights,
            centroids,
            labels,
            bounds,
            pending,
            sums: None,
            neighbours: None,
        }
    }

    /// A run on the points of another level from this run's centroids, keeping what only
    /// depends on them; `known` as for [`Lloyd::starting`], or nothing known.
    pub fn into_level<'b, Q: Point>(
        self,
        points: &'b [Q],
        weights: &'b [u32],
        known: Option<(Vec<u8>, Vec<Bound>)>,
    ) -> Lloyd<'b, Q> {
        let mut next = match known {
            Some(known) => Lloyd::starting(points, weights, self.centroids, known),
            None => Lloyd::new(points, weights, self.centroids),
        };
        next.neighbours = self.neighbours;
        next
    }

    /// Assigns every point to its nearest centroid (exactly) and returns the cluster sums.
    pub fn assign(&mut self) -> Sums {
        let k = self.centroids.len();
        if !uses_bounds(k) {
            return self.assign_by_scan();
        }
        let walk = match self.neighbours.take() {
            Some(mut nb) if nb.k == k => {
                nb.refresh(&self.centroids);
                nb
            }
            _ => Neighbours::new(&self.centroids),
        };
        let sep = walk.half_separation();
        // Loosening every lower bound by the largest move is enough; the point whose own
        // centroid moved most only needs the second largest.
        let (mut arg1, mut max1, mut max2) = (usize::MAX, 0.0f32, 0.0f32);
        for (j, &m) in self.pending.iter().enumerate() {
            if m > max1 {
                max2 = max1;
                max1 = m;
                arg1 = j;
            } else if m > max2 {
                max2 = m;
            }
        }
        // Per cluster, in one place: how far its upper bounds grow, how far its points' lower
        // bounds shrink, and half its separation.
        let shift: Vec<[f32; 3]> = (0..k)
            .map(|j| {
                let drop = if j == arg1 { max2 } else { max1 };
                [self.pending[j], drop, sep[j]]
            })
            .collect();
        let centroids = &self.centroids;
        let full = self.sums.is_none();
        let partial = by_chunks(
            &mut self.labels,
            &mut self.bounds,
            self.points,
            self.weights,
            k,
            |labels, bounds, points, weights, acc| {
                for (((label, b), &x), &w) in labels.iter_mut().zip(bounds).zip(points).zip(weights)
                {
                    let x = x.xyz();
                    let old = *label;
                    let a = usize::from(old);
                    let [grow, drop, half_sep] = shift[a];
                    b.upper += grow;
                    b.lower -= drop;
                    let m = half_sep.max(b.lower);
                    if b.upper > m {
                        b.upper = dist2(x, centroids[a]).sqrt();
                        if b.upper > m {
                            let (j, d1, d2) = walk.nearest2(centroids, x, a, b.upper);
                            // A centroid number, below k ≤ 256.
                            *label = u8::try_from(j).unwrap_or(u8::MAX);
                            *b = Bound {
                                upper: d1.sqrt(),
                                lower: d2.sqrt(),
                            };
                        }
                    }
                    acc.record(full, old, *label, x, w);
                }
            },
        );
        self.neighbours = Some(walk);
        self.total(partial)
    }

    /// [`Lloyd::assign`] for few centroids: every point measured against all of them, eight
    /// points at a time in SIMD lanes, with no bound tested first. The same assignment and sums
    /// (the same updates in the same order) as the bounded search; the bounds themselves are
    /// left as they are, unread.
    fn assign_by_scan(&mut self) -> Sums {
        let k = self.centroids.len();
        let centroids: Vec<[f32x8; 3]> =
            self.centroids.iter().map(|c| c.map(f32x8::splat)).collect();
        let full = self.sums.is_none();
        let partial = by_chunks(
            &mut self.labels,
            &mut [],
            self.points,
            self.weights,
            k,
            |labels, _, points, weights, acc| {
                for ((labels, points), weights) in labels
                    .chunks_mut(LANES)
                    .zip(points.chunks(LANES))
                    .zip(weights.chunks(LANES))
                {
                    let nearest = nearest_of_eight(points, &centroids);
                    for ((label, &x), (&w, &n)) in labels
                        .iter_mut()
                        .zip(points)
                        .zip(weights.iter().zip(&nearest))
                    {
                        // Not read on a full pass: fresh labels are then written first (a
                        // fresh page read first is faulted twice).
                        let old = if full { 0 } else { *label };
                        // Lane values are centroid numbers below 256.
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        let new = n as u8;
                        *label = new;
                        acc.record(full, old, new, x.xyz(), w);
                    }
                }
            },
        );
        self.total(partial)
    }

    /// Adds the chunks' sums (in chunk order) to the run's and returns them.
    fn total(&mut self, partial: Vec<Sums>) -> Sums {
        let k = self.centroids.len();
        self.pending.fill(0.0);
        let total = self.sums.get_or_insert_with(|| Sums::zero(k));
        for p in &partial {
            total.add(p);
        }
        total.clone()
    }

    /// Moves the centroids to `to`, recording the movement for the bounds.
    pub fn move_to(&mut self, to: &[[f32; 3]]) {
        for ((c, &t), p) in self.centroids.iter_mut().zip(to).zip(&mut self.pending) {
            *p += dist2(*c, t).sqrt();
            *c = t;
        }
    }

    /// One Lloyd step: assign, then move every centroid to the weighted mean of its points.
    /// An empty cluster is re-seeded at the point that currently costs the most.
    pub fn step(&mut self) -> Step {
        let sums = self.assign();
        let k = self.centroids.len();
        let mut inertia = 0.0;
        let mut next = self.centroids.clone();
        let mut empty = Vec::new();
        for j in 0..k {
            let w = sums.weight[j];
            let c = self.centroids[j].map(f64::from);
            let s = sums.coord[j];
            let cc = c[0] * c[0] + c[1] * c[1] + c[2] * c[2];
            inertia += sums.norm2[j] - 2.0 * (c[0] * s[0] + c[1] * s[1] + c[2] * s[2]) + w * cc;
            if w > 0.0 {
                // Means of f32 points fit f32.
                #[allow(clippy::cast_possible_truncation)]
                let mean = s.map(|v| (v / w) as f32);
                next[j] = mean;
            } else {
                empty.push(j);
            }
        }
        if !empty.is_empty() {
            for (j, p) in empty.iter().zip(self.costliest(empty.len())) {
                next[*j] = self.points[p].xyz();
            }
        }
        self.move_to(&next);
        let max_move = self.pending.iter().copied().fold(0.0, f32::max);
        Step {
            inertia: inertia.max(0.0),
            max_move,
        }
    }

    /// The `n` points with the largest weighted distance to their centroid, highest first, ties
    /// by index.
    fn costliest(&self, n: usize) -> Vec<usize> {
        let mut scored: Vec<(f64, usize)> = self
            .labels
            .iter()
            .zip(self.weights)
            .enumerate()
            .map(|(i, (&a, &w))| {
                let d = f64::from(dist2(self.points[i].xyz(), self.centroids[usize::from(a)]));
                (f64::from(w) * d, i)
            })
            .collect();
        scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().take(n).map(|(_, i)| i).collect()
    }

    /// Applies the pending centroid movement to every bound, so the bounds can be handed on.
    pub fn settle(&mut self) {
        let max1 = self.pending.iter().copied().fold(0.0, f32::max);
        let pending = &self.pending;
        self.bounds
            .par_iter_mut()
            .zip(&self.labels)
            .for_each(|(b, &a)| {
                b.upper += pending[usize::from(a)];
                b.lower = (b.lower - max1).max(0.0);
            });
        self.pending.fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nearest two centroids of `p` one by one: the nearest (ties to the lower number) and
    /// the squared distances to it and to the second nearest.
    fn scan(c: &[[f32; 3]], p: [f32; 3]) -> (u32, f32, f32) {
        let (mut i1, mut d1, mut d2) = (0, INF, INF);
        for (j, &cj) in c.iter().enumerate() {
            let d = dist2(p, cj);
            if d < d1 {
                (i1, d1, d2) = (j as u32, d, d1);
            } else if d < d2 {
                d2 = d;
            }
        }
        (i1, d1, d2)
    }

    fn brute(points: &[[f32; 3]], c: &[[f32; 3]]) -> Vec<u32> {
        points
            .iter()
            .map(|&p| {
                let mut best = 0;
                for j in 1..c.len() {
                    if dist2(p, c[j]) < dist2(p, c[best]) {
                        best = j;
                    }
                }
                best as u32
            })
            .collect()
    }

    #[test]
    fn bounded_assignment_matches_brute_force_every_step() {
        let mut rng = super::super::rng::Rng::new(7);
        let points: Vec<[f32; 3]> = (0..5000)
            .map(|_| [0, 0, 0].map(|_: i32| (rng.next_f64() * 255.0) as f32))
            .collect();
        let weights: Vec<u32> = (0..5000).map(|i| 1 + (i % 7)).collect();
        for kk in [5usize, 37, 200] {
            let init: Vec<[f32; 3]> = points[..kk].to_vec();
            let mut l = Lloyd::new(&points, &weights, init);
            let mut last = f64::INFINITY;
            for _ in 0..30 {
                let before = l.centroids.clone();
                let s = l.step();
                let got: Vec<u32> = l.labels.iter().map(|&a| u32::from(a)).collect();
                let want = brute(&points, &before);
                let differ = got.iter().zip(&want).filter(|(a, b)| a != b).count();
                assert_eq!(differ, 0, "bounded assignment differs from brute force");
                assert!(s.inertia <= last * (1.0 + 1e-9), "{} > {}", s.inertia, last);
                last = s.inertia;
            }
        }
    }

    #[test]
    fn an_equidistant_point_goes_to_the_lower_centroid_in_both_searches() {
        // Centroid 3 and centroid 40 are both 1 away from the point; the rest are far.
        let mut c: Vec<[f32; 3]> = (0..70).map(|i| [200.0, 3.0 * i as f32, 0.0]).collect();
        c[3] = [10.0, 10.0, 10.0];
        c[40] = [12.0, 10.0, 10.0];
        let p = [11.0, 10.0, 10.0];
        assert_eq!(scan(&c, p), (3, 1.0, 1.0));
        // Three points in the lanes of a short group, all at the tie.
        let lanes: Vec<[f32x8; 3]> = c.iter().map(|c| c.map(f32x8::splat)).collect();
        assert_eq!(nearest_of_eight(&[p; 3], &lanes)[..3], [3; 3]);
        let walk = Neighbours::new(&c);
        // Walked from either of the two.
        assert_eq!(walk.nearest2(&c, p, 40, 1.0), (3, 1.0, 1.0));
        assert_eq!(walk.nearest2(&c, p, 3, 1.0), (3, 1.0, 1.0));
    }

    #[test]
    fn refreshed_neighbour_rows_match_rows_made_afresh() {
        let mut rng = super::super::rng::Rng::new(5);
        let mut pt = |scale: f64| [0; 3].map(|_: i32| (rng.next_f64() * scale) as f32);
        for k in [64usize, 100, 256] {
            let mut c: Vec<[f32; 3]> = (0..k).map(|_| pt(255.0)).collect();
            let mut nb = Neighbours::new(&c);
            // Small moves (reordered in place), then large ones (rows made afresh).
            for scale in [0.5, 2.0, 8.0, 120.0] {
                for p in &mut c {
                    let d = pt(scale);
                    *p = [p[0] + d[0], p[1] + d[1], p[2] + d[2]];
                }
                nb.refresh(&c);
                let fresh = Neighbours::new(&c);
                let n = SORTED_NEIGHBOURS.min(k - 1);
                for (a, (got, want)) in nb
                    .rows
                    .chunks(k - 1)
                    .zip(fresh.rows.chunks(k - 1))
                    .enumerate()
                {
                    assert_eq!(got[..n], want[..n], "k {k}, row {a}, moves up to {scale}");
                    let mut rest: Vec<u32> = got[n..].iter().map(|s| s.1).collect();
                    let mut want_rest: Vec<u32> = want[n..].iter().map(|s| s.1).collect();
                    rest.sort_unstable();
                    want_rest.sort_unstable();
                    assert_eq!(rest, want_rest, "k {k}, row {a}");
                    for s in &got[n..] {
                        assert_eq!(s.0, dist2(c[a], c[s.1 as usize]).sqrt());
                    }
                }
                for (got, want) in nb.near.iter().zip(&fresh.near) {
                    assert_eq!(got.index, want.index);
                    assert_eq!((got.x, got.y, got.z), (want.x, want.y, want.z));
                }
            }
        }
    }

    #[test]
    fn neighbour_walk_finds_the_same_two_nearest_as_the_scan() {
        let mut rng = super::super::rng::Rng::new(11);
        let mut pt = || [0; 3].map(|_: i32| (rng.next_f64() * 255.0) as f32);
        for k in [2usize, 7, 32, 100, 256] {
            let c: Vec<[f32; 3]> = (0..k).map(|_| pt()).collect();
            let walk = Neighbours::new(&c);
            for n in 0..500 {
                // Every fourth point far outside the centroids: its walk goes past the
                // ordered part of the row.
                let p = pt().map(|v| if n % 4 == 0 { 6.0 * v - 800.0 } else { v });
                let a = n % k;
                let (i1, d1, d2) = scan(&c, p);
                let (j1, e1, e2) = walk.nearest2(&c, p, a, dist2(p, c[a]).sqrt());
                assert_eq!(i1, j1);
                assert!((d1 - e1).abs() <= 1e-3 * d1.max(1.0), "{d1} vs {e1}");
                assert!((d2 - e2).abs() <= 1e-3 * d2.max(1.0), "{d2} vs {e2}");
            }
        }
    }
}
