//! The key table, as a table.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use kquant::keymap::{action_for, mouse_action};
use kquant::msg::Action;

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

#[test]
fn every_documented_key_maps_to_its_action() {
    let table: &[(KeyEvent, Option<Action>)] = &[
        (key(KeyCode::Down), Some(Action::SelectNext)),
        (key(KeyCode::Char('j')), Some(Action::SelectNext)),
        (key(KeyCode::Up), Some(Action::SelectPrev)),
        (key(KeyCode::Char('k')), Some(Action::SelectPrev)),
        (key(KeyCode::PageDown), Some(Action::PageDown)),
        (key(KeyCode::PageUp), Some(Action::PageUp)),
        (key(KeyCode::Home), Some(Action::First)),
        (key(KeyCode::End), Some(Action::Last)),
        (key(KeyCode::Char('+')), Some(Action::IncreaseK)),
        (key(KeyCode::Char('=')), Some(Action::IncreaseK)),
        (key(KeyCode::Char('-')), Some(Action::DecreaseK)),
        (key(KeyCode::Char('d')), Some(Action::ToggleDither)),
        (key(KeyCode::Char('c')), Some(Action::ToggleSpace)),
        (key(KeyCode::Char('s')), Some(Action::Save)),
        (key(KeyCode::Char('?')), Some(Action::ToggleHelp)),
        (key(KeyCode::Char('g')), Some(Action::ToggleChart)),
        (key(KeyCode::Char('p')), Some(Action::CycleProjection)),
        (key(KeyCode::Char('v')), Some(Action::ToggleChartView)),
        (key(KeyCode::Char('<')), Some(Action::RotateLeft)),
        (key(KeyCode::Char(',')), Some(Action::RotateLeft)),
        (key(KeyCode::Char('>')), Some(Action::RotateRight)),
        (key(KeyCode::Char('.')), Some(Action::RotateRight)),
        (key(KeyCode::Char('h')), Some(Action::RotateLeft)),
        (key(KeyCode::Char('l')), Some(Action::RotateRight)),
        // '<' and '>' arrive with SHIFT on most layouts.
        (
            KeyEvent::new(KeyCode::Char('>'), KeyModifiers::SHIFT),
            Some(Action::RotateRight),
        ),
        (key(KeyCode::Char('q')), Some(Action::Quit)),
        (key(KeyCode::Esc), Some(Action::Quit)),
        (
            KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Action::Quit),
        ),
        // '+' arrives with SHIFT on most layouts.
        (
            KeyEvent::new(KeyCode::Char('+'), KeyModifiers::SHIFT),
            Some(Action::IncreaseK),
        ),
        (key(KeyCode::Char('x')), None),
        (key(KeyCode::Enter), None),
        (
            KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL),
            None,
        ),
        (
            KeyEvent::new_with_kind(KeyCode::Down, KeyModifiers::NONE, KeyEventKind::Release),
            None,
        ),
    ];
    for (event, expected) in table {
        assert_eq!(action_for(*event), *expected, "{event:?}");
    }
}

#[test]
fn mouse_wheel_scrolls_the_list() {
    let mouse = |kind| MouseEvent {
        kind,
        column: 3,
        row: 4,
        modifiers: KeyModifiers::NONE,
    };
    assert_eq!(
        mouse_action(mouse(MouseEventKind::ScrollDown)),
        Some(Action::SelectNext)
    );
    assert_eq!(
        mouse_action(mouse(MouseEventKind::ScrollUp)),
        Some(Action::SelectPrev)
    );
    assert_eq!(mouse_action(mouse(MouseEventKind::Moved)), None);
}
