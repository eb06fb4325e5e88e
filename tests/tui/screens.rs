//! Whole-screen snapshots through ratatui's `TestBackend` with a half-blocks picker:
//! loading → loaded → error, plus help and a too-small terminal.

use crossterm::event::KeyCode;
use kquant::msg::{FullStats, Msg, Outcome, PreviewStats};
use kquant::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::tui::support::{SCREEN, app_with, only_preview, press, protocol};

fn screen(app: &kquant::app::App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| ui::draw(frame, app)).unwrap();
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            text.push_str(buffer[(x, y)].symbol());
        }
        text.push('\n');
    }
    text
}

#[test]
fn loading_then_loaded_then_error() {
    let (mut app, effects) = app_with(&["holiday/beach.jpg", "dragonfly.jpg", "broken.jpg"]);
    let request = only_preview(&effects).clone();
    insta::assert_snapshot!("loading", screen(&app, SCREEN.width, SCREEN.height));

    app.update(Msg::Job(Outcome::Original {
        generation: request.generation,
        protocol: protocol(request.cells),
        full_size: (5472, 3648),
    }));
    insta::assert_snapshot!("original_ready", screen(&app, SCREEN.width, SCREEN.height));

    app.update(Msg::Job(Outcome::Quantized {
        generation: request.generation,
        protocol: protocol(request.cells),
        stats: PreviewStats {
            colours: 16,
            psnr: 29.04,
            png_bytes: 48_200,
            preview_size: (700, 520),
        },
        full_size: (5472, 3648),
    }));
    insta::assert_snapshot!("loaded", screen(&app, SCREEN.width, SCREEN.height));

    app.update(Msg::Job(Outcome::FullStats {
        generation: request.generation,
        stats: FullStats {
            psnr: 31.27,
            png_bytes: 2_480_000,
        },
    }));
    insta::assert_snapshot!(
        "full_size_figures",
        screen(&app, SCREEN.width, SCREEN.height)
    );

    app.update(press(KeyCode::Char('+')));
    insta::assert_snapshot!(
        "quantizing_next_k",
        screen(&app, SCREEN.width, SCREEN.height)
    );

    app.update(press(KeyCode::End));
    let generation = app.preview.generation;
    app.update(Msg::Job(Outcome::Failed {
        generation,
        error: "broken.jpg: unexpected end of JPEG data".into(),
    }));
    insta::assert_snapshot!("error", screen(&app, SCREEN.width, SCREEN.height));
}

#[test]
fn help_overlay_and_too_small_terminal() {
    let (mut app, _) = app_with(&["a.jpg"]);
    app.update(press(KeyCode::Char('?')));
    insta::assert_snapshot!("help", screen(&app, SCREEN.width, SCREEN.height));
    let small = screen(&app, 40, 10);
    assert!(small.contains("kquant needs at least 60×12"), "{small}");
}

#[test]
fn sixel_says_the_original_is_re_quantized() {
    let (mut app, _) = app_with(&["a.jpg"]);
    app.update(Msg::GraphicsReady {
        protocol: "sixel".into(),
        requantizes: true,
    });
    let text = screen(&app, SCREEN.width, SCREEN.height);
    assert!(
        text.contains("sixel re-quantizes to ≤256 colours"),
        "{text}"
    );
}
