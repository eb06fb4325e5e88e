//! The help overlay: every key, from the keymap's own table so the two never disagree.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::theme;
use crate::keymap::HELP;

/// Draw the overlay centred on `area`.
pub fn draw(frame: &mut Frame, area: Rect) {
    let height = u16::try_from(HELP.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(56)])
        .flex(Flex::Center)
        .areas(row);
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(format!(" {keys:<16}"), theme::TITLE),
                Span::raw(*what),
            ])
        })
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .border_style(theme::BORDER)
                .title(Span::styled(" keys (? to close) ", theme::TITLE)),
        ),
        popup,
    );
}
