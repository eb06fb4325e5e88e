//! The view: [`draw`] renders an `&App` and never changes it, and [`layout`] is the pure
//! function both the view and `update` use to know where everything goes (so `update` knows
//! the pane size a preview must be computed for without asking the renderer).
//!
//! Screen: the photo list on the left, "original" and "compressed" side by side on the right,
//! two status lines at the bottom. Issue 4's colour-space chart will take a band below the
//! previews; `layout` is the one place to change for that.

pub mod file_list;
pub mod help;
pub mod images;
pub mod stats;
pub mod theme;

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
}

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

/// Lay out a screen; `None` when it is smaller than [`MIN_SIZE`].
#[must_use]
pub fn layout(area: Rect) -> Option<Areas> {
    if area.width < MIN_SIZE.width || area.height < MIN_SIZE.height {
        return None;
    }
    let [body, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(area);
    let list_width = (area.width / 4).clamp(20, 40);
    let [list, previews] =
        Layout::horizontal([Constraint::Length(list_width), Constraint::Min(1)]).areas(body);
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
    })
}

/// Draw the whole screen from the model.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let Some(areas) = layout(area) else {
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
    if app.show_help {
        help::draw(frame, area);
    }
}
