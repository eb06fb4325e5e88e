//! `App::update` without a terminal: selection, k changes, stale results, failures.

use crossterm::event::KeyCode;
use kquant::app::{K_LADDER, PaneState};
use kquant::msg::{Effect, Msg, Outcome, PreviewStats};

use crate::tui::support::{app_with, only_preview, press, protocol};

fn stats() -> PreviewStats {
    PreviewStats {
        colours: 16,
        psnr: 31.5,
        preview_size: (400, 300),
    }
}

#[test]
fn first_photo_is_requested_as_soon_as_it_is_found() {
    let (app, effects) = app_with(&["a.jpg", "b.jpg"]);
    let request = only_preview(&effects);
    assert!(request.path.ends_with("a.jpg"));
    assert_eq!(request.k, 16);
    assert!(request.want_original);
    assert!(request.cells.width > 10 && request.cells.height > 10);
    assert!(app.preview.original.is_loading());
    assert!(app.preview.compressed.is_loading());
}

#[test]
fn moving_the_selection_requests_the_new_photo() {
    let (mut app, first) = app_with(&["a.jpg", "b.jpg", "c.jpg"]);
    let first = only_preview(&first).generation;
    let effects = app.update(press(KeyCode::Down));
    let request = only_preview(&effects);
    assert!(request.path.ends_with("b.jpg"));
    assert!(request.generation > first);
    assert_eq!(app.library.selected, Some(1));
    // End, then Down at the end of the list: no move, no work.
    assert_eq!(
        only_preview(&app.update(press(KeyCode::End)))
            .path
            .file_name()
            .unwrap(),
        "c.jpg"
    );
    assert!(app.update(press(KeyCode::Down)).is_empty());
    assert!(
        only_preview(&app.update(press(KeyCode::Home)))
            .path
            .ends_with("a.jpg")
    );
}

#[test]
fn changing_k_keeps_the_original_and_recomputes_the_compressed_pane() {
    let (mut app, effects) = app_with(&["a.jpg"]);
    let request = only_preview(&effects).clone();
    assert!(
        app.update(Msg::Job(Outcome::Original {
            generation: request.generation,
            protocol: protocol(request.cells),
            full_size: (4000, 3000),
        }))
        .is_empty()
    );
    let effects = app.update(press(KeyCode::Char('+')));
    let next = only_preview(&effects);
    assert_eq!(next.k, 24);
    assert!(
        !next.want_original,
        "the original pane already shows this photo"
    );
    assert!(matches!(app.preview.original, PaneState::Ready { .. }));
    assert!(app.preview.compressed.is_loading());
    app.update(Msg::Job(Outcome::Quantized {
        generation: next.generation,
        protocol: protocol(next.cells),
        stats: stats(),
        full_size: (4000, 3000),
    }));
    // While k=16 is computed, the k=24 picture of the same photo stays up, marked as such.
    assert_eq!(only_preview(&app.update(press(KeyCode::Char('-')))).k, 16);
    assert!(matches!(
        &app.preview.compressed,
        PaneState::Loading { previous: Some(p), .. } if p.k == 24
    ));
}

#[test]
fn another_photo_never_shows_the_previous_photos_picture() {
    let (mut app, effects) = app_with(&["a.jpg", "b.jpg"]);
    let request = only_preview(&effects).clone();
    app.update(Msg::Job(Outcome::Quantized {
        generation: request.generation,
        protocol: protocol(request.cells),
        stats: stats(),
        full_size: (4000, 3000),
    }));
    app.update(press(KeyCode::Down));
    assert!(matches!(
        app.preview.compressed,
        PaneState::Loading { previous: None, .. }
    ));
    assert!(matches!(
        app.preview.original,
        PaneState::Loading { previous: None, .. }
    ));
}

#[test]
fn ten_quick_plus_presses_leave_only_the_last_request_current() {
    let (mut app, effects) = app_with(&["a.jpg"]);
    let cells = only_preview(&effects).cells;
    let mut requests = Vec::new();
    for _ in 0..10 {
        requests.extend(app.update(press(KeyCode::Char('+'))));
    }
    // The ladder tops out at 256: presses beyond it change nothing and request nothing.
    let generations: Vec<_> = requests
        .iter()
        .map(|e| match e {
            Effect::Preview(r) => (r.generation, r.k),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(generations.len(), 8);
    assert!(generations.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(
        generations.last().map(|g| g.1),
        Some(*K_LADDER.last().unwrap())
    );
    // Results for every superseded generation are dropped without a redraw.
    let _ = app.take_dirty();
    for (generation, _) in &generations[..generations.len() - 1] {
        app.update(Msg::Job(Outcome::Quantized {
            generation: *generation,
            protocol: protocol(cells),
            stats: stats(),
            full_size: (4000, 3000),
        }));
        assert!(app.preview.compressed.is_loading());
        assert!(app.preview.stats.is_none());
    }
    assert!(!app.take_dirty(), "stale results must not cause a redraw");
    let (last, _) = *generations.last().unwrap();
    app.update(Msg::Job(Outcome::Quantized {
        generation: last,
        protocol: protocol(cells),
        stats: stats(),
        full_size: (4000, 3000),
    }));
    assert!(matches!(app.preview.compressed, PaneState::Ready { .. }));
    assert!(app.take_dirty());
}

#[test]
fn a_failure_is_shown_in_place_and_browsing_goes_on() {
    let (mut app, effects) = app_with(&["broken.jpg", "good.jpg"]);
    let generation = only_preview(&effects).generation;
    app.update(Msg::Job(Outcome::Failed {
        generation,
        error: "truncated JPEG".into(),
    }));
    for pane in [&app.preview.original, &app.preview.compressed] {
        assert!(matches!(pane, PaneState::Failed { error, .. } if error == "truncated JPEG"));
    }
    let effects = app.update(press(KeyCode::Down));
    assert!(only_preview(&effects).path.ends_with("good.jpg"));
    assert!(app.preview.original.is_loading());
}

#[test]
fn settings_and_save_produce_the_right_effects() {
    let (mut app, _) = app_with(&["a.jpg"]);
    assert!(only_preview(&app.update(press(KeyCode::Char('d')))).dither);
    let space = only_preview(&app.update(press(KeyCode::Char('c')))).space;
    assert_eq!(space, kquant::quant::ColorSpace::Oklab);
    let effects = app.update(press(KeyCode::Char('s')));
    match effects.as_slice() {
        [Effect::Save(save)] => {
            assert!(save.path.ends_with("a.jpg"));
            assert_eq!(save.dest, std::path::Path::new("out/a-k16.png"));
            assert!(save.dither);
        }
        other => panic!("expected a save, got {other:?}"),
    }
    assert!(
        app.update(press(KeyCode::Char('s'))).is_empty(),
        "one save at a time"
    );
    assert!(app.update(press(KeyCode::Char('?'))).is_empty());
    assert!(app.show_help);
    app.update(press(KeyCode::Char('q')));
    assert!(app.should_quit());
}

#[test]
fn resizing_re_requests_at_the_new_pane_size_and_too_small_requests_nothing() {
    use crossterm::event::Event;
    let (mut app, effects) = app_with(&["a.jpg"]);
    let before = only_preview(&effects).cells;
    let effects = app.update(Msg::Input(Event::Resize(140, 40)));
    let after = only_preview(&effects);
    assert!(after.cells.width > before.width && after.want_original);
    assert!(app.update(Msg::Input(Event::Resize(30, 8))).is_empty());
}

#[test]
fn full_size_figures_arrive_last_and_stale_ones_are_dropped() {
    use kquant::msg::FullStats;
    let (mut app, effects) = app_with(&["a.jpg"]);
    let old = only_preview(&effects).generation;
    let figures = FullStats {
        psnr: 30.0,
        png_bytes: 1000,
        colours: 16,
    };
    let new = only_preview(&app.update(press(KeyCode::Char('+')))).generation;
    app.update(Msg::Job(Outcome::FullStats {
        generation: old,
        stats: figures,
    }));
    assert!(app.preview.full_stats.is_none());
    app.update(Msg::Job(Outcome::FullStats {
        generation: new,
        stats: figures,
    }));
    assert_eq!(app.preview.full_stats, Some(figures));
    // Any new request forgets them until they are recomputed for it.
    app.update(press(KeyCode::Char('d')));
    assert!(app.preview.full_stats.is_none());
}

#[test]
fn chart_keys_change_the_chart_and_g_gives_the_room_back() {
    use crossterm::event::Event;
    use kquant::chart::Projection;
    use kquant::msg::ChartUpdate;

    use crate::tui::support::chart_data;

    let (mut app, _) = app_with(&["a.jpg"]);
    // 100×30 starts without the chart; a tall terminal gets it with `g`.
    assert!(!app.chart.visible);
    let before = only_preview(&app.update(Msg::Input(Event::Resize(120, 44)))).cells;
    let effects = app.update(press(KeyCode::Char('g')));
    assert!(app.chart.visible);
    let with_chart = only_preview(&effects);
    assert!(
        with_chart.cells.height < before.height,
        "the previews shrink"
    );
    let generation = with_chart.generation;

    let (cloud, palette) = chart_data();
    app.update(Msg::Job(Outcome::Chart {
        generation,
        update: ChartUpdate::Cloud(cloud.clone()),
    }));
    assert_eq!(app.chart.cells.points, cloud.total);
    assert!(app.chart.cells.cells.iter().any(|c| c.pattern != 0));
    // Live centroids animate, then the palette takes their place.
    app.update(Msg::Job(Outcome::Chart {
        generation,
        update: ChartUpdate::Centroids {
            iteration: 3,
            centroids: vec![[128, 128, 128]; 5],
        },
    }));
    assert_eq!(app.chart.marks.len(), 5);
    // The next key ends the animation at once; a late frame of it is dropped.
    let next = only_preview(&app.update(press(KeyCode::Char('+')))).generation;
    assert!(app.chart.live.is_none());
    app.update(Msg::Job(Outcome::Chart {
        generation,
        update: ChartUpdate::Centroids {
            iteration: 4,
            centroids: vec![[1, 2, 3]],
        },
    }));
    assert!(app.chart.live.is_none());
    let generation = next;
    app.update(Msg::Job(Outcome::Chart {
        generation,
        update: ChartUpdate::Palette(palette),
    }));
    assert!(app.chart.live.is_none());
    assert_eq!(app.chart.marks.len(), 4);

    // p cycles, < > turn only the cube, v shows the compressed pixels: no new work.
    assert!(app.update(press(KeyCode::Char('p'))).is_empty());
    assert_eq!(app.chart.projection, Projection::Rb);
    assert!(app.update(press(KeyCode::Char('>'))).is_empty());
    assert_eq!(app.chart.projection, Projection::Rb);
    for _ in 0..3 {
        app.update(press(KeyCode::Char('p')));
    }
    let cube = app.chart.projection;
    assert!(matches!(cube, Projection::Cube { .. }));
    let edges_before = app.chart.cells.guides.clone();
    app.update(press(KeyCode::Char('>')));
    assert_eq!(app.chart.projection, cube.rotate(1));
    assert_ne!(app.chart.cells.guides, edges_before, "the cube turned");
    app.update(press(KeyCode::Char('<')));
    assert_eq!(app.chart.projection, cube);
    assert!(app.update(press(KeyCode::Char('v'))).is_empty());
    assert!(app.chart.show_compressed);
    assert_eq!(app.chart.cells.points, 3000);

    // Chart data for an older request is dropped.
    let old = generation;
    let effects = app.update(press(KeyCode::Char('+')));
    assert!(only_preview(&effects).generation > old);
    app.update(Msg::Job(Outcome::Chart {
        generation: old,
        update: ChartUpdate::Curve(vec![(2, 20.0)]),
    }));
    assert!(app.chart.curve.is_empty());

    // Hiding the chart gives the rows back to the previews.
    let effects = app.update(press(KeyCode::Char('g')));
    assert_eq!(only_preview(&effects).cells, before);
}
