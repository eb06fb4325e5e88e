//! The colour-space view (issue 4): where a photo's pixels lie in colour space and where k-means
//! put the centroids, plus the palette and the choose-k curve.
//!
//! Split as the rest of the TUI is: the worker side (`cloud`, `project`) samples a photo, bins
//! the sample on a 32³ RGB grid and projects/bins it per terminal cell, producing render-ready
//! [`ScatterCells`]; the widgets ([`Scatter`], [`PaletteStrip`], [`PsnrCurve`]) only draw what
//! they are given, so they are tested by rendering into a `Buffer`. Re-binning for a cube
//! rotation costs well under a millisecond (`cargo bench -- chart`), cheap enough for update.
//!
//! Typical flow: `sample` → `ColourCloud::from_colours` once per photo on the worker;
//! `bin(&cloud, projection, plot.width, plot.height)` with `plot = Scatter::plot_area(area)`
//! whenever the projection or size changes; `project_marks` for the palette or for each live
//! k-means iteration.

mod cloud;
mod colour;
mod curve;
mod palette;
mod project;
mod scatter;

pub use cloud::{
    Bin, ColourCloud, SAMPLE_SEED, SAMPLE_SIZE, nearest, sample, sample_image, sample_indices,
};
pub use colour::{term_colour, truecolour_from_env, xterm256};
pub use curve::{K_LADDER, PsnrCurve};
pub use palette::{PaletteStrip, swatch_widths};
pub use project::{
    AB_RANGE, Axes, CUBE_PITCH, CUBE_YAW, Cell, Geometry, Mark, Projection, ROTATE_STEP,
    ScatterCells, bin, project_marks,
};
pub use scatter::{CENTROID, Scatter};
