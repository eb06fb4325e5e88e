//! The colour-space chart's state: what the user chose (visible, projection, original or
//! compressed pixels) and what the worker sent for the current photo (clouds, palette, live
//! centroids, PSNR-vs-k points), plus the scatter binned for the current chart size.
//!
//! Re-binning is the one computation here: a projection of a few thousand pre-binned colours
//! (about 0.1 ms at 160×48, see `cargo bench -- chart`), so `update` does it whenever an input
//! changes and the view only draws the result.

use std::path::PathBuf;
use std::sync::Arc;

use ratatui::layout::{Rect, Size};

use crate::chart::{self, ColourCloud, Mark, Projection, ScatterCells};
use crate::msg::{ChartUpdate, PaletteData};
use crate::quant::ColorSpace;

/// What a PSNR-vs-k curve is valid for: photo, colour space, dithering and pane size.
pub type CurveKey = (PathBuf, ColorSpace, bool, Size);

/// The chart pane's state.
#[derive(Debug, Default)]
pub struct ChartState {
    /// The pane is shown (when the terminal has room for it).
    pub visible: bool,
    /// What the scatter plots against what.
    pub projection: Projection,
    /// Chart the compressed pixels instead of the original ones.
    pub show_compressed: bool,
    /// 24-bit colours (from `COLORTERM`), else the nearest of 256.
    pub truecolour: bool,
    /// The original photo's pixel sample, binned.
    pub original: Option<Arc<ColourCloud>>,
    /// The compressed preview's palette and recoloured sample.
    pub palette: Option<Arc<PaletteData>>,
    /// Centroids of a k-means iteration in progress, with its number; cleared when the
    /// palette arrives.
    pub live: Option<(u32, Vec<[u8; 3]>)>,
    /// PSNR against k for this photo and settings, as far as the worker got.
    pub curve: Vec<(u16, f64)>,
    /// The request the curve belongs to.
    pub curve_for: Option<CurveKey>,
    /// The scatter binned for the current plot size, projection and view.
    pub cells: ScatterCells,
    /// The centroids projected the same way.
    pub marks: Vec<Mark>,
}

impl ChartState {
    /// A hidden or shown chart with nothing to plot yet.
    #[must_use]
    pub fn new(visible: bool) -> Self {
        Self {
            visible,
            ..Self::default()
        }
    }

    /// Apply data from the worker (already checked to be for the current request).
    pub fn accept(&mut self, update: ChartUpdate) {
        match update {
            ChartUpdate::Cloud(cloud) => self.original = Some(cloud),
            ChartUpdate::Palette(palette) => {
                self.palette = Some(palette);
                self.live = None;
            }
            ChartUpdate::Centroids {
                iteration,
                centroids,
            } => self.live = Some((iteration, centroids)),
            ChartUpdate::Curve(points) => self.curve = points,
        }
    }

    /// Forget the photo's data (another photo, or another pane size, is coming).
    pub fn clear_photo(&mut self) {
        self.original = None;
        self.palette = None;
        self.live = None;
    }

    /// The cloud the scatter shows: the compressed one when asked for and available.
    #[must_use]
    pub fn cloud(&self) -> Option<&ColourCloud> {
        if self.show_compressed {
            self.palette.as_deref().map(|p| &p.cloud)
        } else {
            self.original.as_deref()
        }
    }

    /// Re-bin the scatter and re-project the centroids for a plot of `plot` cells.
    pub fn rebin(&mut self, plot: Rect) {
        let (cols, rows) = (plot.width, plot.height);
        self.cells = match self.cloud() {
            Some(cloud) => chart::bin(cloud, self.projection, cols, rows),
            None => chart::bin(&ColourCloud::default(), self.projection, cols, rows),
        };
        let centroids: &[[u8; 3]] = match (&self.live, &self.palette) {
            (Some((_, live)), _) => live,
            (None, Some(p)) => &p.palette,
            (None, None) => &[],
        };
        self.marks = chart::project_marks(self.projection, cols, rows, centroids);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn palette() -> Arc<PaletteData> {
        Arc::new(PaletteData {
            palette: vec![[250, 10, 10], [10, 10, 250]],
            counts: vec![3, 1],
            cloud: ColourCloud::from_weighted([([250, 10, 10], 3), ([10, 10, 250], 1)]),
        })
    }

    #[test]
    fn live_centroids_give_way_to_the_palette() {
        let mut chart = ChartState::new(true);
        chart.accept(ChartUpdate::Cloud(Arc::new(ColourCloud::from_colours(&[
            [1, 2, 3],
        ]))));
        chart.accept(ChartUpdate::Centroids {
            iteration: 2,
            centroids: vec![[128, 128, 128]],
        });
        chart.rebin(Rect::new(0, 0, 20, 8));
        assert_eq!(chart.marks.len(), 1);
        assert_eq!(chart.marks[0].colour, [128, 128, 128]);
        chart.accept(ChartUpdate::Palette(palette()));
        chart.rebin(Rect::new(0, 0, 20, 8));
        assert!(chart.live.is_none());
        assert_eq!(chart.marks.len(), 2);
        assert_eq!(chart.cells.points, 1);
        chart.show_compressed = true;
        chart.rebin(Rect::new(0, 0, 20, 8));
        assert_eq!(chart.cells.points, 4);
        chart.clear_photo();
        chart.rebin(Rect::new(0, 0, 20, 8));
        assert_eq!(chart.cells.points, 0);
        assert!(chart.marks.is_empty());
    }
}
