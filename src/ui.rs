//! The view: [`draw`] renders an `&App` and never changes it, and [`layout`] is the pure
//! function both the view and `update` use to know where everything goes (so `update` knows
//! the pane size a preview must be computed for without asking the renderer).
//!
//! Screen: the photo list on the left, "original" and "compressed" side by side on the right,
//! two status lines at the bottom, and (when shown and there is room) the colour-space chart
//! in a band below the previews: scatter on the left, palette strip and PSNR-vs-k curve on
//! the right.

pub mod chart;
pub mod file_list;
pub mod help;
pub mod images;
pub mod stats;
pub mod theme;

use std::borrow::Cow;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect, Size};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::App;

/// Smallest terminal the layout handles; below it a short message is shown instead.
pub const MIN_SIZE: Size = Size::new(60, 12);

/// Where everything goes on a screen of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// The photo list, with its border.
    pub list: Rect,
    /// The original pane, with its border.
    pub original: Rect,
    /// The compressed pane, with its border.
    pub compressed: Rect,
    /// Inside of the original pane: where its picture goes.
    pub original_inner: Rect,
    /// Inside of the compressed pane.
    pub compressed_inner: Rect,
    /// The two status lines.
    pub status: Rect,
    /// The colour-space chart, when shown.
    pub chart: Option<ChartAreas>,
}

/// The parts of the chart band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartAreas {
    /// The band with its border.
    pub block: Rect,
    /// The scatter, with its title and axis labels (see `Scatter::plot_area`).
    pub scatter: Rect,
    /// The palette strip.
    pub palette: Rect,
    /// The PSNR-vs-k curve.
    pub curve: Rect,
}

/// The previews need at least this many rows before the chart band may take some.
const CHART_MIN_BODY: u16 = 26;

impl Areas {
    /// Visible rows of the list.
    #[must_use]
    pub fn list_rows(&self) -> u16 {
        self.list.height.saturating_sub(2)
    }

    /// Size of one picture in cells: both panes get the same, so one request serves both.
    #[must_use]
    pub fn image_cells(&self) -> Size {
        Size::new(
            self.original_inner.width.min(self.compressed_inner.width),
            self.original_inner.height.min(self.compressed_inner.height),
        )
    }
}

/// Lay out a screen, with the chart band if `chart` and there is room; `None` when the
/// screen is smaller than [`MIN_SIZE`].
#[must_use]
pub fn layout(area: Rect, chart: bool) -> Option<Areas> {
    if area.width < MIN_SIZE.width || area.height < MIN_SIZE.height {
        return None;
    }
    let [body, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(area);
    let list_width = (area.width / 4).clamp(20, 40);
    let [list, previews] =
        Layout::horizontal([Constraint::Length(list_width), Constraint::Min(1)]).areas(body);
    let (previews, chart) = if chart && previews.height >= CHART_MIN_BODY {
        let band = (previews.height * 2 / 5).clamp(10, 24);
        let [previews, block] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(band)]).areas(previews);
        (previews, Some(chart_areas(block)))
    } else {
        (previews, None)
    };
    let [original, compressed] =
        Layout::horizontal([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)]).areas(previews);
    let original_inner = Block::bordered().inner(original);
    let compressed_inner = Block::bordered().inner(compressed);
    Some(Areas {
        list,
        original,
        compressed,
        original_inner,
        compressed_inner,
        status,
        chart,
    })
}

fn chart_areas(block: Rect) -> ChartAreas {
    let inner = Block::bordered().inner(block);
    let [scatter, _, side] = Layout::horizontal([
        Constraint::Percentage(58),
        Constraint::Length(2),
        Constraint::Min(1),
    ])
    .areas(inner);
    let [palette, _, curve] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(side);
    ChartAreas {
        block,
        scatter,
        palette,
        curve,
    }
}

/// Text that came from a file or an error message, made safe to draw: control characters,
/// escape sequences and bidi overrides shown as visible `\x1b`-style escapes. The model
/// already holds sanitised text (the scan, worker and save threads sanitise what they send);
/// this is the view's own guarantee, so a message source that forgets cannot put a terminal
/// escape or a reversed line on screen. Sanitising twice changes nothing.
#[must_use]
pub fn safe(text: &str) -> Cow<'_, str> {
    crate::text::sanitize(text)
}

/// Draw the whole screen from the model.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let Some(areas) = layout(area, app.chart.visible) else {
        let text = format!(
            "kquant needs at least {}×{} cells (this terminal is {}×{}).",
            MIN_SIZE.width, MIN_SIZE.height, area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    };
    file_list::draw(frame, areas.list, &app.library);
    images::draw(frame, &areas, app);
    stats::draw(frame, areas.status, app);
    if let Some(chart_areas) = &areas.chart {
        chart::draw(frame, chart_areas, app);
    }
    if app.show_help {
        help::draw(frame, area);
    }
}
