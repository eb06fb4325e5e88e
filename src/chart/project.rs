//! Projections of the colour cloud onto the chart's braille grid, and the per-cell binning that
//! gives every terminal cell its dot pattern and one deliberate colour.
//!
//! A terminal cell shows a braille character of 2×4 dots in a single foreground colour, so the
//! points falling into a cell are reduced here, off the UI thread's drawing code, to the union of
//! their dots and the colour of the heaviest bin among them (the dominant colour by count, not
//! whichever point came last). Every projection is an affine map from a bin's colour (sRGB, or
//! Oklab for the a–b plane) to dot coordinates, so re-binning a rotated cube is a 2×3 matrix
//! product per occupied bin.

use std::f32::consts::PI;

use super::cloud::{Bin, ColourCloud};
use crate::quant::srgb_to_oklab;

/// Braille dot bits by (column 0..2, row 0..4 from the top): Unicode's dots 1-2-3-7 and 4-5-6-8.
const DOT_BITS: [[u8; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];
/// The scaled Oklab a and b of sRGB colours lie within ±80 (a: −60..70, b: −80..51).
pub const AB_RANGE: f32 = 80.0;
/// Half the diagonal of the RGB cube: every rotation of it fits in a circle this wide.
const CUBE_RADIUS: f32 = 127.5 * 1.732_051;
/// Yaw step of one `<`/`>` press.
pub const ROTATE_STEP: f32 = PI / 12.0;
/// The cube's initial view: turned so the hues spread, tilted so the top (white) face shows.
pub const CUBE_YAW: f32 = PI / 6.0;
pub const CUBE_PITCH: f32 = 0.45;

/// What the scatter plots against what.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Projection {
    /// Red across, green up (the original notebook's first view).
    #[default]
    Rg,
    /// Red across, blue up.
    Rb,
    /// Green across, blue up.
    Gb,
    /// Oklab a across, b up: the hue plane, greys in the middle.
    OklabAb,
    /// The RGB cube seen from outside, grey axis upright: `yaw` turns it about that axis,
    /// `pitch` tilts it towards the viewer (radians).
    Cube { yaw: f32, pitch: f32 },
}

impl Projection {
    /// The next projection in the `p` cycle.
    pub fn next(self) -> Projection {
        match self {
            Projection::Rg => Projection::Rb,
            Projection::Rb => Projection::Gb,
            Projection::Gb => Projection::OklabAb,
            Projection::OklabAb => Projection::Cube {
                yaw: CUBE_YAW,
                pitch: CUBE_PITCH,
            },
            Projection::Cube { .. } => Projection::Rg,
        }
    }

    /// The cube turned by `steps` × [`ROTATE_STEP`]; other projections are unchanged.
    pub fn rotate(self, steps: i32) -> Projection {
        match self {
            Projection::Cube { yaw, pitch } => {
                #[allow(clippy::cast_precision_loss)] // a handful of key presses
                let yaw = (yaw + steps as f32 * ROTATE_STEP).rem_euclid(2.0 * PI);
                Projection::Cube { yaw, pitch }
            }
            other => other,
        }
    }

    /// Name shown in the chart title.
    pub fn name(self) -> &'static str {
        match self {
            Projection::Rg => "R–G",
            Projection::Rb => "R–B",
            Projection::Gb => "G–B",
            Projection::OklabAb => "Oklab a–b",
            Projection::Cube { .. } => "RGB cube",
        }
    }

    /// Axis names and ranges (x, y), for the projections that have axes.
    pub fn axes(self) -> Option<Axes> {
        let rgb = |x, y| {
            Some(Axes {
                x,
                y,
                range: (0.0, 255.0),
            })
        };
        match self {
            Projection::Rg => rgb("R", "G"),
            Projection::Rb => rgb("R", "B"),
            Projection::Gb => rgb("G", "B"),
            Projection::OklabAb => Some(Axes {
                x: "a",
                y: "b",
                range: (-AB_RANGE, AB_RANGE),
            }),
            Projection::Cube { .. } => None,
        }
    }
}

/// Axis names and the (shared) value range of both axes, for labels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Axes {
    pub x: &'static str,
    pub y: &'static str,
    pub range: (f32, f32),
}

/// Which colour coordinates a projection reads.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Source {
    Rgb,
    Lab,
}

/// The affine map from colour coordinates to dot coordinates (x right, y up) for one chart
/// size. Pure and cheap; the widget rebuilds it to place axis labels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometry {
    source: Source,
    /// Rows of the 2×3 matrix and the offsets, already scaled to dots.
    mx: [f32; 3],
    my: [f32; 3],
    bx: f32,
    by: f32,
    /// Dots across and up.
    width: u32,
    height: u32,
    /// Dot range the projection's bounds span (x0..x1, y0..y1, y up): the whole grid, or a
    /// centred square for the projections that keep their aspect.
    span: [f32; 4],
}

impl Geometry {
    /// The map for a chart of `cols` × `rows` cells (2 × 4 dots each).
    pub fn new(projection: Projection, cols: u16, rows: u16) -> Geometry {
        let width = u32::from(cols) * 2;
        let height = u32::from(rows) * 4;
        #[allow(clippy::cast_precision_loss)] // at most 2¹⁸ dots
        let (w, h) = (width as f32, height as f32);
        // (source, x row, y row, constant added before scaling, world bounds, keep aspect)
        let (source, rx, ry, shift, (lo, hi), square) = match projection {
            Projection::Rg => (
                Source::Rgb,
                [1., 0., 0.],
                [0., 1., 0.],
                0.0,
                (0.0, 256.0),
                false,
            ),
            Projection::Rb => (
                Source::Rgb,
                [1., 0., 0.],
                [0., 0., 1.],
                0.0,
                (0.0, 256.0),
                false,
            ),
            Projection::Gb => (
                Source::Rgb,
                [0., 1., 0.],
                [0., 0., 1.],
                0.0,
                (0.0, 256.0),
                false,
            ),
            Projection::OklabAb => (
                Source::Lab,
                [0., 1., 0.],
                [0., 0., 1.],
                0.0,
                (-AB_RANGE, AB_RANGE),
                true,
            ),
            Projection::Cube { yaw, pitch } => {
                let (rx, ry) = cube_rows(yaw, pitch);
                // The cube is centred on mid-grey before rotating.
                (
                    Source::Rgb,
                    rx,
                    ry,
                    -127.5,
                    (-CUBE_RADIUS, CUBE_RADIUS),
                    true,
                )
            }
        };
        let extent = hi - lo;
        let (sx, sy) = if square {
            let s = (w / extent).min(h / extent);
            (s, s)
        } else {
            (w / extent, h / extent)
        };
        // Offsets that centre the bounds in the grid (no-op when they fill it).
        let ox = (w - sx * extent) / 2.0 - sx * lo;
        let oy = (h - sy * extent) / 2.0 - sy * lo;
        // x = sx·(rx·(p + shift)) + ox, folded into one affine map.
        let fold = |r: [f32; 3], s: f32, o: f32| {
            let m = r.map(|v| v * s);
            (m, o + shift * (m[0] + m[1] + m[2]))
        };
        let (mx, bx) = fold(rx, sx, ox);
        let (my, by) = fold(ry, sy, oy);
        Geometry {
            source,
            mx,
            my,
            bx,
            by,
            width,
            height,
            span: [ox + sx * lo, ox + sx * hi, oy + sy * lo, oy + sy * hi],
        }
    }

    /// Dot (x from the left, y from the top) of a colour given as sRGB and Oklab, if inside.
    pub fn dot(&self, rgb: [f32; 3], lab: [f32; 3]) -> Option<(u32, u32)> {
        let p = match self.source {
            Source::Rgb => rgb,
            Source::Lab => lab,
        };
        let fx = self.mx[0] * p[0] + self.mx[1] * p[1] + self.mx[2] * p[2] + self.bx;
        let fy = self.my[0] * p[0] + self.my[1] * p[1] + self.my[2] * p[2] + self.by;
        self.dot_at(fx, fy)
    }

    fn dot_at(self, fx: f32, fy: f32) -> Option<(u32, u32)> {
        // Also rejects NaN.
        #[allow(clippy::cast_precision_loss)]
        let inside = fx >= 0.0 && fy >= 0.0 && fx < self.width as f32 && fy < self.height as f32;
        if !inside {
            return None;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked above
        let (x, up) = (fx as u32, fy as u32);
        Some((
            x.min(self.width - 1),
            self.height - 1 - up.min(self.height - 1),
        ))
    }

    /// Cells (first, last) that the axis bounds span across and down, for label placement.
    pub fn span_cells(&self) -> ((u16, u16), (u16, u16)) {
        let cell = |d: f32, per: f32, max: u32| -> u16 {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let c = (d.max(0.0) / per) as u32;
            u16::try_from(c.min(max.saturating_sub(1) / per as u32)).unwrap_or(0)
        };
        let [x0, x1, y0, y1] = self.span;
        #[allow(clippy::cast_precision_loss)]
        let h = self.height as f32;
        let cols = (cell(x0, 2.0, self.width), cell(x1 - 0.5, 2.0, self.width));
        let rows = (
            cell(h - y1, 4.0, self.height),
            cell(h - y0 - 0.5, 4.0, self.height),
        );
        (cols, rows)
    }
}

/// Screen rows of the cube rotation: the grey axis (1,1,1) upright, turned by `yaw` about it,
/// then tilted by `pitch` about the screen's horizontal axis.
fn cube_rows(yaw: f32, pitch: f32) -> ([f32; 3], [f32; 3]) {
    let s2 = std::f32::consts::FRAC_1_SQRT_2;
    let s3 = 1.0 / 3.0f32.sqrt();
    let s6 = 1.0 / 6.0f32.sqrt();
    // An orthonormal basis with `up` along the grey axis.
    let e1 = [s2, -s2, 0.0];
    let e2 = [s6, s6, -2.0 * s6];
    let up = [s3, s3, s3];
    let (sy, cy) = yaw.sin_cos();
    let (sp, cp) = pitch.sin_cos();
    let mut x = [0.0; 3];
    let mut y = [0.0; 3];
    for i in 0..3 {
        x[i] = cy * e1[i] - sy * e2[i];
        let depth = sy * e1[i] + cy * e2[i];
        y[i] = cp * up[i] - sp * depth;
    }
    (x, y)
}

/// One terminal cell of the scatter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    /// Braille dots set (bit layout of U+2800); 0 when no point fell here.
    pub pattern: u8,
    /// The colour of the heaviest bin among the cell's points.
    pub colour: [u8; 3],
}

/// A marker at a cell: a centroid, or a cube corner's letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    pub col: u16,
    pub row: u16,
    pub colour: [u8; 3],
    /// The character drawn for labels; centroids use the widget's marker.
    pub symbol: char,
}

/// The render-ready scatter for one chart size and projection: built on the worker (or by a
/// cheap call in update for a rotation), drawn as is by [`super::Scatter`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScatterCells {
    pub projection: Projection,
    pub cols: u16,
    pub rows: u16,
    /// Row-major, `cols × rows`.
    pub cells: Vec<Cell>,
    /// Faint guide dots per cell (cube edges, the a = 0 and b = 0 axes), same layout; empty
    /// when the projection has none.
    pub guides: Vec<u8>,
    /// Labelled points (the cube's corners).
    pub labels: Vec<Mark>,
    /// Points (pixels) plotted: the cloud's total.
    pub points: u64,
}

impl ScatterCells {
    /// The cell at (`col`, `row`), if inside.
    pub fn cell(&self, col: u16, row: u16) -> Option<Cell> {
        if col >= self.cols || row >= self.rows {
            return None;
        }
        self.cells
            .get(usize::from(row) * usize::from(self.cols) + usize::from(col))
            .copied()
    }

    /// The guide dots at (`col`, `row`), 0 if none.
    pub fn guide(&self, col: u16, row: u16) -> u8 {
        if col >= self.cols || row >= self.rows {
            return 0;
        }
        self.guides
            .get(usize::from(row) * usize::from(self.cols) + usize::from(col))
            .copied()
            .unwrap_or(0)
    }
}

/// Projects and bins `cloud` for a chart of `cols` × `rows` cells.
pub fn bin(cloud: &ColourCloud, projection: Projection, cols: u16, rows: u16) -> ScatterCells {
    let geometry = Geometry::new(projection, cols, rows);
    let n = usize::from(cols) * usize::from(rows);
    let mut cells = vec![Cell::default(); n];
    // Count of the heaviest bin seen per cell; ties keep the first bin (grid order).
    let mut best = vec![0u64; n];
    for Bin {
        rgb,
        lab,
        colour,
        count,
    } in &cloud.bins
    {
        let Some((x, y)) = geometry.dot(*rgb, *lab) else {
            continue;
        };
        let i = (y / 4) as usize * usize::from(cols) + (x / 2) as usize;
        let (Some(cell), Some(top)) = (cells.get_mut(i), best.get_mut(i)) else {
            continue;
        };
        cell.pattern |= DOT_BITS[(x % 2) as usize][(y % 4) as usize];
        if *count > *top {
            *top = *count;
            cell.colour = *colour;
        }
    }
    let mut guides = Vec::new();
    let mut labels = Vec::new();
    match projection {
        Projection::Cube { .. } => {
            guides = vec![0; n];
            for (a, b) in CUBE_EDGES {
                line(
                    &geometry,
                    cols,
                    &mut guides,
                    corner(a),
                    corner(b),
                    Source::Rgb,
                );
            }
            for (i, symbol) in CORNER_LABELS.iter().enumerate() {
                let c = corner(i);
                if let Some((x, y)) = geometry.dot(c, [0.0; 3]) {
                    let colour = c.map(|v| v as u8);
                    labels.push(Mark {
                        col: u16::try_from(x / 2).unwrap_or(0),
                        row: u16::try_from(y / 4).unwrap_or(0),
                        // Black would vanish on a dark terminal.
                        colour: if i == 0 { [128; 3] } else { colour },
                        symbol: *symbol,
                    });
                }
            }
        }
        Projection::OklabAb => {
            guides = vec![0; n];
            let r = AB_RANGE;
            line(
                &geometry,
                cols,
                &mut guides,
                [0.0, -r, 0.0],
                [0.0, r, 0.0],
                Source::Lab,
            );
            line(
                &geometry,
                cols,
                &mut guides,
                [0.0, 0.0, -r],
                [0.0, 0.0, r],
                Source::Lab,
            );
        }
        _ => {}
    }
    ScatterCells {
        projection,
        cols,
        rows,
        cells,
        guides,
        labels,
        points: cloud.total,
    }
}

/// Projects centroid colours (e.g. the palette, or a live k-means iteration) onto the cells of
/// the same chart, in the same order.
pub fn project_marks(
    projection: Projection,
    cols: u16,
    rows: u16,
    colours: &[[u8; 3]],
) -> Vec<Mark> {
    let geometry = Geometry::new(projection, cols, rows);
    colours
        .iter()
        .filter_map(|&c| {
            let (x, y) = geometry.dot(c.map(f32::from), srgb_to_oklab(c))?;
            Some(Mark {
                col: u16::try_from(x / 2).ok()?,
                row: u16::try_from(y / 4).ok()?,
                colour: c,
                symbol: '●',
            })
        })
        .collect()
}

/// Corners of the RGB cube by bit index (bit 2 = R, 1 = G, 0 = B), and their letters.
const CORNER_LABELS: [char; 8] = ['K', 'B', 'G', 'C', 'R', 'M', 'Y', 'W'];
/// Pairs of corners one channel apart.
const CUBE_EDGES: [(usize, usize); 12] = [
    (0, 1),
    (0, 2),
    (0, 4),
    (1, 3),
    (1, 5),
    (2, 3),
    (2, 6),
    (3, 7),
    (4, 5),
    (4, 6),
    (5, 7),
    (6, 7),
];

fn corner(i: usize) -> [f32; 3] {
    let ch = |bit: usize| if i & bit != 0 { 255.0 } else { 0.0 };
    [ch(4), ch(2), ch(1)]
}

/// Sets guide dots along the segment `a`–`b` (colour coordinates in `source`).
fn line(
    geometry: &Geometry,
    cols: u16,
    guides: &mut [u8],
    a: [f32; 3],
    b: [f32; 3],
    source: Source,
) {
    // One step per dot is enough; the chart is at most a few hundred dots across.
    let steps = geometry.width.max(geometry.height) * 2;
    for s in 0..=steps {
        #[allow(clippy::cast_precision_loss)]
        let t = s as f32 / steps.max(1) as f32;
        let p = [0, 1, 2].map(|i| a[i] + (b[i] - a[i]) * t);
        let dot = match source {
            Source::Rgb => geometry.dot(p, [0.0; 3]),
            Source::Lab => geometry.dot([0.0; 3], p),
        };
        if let Some((x, y)) = dot {
            let i = (y / 4) as usize * usize::from(cols) + (x / 2) as usize;
            if let Some(g) = guides.get_mut(i) {
                *g |= DOT_BITS[(x % 2) as usize][(y % 4) as usize];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud(points: &[([u8; 3], u64)]) -> ColourCloud {
        ColourCloud::from_weighted(points.iter().copied())
    }

    #[test]
    fn projection_cycle() {
        let mut p = Projection::default();
        let mut names = Vec::new();
        for _ in 0..5 {
            names.push(p.name());
            p = p.next();
        }
        assert_eq!(names, ["R–G", "R–B", "G–B", "Oklab a–b", "RGB cube"]);
        assert_eq!(p, Projection::Rg);
        assert_eq!(Projection::Rg.rotate(3), Projection::Rg);
        let cube = Projection::Rg.next().next().next().next();
        assert_ne!(cube.rotate(1), cube);
        assert_eq!(cube.rotate(1).rotate(-1), cube);
    }

    #[test]
    fn rg_corners_land_in_corner_cells() {
        let c = cloud(&[([0, 0, 0], 1), ([255, 255, 0], 1), ([255, 0, 0], 1)]);
        let s = bin(&c, Projection::Rg, 10, 5);
        // (0,0) bottom-left dot: left column, bottom row of the braille cell.
        assert_eq!(s.cell(0, 4).map(|c| c.pattern), Some(0x40));
        // (255,255): top-right dot of the top-right cell.
        assert_eq!(s.cell(9, 0).map(|c| c.pattern), Some(0x08));
        assert_eq!(s.cell(9, 4).map(|c| c.pattern), Some(0x80));
        assert_eq!(s.cells.iter().filter(|c| c.pattern != 0).count(), 3);
    }

    #[test]
    fn dominant_colour_wins_the_cell() {
        // 90 red and 10 blue points in the same R–G cell (blue differs only in B).
        for order in [[0, 1], [1, 0]] {
            let pts = [([200, 10, 0], 90), ([200, 10, 255], 10)];
            let c = cloud(&[pts[order[0]], pts[order[1]]]);
            let s = bin(&c, Projection::Rg, 4, 4);
            let lit: Vec<_> = s.cells.iter().filter(|c| c.pattern != 0).collect();
            assert_eq!(lit.len(), 1);
            assert_eq!(lit[0].colour, [200, 10, 0]);
        }
    }

    #[test]
    fn zero_size_and_empty() {
        let c = cloud(&[([1, 2, 3], 1)]);
        for p in [
            Projection::Rg,
            Projection::OklabAb,
            Projection::Rg.rotate(0).next().next().next().next(),
        ] {
            let s = bin(&c, p, 0, 0);
            assert!(s.cells.is_empty());
            assert!(project_marks(p, 0, 7, &[[1, 2, 3]]).is_empty());
            let s = bin(&ColourCloud::default(), p, 3, 3);
            assert!(s.cells.iter().all(|c| c.pattern == 0));
        }
    }

    #[test]
    fn oklab_range_covers_srgb() {
        let mut extreme = 0.0f32;
        for i in 0..8 {
            let lab = srgb_to_oklab(corner(i).map(|v| v as u8));
            extreme = extreme.max(lab[1].abs()).max(lab[2].abs());
        }
        assert!(extreme < AB_RANGE, "{extreme}");
        // Greys sit at the centre of the a–b plane.
        let s = bin(&cloud(&[([128, 128, 128], 1)]), Projection::OklabAb, 20, 10);
        let lit: Vec<_> = (0..10u16)
            .flat_map(|r| (0..20u16).map(move |c| (c, r)))
            .filter(|&(c, r)| s.cell(c, r).is_some_and(|x| x.pattern != 0))
            .collect();
        assert_eq!(lit.len(), 1);
        assert!(
            (9..=10).contains(&lit[0].0) && (4..=5).contains(&lit[0].1),
            "{lit:?}"
        );
    }

    #[test]
    fn cube_shows_every_corner_and_all_edges() {
        let cube = Projection::OklabAb.next();
        for turn in 0..24 {
            let s = bin(&ColourCloud::default(), cube.rotate(turn), 60, 20);
            assert_eq!(s.labels.len(), 8, "turn {turn}");
            assert!(s.guides.iter().filter(|&&g| g != 0).count() > 60);
            // White is always above black: the grey axis stays upright.
            let row = |ch| s.labels.iter().find(|m| m.symbol == ch).map(|m| m.row);
            assert!(row('W') < row('K'));
        }
    }

    #[test]
    fn marks_follow_the_projection() {
        let m = project_marks(Projection::Rg, 10, 5, &[[255, 0, 0], [0, 255, 9]]);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].col, m[0].row), (9, 4));
        assert_eq!((m[1].col, m[1].row), (0, 0));
        assert_eq!(m[1].colour, [0, 255, 9]);
    }

    #[test]
    fn span_cells_fill_or_centre() {
        let g = Geometry::new(Projection::Rg, 40, 10);
        assert_eq!(g.span_cells(), ((0, 39), (0, 9)));
        // 80×40 dots, a–b keeps a 40×40 square in the middle: cells 10..29 across.
        let g = Geometry::new(Projection::OklabAb, 40, 10);
        assert_eq!(g.span_cells(), ((10, 29), (0, 9)));
    }
}
