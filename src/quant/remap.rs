//! Mapping arbitrary colours to the nearest palette entry, and Floyd–Steinberg dithering.
//!
//! Without dithering, remapping needs no search at all: each distinct colour's nearest entry is
//! known from clustering (see `quant::quantize_with`). Dithering creates colours that are not in
//! the image, so it searches: palette points sorted on their first coordinate, scanned outward
//! from the query until the gap on that axis alone exceeds the best distance found.

use super::ColorSpace;
use super::color::dist2;

/// Exact nearest-neighbour search over a small palette.
pub(crate) struct Nearest {
    points: Vec<[f32; 3]>,
    index: Vec<u8>,
}

impl Nearest {
    pub fn new(palette: &[[u8; 3]], space: ColorSpace) -> Nearest {
        let mut v: Vec<([f32; 3], u8)> = palette
            .iter()
            .enumerate()
            // The palette has at most 256 entries.
            .map(|(i, &c)| (space.point(c), u8::try_from(i).unwrap_or(u8::MAX)))
            .collect();
        v.sort_by(|a, b| a.0[0].total_cmp(&b.0[0]).then(a.1.cmp(&b.1)));
        Nearest {
            points: v.iter().map(|e| e.0).collect(),
            index: v.iter().map(|e| e.1).collect(),
        }
    }

    /// Palette index nearest to `p` (lowest index on ties).
    pub fn find(&self, p: [f32; 3]) -> u8 {
        let n = self.points.len();
        let start = self.points.partition_point(|q| q[0] < p[0]);
        let mut best = (f32::INFINITY, u8::MAX);
        let consider = |i: usize, best: &mut (f32, u8)| {
            let d = dist2(p, self.points[i]);
            if d < best.0 || (d == best.0 && self.index[i] < best.1) {
                *best = (d, self.index[i]);
            }
        };
        let (mut lo, mut hi) = (start, start);
        loop {
            let mut progressed = false;
            if hi < n {
                let g = self.points[hi][0] - p[0];
                if g * g <= best.0 {
                    consider(hi, &mut best);
                    hi += 1;
                    progressed = true;
                } else {
                    hi = n;
                }
            }
            if lo > 0 {
                let g = p[0] - self.points[lo - 1][0];
                if g * g <= best.0 {
                    consider(lo - 1, &mut best);
                    lo -= 1;
                    progressed = true;
                } else {
                    lo = 0;
                }
            }
            if !progressed {
                return best.1;
            }
        }
    }
}

/// Floyd–Steinberg error diffusion in serpentine order. The error is measured and diffused in
/// sRGB, the space PSNR is measured in; the nearest entry is chosen in the clustering space.
/// A `hidden` pixel (fully transparent) gets its own colour's nearest entry and takes no part
/// in the diffusion: what it hides must not show in its visible neighbours.
pub(crate) fn dither(
    width: usize,
    rgb: &[[u8; 3]],
    hidden: &dyn Fn(usize) -> bool,
    palette: &[[u8; 3]],
    space: ColorSpace,
) -> Vec<u8> {
    let nearest = Nearest::new(palette, space);
    let mut out = vec![0u8; rgb.len()];
    if width == 0 {
        return out;
    }
    // Error carried into the current and the next row, with one pixel of margin on each side.
    let mut cur = vec![[0.0f32; 3]; width + 2];
    let mut next = vec![[0.0f32; 3]; width + 2];
    for (y, row) in rgb.chunks_exact(width).enumerate() {
        let reverse = y % 2 == 1;
        for step in 0..width {
            let x = if reverse { width - 1 - step } else { step };
            if hidden(y * width + x) {
                // Unseen: its own nearest entry; it neither takes error nor passes any on.
                out[y * width + x] = nearest.find(space.point(row[x]));
                continue;
            }
            let e = cur[x + 1];
            let want = [0, 1, 2].map(|c| (f32::from(row[x][c]) + e[c]).clamp(0.0, 255.0));
            let idx = nearest.find(space.point_f32(want));
            out[y * width + x] = idx;
            let got = palette[usize::from(idx)];
            let err = [0, 1, 2].map(|c| want[c] - f32::from(got[c]));
            // Forward neighbour is x+1 going right, x-1 going left.
            let (fwd, back) = if reverse { (x, x + 2) } else { (x + 2, x) };
            for c in 0..3 {
                cur[fwd][c] += err[c] * (7.0 / 16.0);
                next[back][c] += err[c] * (3.0 / 16.0);
                next[x + 1][c] += err[c] * (5.0 / 16.0);
                next[fwd][c] += err[c] * (1.0 / 16.0);
            }
        }
        std::mem::swap(&mut cur, &mut next);
        next.fill([0.0; 3]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_matches_brute_force() {
        let mut rng = super::super::rng::Rng::new(3);
        let mut byte = || (rng.next_u64() & 0xff) as u8;
        let palette: Vec<[u8; 3]> = (0..97).map(|_| [byte(), byte(), byte()]).collect();
        for space in [ColorSpace::Srgb, ColorSpace::Oklab] {
            let n = Nearest::new(&palette, space);
            for _ in 0..2000 {
                let q = [byte(), byte(), byte()];
                let p = space.point(q);
                let got = n.find(p);
                let d = |i: usize| dist2(p, space.point(palette[i]));
                let best = (0..palette.len()).map(d).fold(f32::INFINITY, f32::min);
                assert_eq!(d(usize::from(got)), best);
            }
        }
    }
}
