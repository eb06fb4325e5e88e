//! The list pane: relative path and size of every photo found, the selection, and a
//! "scanning… N found" title while the scan runs.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, List, ListItem, ListState};

use super::theme;
use crate::app::Library;

/// Draw the list into `area` (border included).
pub fn draw(frame: &mut Frame, area: Rect, library: &Library) {
    let mut title = format!(" photos ({}) ", library.entries.len());
    if library.scanning {
        title = format!(" scanning… {} found ", library.entries.len());
    }
    let mut block = Block::bordered()
        .border_style(theme::BORDER)
        .title(Span::styled(title, theme::TITLE));
    if !library.errors.is_empty() {
        block = block.title_bottom(Span::styled(
            format!(" {} unreadable ", library.errors.len()),
            theme::ERROR,
        ));
    }
    // Two columns go to the selection marker.
    let inner_width = usize::from(area.width.saturating_sub(4));
    let rows = usize::from(area.height.saturating_sub(2));
    // Only the visible rows become widgets: a 10 000-photo folder costs one screen per frame.
    let items: Vec<ListItem> = library
        .entries
        .iter()
        .skip(library.offset)
        .take(rows)
        .map(|e| {
            let size = human_bytes(e.bytes);
            let name_width = inner_width.saturating_sub(size.len() + 1);
            let name = truncate_left(&super::safe(&e.display), name_width);
            let pad = inner_width.saturating_sub(name.chars().count() + size.len());
            ListItem::new(Line::from(vec![
                Span::raw(name),
                Span::raw(" ".repeat(pad)),
                Span::styled(size, theme::DIM),
            ]))
        })
        .collect();
    let empty = items.is_empty();
    let list = List::new(items)
        .block(block)
        .highlight_style(theme::SELECTED)
        .highlight_symbol("▸ ");
    let mut state = ListState::default()
        .with_selected(library.selected.map(|s| s.saturating_sub(library.offset)));
    frame.render_stateful_widget(list, area, &mut state);
    if empty && !library.scanning {
        let inner = Block::bordered().inner(area);
        frame.render_widget(Span::styled("no photos found", theme::DIM), inner);
    }
}

/// Keep the end of a long path (the file name matters most), marking the cut with "…".
fn truncate_left(s: &str, width: usize) -> String {
    let len = s.chars().count();
    if len <= width {
        return s.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let tail: String = s.chars().skip(len - (width - 1)).collect();
    format!("…{tail}")
}

/// "532 B", "4.1 MB": short sizes for the list and the status line.
#[must_use]
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)] // display only
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}
