//! A coarse histogram: distinct colours pooled into bins of `2^(8-bits)` levels per channel,
//! each bin represented by the weighted mean of its colours (in the clustering space) and their
//! total weight. k-means++ seeding and the first Lloyd iterations run here, on tens of thousands
//! of bins instead of up to millions of distinct colours; the exact level then only polishes.

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

fn bin_key(c: [u8; 3], bits: u32) -> usize {
    let s = 8 - bits;
    (usize::from(c[0] >> s) << (2 * bits))
        | (usize::from(c[1] >> s) << bits)
        | usize::from(c[2] >> s)
}

impl Coarse {
    pub fn new(colours: &[[u8; 3]], counts: &[u32], points: &[[f32; 3]], bits: u32) -> Coarse {
        let mut slot = vec![u32::MAX; 1 << (3 * bits)];
        let mut sums: Vec<([f64; 3], f64)> = Vec::new();
        let mut bin_of = Vec::with_capacity(colours.len());
        let mut norm2 = 0.0;
        for ((&c, &w), &p) in colours.iter().zip(counts).zip(points) {
            let s = &mut slot[bin_key(c, bits)];
            if *s == u32::MAX {
                // At most 2^21 bins.
                #[allow(clippy::cast_possible_truncation)]
                let next = sums.len() as u32;
                *s = next;
                sums.push(([0.0; 3], 0.0));
            }
            bin_of.push(*s);
            let w = f64::from(w);
            let e = &mut sums[*s as usize];
            let pd = p.map(f64::from);
            for d in 0..3 {
                e.0[d] += w * pd[d];
            }
            e.1 += w;
            norm2 += w * (pd[0] * pd[0] + pd[1] * pd[1] + pd[2] * pd[2]);
        }
        let mut means_norm2 = 0.0;
        let mut points_out = Vec::with_capacity(sums.len());
        let mut weights = Vec::with_capacity(sums.len());
        for (s, w) in &sums {
            let m = s.map(|v| v / w);
            means_norm2 += w * (m[0] * m[0] + m[1] * m[1] + m[2] * m[2]);
            // Means of f32 points fit f32; bin weights are pixel counts, which fit u32.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            {
                points_out.push(m.map(|v| v as f32));
                weights.push(*w as u32);
            }
        }
        Coarse {
            points: points_out,
            weights,
            bin_of,
            scatter: (norm2 - means_norm2).max(0.0),
        }
    }
}
