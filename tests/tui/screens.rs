//! Whole-screen snapshots through ratatui's `TestBackend` with a half-blocks picker:
//! loading → loaded → error, plus help and a too-small terminal.

use crossterm::event::KeyCode;
use kquant::msg::{FullStats, Msg, Outcome, PreviewRequest, PreviewStats};
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

/// The worker's preview of `request`: `colours` used, at `psnr`, on a `preview` copy.
fn quantized(
    request: &PreviewRequest,
    colours: usize,
    psnr: f64,
    preview: (u32, u32),
    full_size: (u32, u32),
) -> Msg {
    Msg::Job(Outcome::Quantized {
        generation: request.generation,
        protocol: protocol(request.cells),
        stats: PreviewStats {
            colours,
            psnr,
            preview_size: preview,
        },
        full_size,
    })
}

/// The worker's full-resolution figures for `request`.
fn full_stats(request: &PreviewRequest, psnr: f64, png_bytes: usize, colours: usize) -> Msg {
    Msg::Job(Outcome::FullStats {
        generation: request.generation,
        stats: FullStats {
            psnr,
            png_bytes,
            colours,
        },
    })
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

    app.update(quantized(&request, 16, 29.04, (700, 520), (5472, 3648)));
    insta::assert_snapshot!("loaded", screen(&app, SCREEN.width, SCREEN.height));

    app.update(full_stats(&request, 31.27, 2_480_000, 16));
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
fn colours_used_are_those_of_the_file_once_known() {
    // A three-colour photo: its downscaled preview blends in more colours than the file has.
    let (mut app, effects) = app_with(&["three.png"]);
    let request = only_preview(&effects).clone();
    app.update(quantized(&request, 7, 41.0, (240, 160), (240, 160)));
    let text = screen(&app, SCREEN.width, SCREEN.height);
    assert!(text.contains("k = 16 (7 used)"), "{text}");
    app.update(full_stats(&request, f64::INFINITY, 178, 3));
    let text = screen(&app, SCREEN.width, SCREEN.height);
    assert!(text.contains("k = 16 (3 used)"), "{text}");
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

#[test]
fn chart_pane_with_scatter_palette_and_curve() {
    use crossterm::event::Event;
    use kquant::msg::ChartUpdate;

    use crate::tui::support::chart_data;

    let (mut app, _) = app_with(&["dragonfly.jpg", "beach.jpg"]);
    app.update(Msg::Input(Event::Resize(120, 44)));
    let request = only_preview(&app.update(press(KeyCode::Char('g')))).clone();
    let generation = request.generation;
    let (cloud, palette) = chart_data();
    app.update(Msg::Job(Outcome::Original {
        generation,
        protocol: protocol(request.cells),
        full_size: (4224, 3168),
    }));
    app.update(Msg::Job(Outcome::Chart {
        generation,
        update: ChartUpdate::Cloud(cloud),
    }));
    app.update(Msg::Job(Outcome::Chart {
        generation,
        update: ChartUpdate::Centroids {
            iteration: 2,
            centroids: vec![[200, 100, 40], [60, 90, 170], [128, 128, 128], [30, 30, 30]],
        },
    }));
    insta::assert_snapshot!("chart_live_centroids", screen(&app, 120, 44));

    app.update(Msg::Job(Outcome::Quantized {
        generation,
        protocol: protocol(request.cells),
        stats: PreviewStats {
            colours: 4,
            psnr: 29.04,
            preview_size: (700, 520),
        },
        full_size: (4224, 3168),
    }));
    app.update(Msg::Job(Outcome::Chart {
        generation,
        update: ChartUpdate::Palette(palette),
    }));
    app.update(Msg::Job(Outcome::Chart {
        generation,
        update: ChartUpdate::Curve(vec![
            (2, 18.2),
            (3, 21.0),
            (4, 23.5),
            (6, 25.1),
            (8, 26.4),
            (12, 28.0),
            (16, 29.04),
        ]),
    }));
    insta::assert_snapshot!("chart_original", screen(&app, 120, 44));

    app.update(press(KeyCode::Char('v')));
    for _ in 0..4 {
        app.update(press(KeyCode::Char('p')));
    }
    app.update(press(KeyCode::Char('>')));
    insta::assert_snapshot!("chart_compressed_cube", screen(&app, 120, 44));
}
