//! The key table: a pure mapping from a terminal key (or mouse wheel) event to the user's
//! [`Action`]. No state is touched here, so the whole table is unit-tested as data.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};

use crate::msg::Action;

/// Every key the TUI understands, for the help overlay: (keys, what they do).
pub const HELP: &[(&str, &str)] = &[
    ("↑ ↓  k j", "previous / next photo"),
    ("PgUp PgDn", "one page up / down"),
    ("Home End", "first / last photo"),
    ("+ =  -", "more / fewer colours (k ladder)"),
    ("d", "dithering on / off"),
    ("c", "cluster in sRGB / Oklab"),
    ("s", "save full-resolution indexed PNG"),
    ("g", "colour-space chart on / off"),
    ("p", "chart: R–G, R–B, G–B, a–b, cube"),
    ("v", "chart original / compressed pixels"),
    ("< >  , .  h l", "turn the RGB cube"),
    ("?", "this help"),
    ("q  Esc  Ctrl-C", "quit"),
    ("mouse wheel", "scroll the list"),
];

/// The action for a key press, or `None` for keys kquant ignores (and for key releases).
#[must_use]
pub fn action_for(key: KeyEvent) -> Option<Action> {
    // Terminals with the kitty keyboard protocol also report releases; act on presses only.
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return match key.code {
            KeyCode::Char('c') => Some(Action::Quit),
            _ => None,
        };
    }
    let action = match key.code {
        KeyCode::Down | KeyCode::Char('j') => Action::SelectNext,
        KeyCode::Up | KeyCode::Char('k') => Action::SelectPrev,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::Home => Action::First,
        KeyCode::End => Action::Last,
        KeyCode::Char('+' | '=') => Action::IncreaseK,
        KeyCode::Char('-') => Action::DecreaseK,
        KeyCode::Char('d') => Action::ToggleDither,
        KeyCode::Char('c') => Action::ToggleSpace,
        KeyCode::Char('s') => Action::Save,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char('g') => Action::ToggleChart,
        KeyCode::Char('p') => Action::CycleProjection,
        KeyCode::Char('v') => Action::ToggleChartView,
        // ',' and '.' are '<' and '>' without Shift on US layouts.
        KeyCode::Char('<' | ',' | 'h') => Action::RotateLeft,
        KeyCode::Char('>' | '.' | 'l') => Action::RotateRight,
        KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
        _ => return None,
    };
    Some(action)
}

/// The action for a mouse event: the wheel scrolls the list; clicks are ignored.
#[must_use]
pub fn mouse_action(event: MouseEvent) -> Option<Action> {
    match event.kind {
        MouseEventKind::ScrollDown => Some(Action::SelectNext),
        MouseEventKind::ScrollUp => Some(Action::SelectPrev),
        _ => None,
    }
}
