//! Styles, in one place so the panes agree.

use ratatui::style::{Color, Modifier, Style};

/// Pane borders and titles.
pub const BORDER: Style = Style::new().fg(Color::DarkGray);
/// Pane titles.
pub const TITLE: Style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
/// The selected list row.
pub const SELECTED: Style = Style::new()
    .fg(Color::Black)
    .bg(Color::Cyan)
    .add_modifier(Modifier::BOLD);
/// Secondary text (sizes, hints).
pub const DIM: Style = Style::new().fg(Color::DarkGray);
/// Placeholders while a pane is computed.
pub const PENDING: Style = Style::new().fg(Color::Yellow);
/// Errors shown in place.
pub const ERROR: Style = Style::new().fg(Color::Red);
/// Good news (save finished).
pub const OK: Style = Style::new().fg(Color::Green);
