//! The preview worker through its channel, with no terminal: a burst of requests computes at
//! most the first and the last, stale results never arrive, and a bad file becomes `Failed`.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use std::sync::Arc;

use kquant::msg::{ChartUpdate, Generation, Msg, Outcome, PreviewRequest, SaveEvent, SaveRequest};
use kquant::quant::ColorSpace;
use kquant::worker::Worker;
use ratatui::layout::Size;
use ratatui_image::picker::Picker;

use crate::tui::support::picture;

fn request(path: &Path, generation: u64, k: u16) -> PreviewRequest {
    PreviewRequest {
        generation: Generation(generation),
        path: path.to_path_buf(),
        k,
        space: ColorSpace::Srgb,
        dither: false,
        cells: Size::new(30, 12),
        want_original: true,
        neighbours: Vec::new(),
    }
}

/// Outcomes until the last stage (full-size figures) or a failure for `generation` arrives.
fn outcomes_until(rx: &mpsc::Receiver<Msg>, generation: u64) -> Vec<Outcome> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(Msg::Job(outcome)) = rx.recv_timeout(left) else {
            continue;
        };
        let done = matches!(&outcome,
            Outcome::FullStats { generation: g, .. } | Outcome::Failed { generation: g, .. }
            if g.0 == generation);
        seen.push(outcome);
        if done {
            return seen;
        }
    }
    panic!("no result for generation {generation}");
}

fn generation_of(outcome: &Outcome) -> u64 {
    outcome.generation().0
}

/// The preview stages only, without the chart's data.
fn panes(outcomes: Vec<Outcome>) -> Vec<Outcome> {
    outcomes
        .into_iter()
        .filter(|o| !matches!(o, Outcome::Chart { .. }))
        .collect()
}

#[test]
fn a_burst_of_ten_requests_computes_at_most_the_first_and_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photo.png");
    picture(900, 600).save(&path).unwrap();
    let (tx, rx) = mpsc::channel();
    let worker = Worker::spawn(Picker::halfblocks(), tx).unwrap();
    for generation in 1..=10 {
        worker.submit(request(&path, generation, 2 + generation as u16));
    }
    let outcomes = outcomes_until(&rx, 10);
    assert!(
        worker.jobs_started() <= 2,
        "started {}",
        worker.jobs_started()
    );
    // Whatever arrived for an older generation was an early stage of the first job; the
    // compressed result is only ever the newest.
    for outcome in &outcomes {
        if let Outcome::Quantized { generation, .. } = outcome {
            assert_eq!(generation.0, 10);
        }
    }
    // Older jobs never report: by the time the first one finished decoding it was stale.
    assert!(outcomes.iter().all(|o| generation_of(o) == 10));

    // Back to a k computed before: answered from the cache, without the original.
    let mut again = request(&path, 11, 12);
    again.want_original = false;
    worker.submit(again);
    // (The previous job may still have sent curve points before it noticed.)
    let outcomes: Vec<Outcome> = outcomes_until(&rx, 11)
        .into_iter()
        .filter(|o| generation_of(o) == 11)
        .collect();
    let outcomes = panes(outcomes);
    assert!(
        matches!(
            outcomes.as_slice(),
            [Outcome::Quantized { .. }, Outcome::FullStats { .. }]
        ),
        "{} outcomes",
        outcomes.len()
    );
}

#[test]
fn an_undecodable_file_becomes_a_failure_for_that_photo() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.jpg");
    std::fs::write(&path, b"\xff\xd8\xff\xe0 definitely not a whole JPEG").unwrap();
    let (tx, rx) = mpsc::channel();
    let worker = Worker::spawn(Picker::halfblocks(), tx).unwrap();
    worker.submit(request(&path, 1, 16));
    let outcomes = outcomes_until(&rx, 1);
    assert!(matches!(outcomes.as_slice(), [Outcome::Failed { error, .. }] if !error.is_empty()));
    // The worker keeps going after a failure.
    let good = dir.path().join("good.png");
    picture(64, 64).save(&good).unwrap();
    worker.submit(request(&good, 2, 16));
    let outcomes = panes(outcomes_until(&rx, 2));
    assert!(matches!(outcomes.last(), Some(Outcome::FullStats { .. })));
}

#[test]
fn full_size_figures_are_exactly_what_a_save_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photo.png");
    // A smooth gradient: thousands of colours, so k=6 is lossy and the PSNR finite.
    image::RgbImage::from_fn(700, 500, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) / 5 % 256) as u8])
    })
    .save(&path)
    .unwrap();
    let (tx, rx) = mpsc::channel();
    let worker = Worker::spawn(Picker::halfblocks(), tx.clone()).unwrap();
    worker.submit(request(&path, 1, 6));
    let Some(Outcome::FullStats { stats, .. }) = outcomes_until(&rx, 1).pop() else {
        panic!("no full-size figures");
    };
    let dest = dir.path().join("out/photo-k6.png");
    kquant::worker::save::spawn(
        SaveRequest {
            path: path.clone(),
            root: dir.path().join("out"),
            dest: dest.clone(),
            k: 6,
            space: ColorSpace::Srgb,
            dither: false,
        },
        tx,
        Arc::new(kquant::worker::save::SaveCancel::default()),
    )
    .unwrap()
    .join()
    .unwrap();
    let done = rx
        .try_iter()
        .find_map(|m| match m {
            Msg::Save(SaveEvent::Done { bytes, psnr, .. }) => Some((bytes, psnr)),
            Msg::Save(SaveEvent::Failed(e)) => panic!("save failed: {e}"),
            _ => None,
        })
        .unwrap();
    assert_eq!(done.0, stats.png_bytes as u64);
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), done.0);
    let saved = crate::util::read_png(&std::fs::read(&dest).unwrap());
    assert_eq!(saved.palette.len(), stats.colours);
    assert!(stats.psnr.is_finite());
    assert!(
        (done.1 - stats.psnr).abs() < 1e-6,
        "{} vs {}",
        done.1,
        stats.psnr
    );
}

#[test]
fn the_chart_gets_cloud_palette_and_the_whole_curve() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photo.png");
    picture(300, 200).save(&path).unwrap();
    let (tx, rx) = mpsc::channel();
    let worker = Worker::spawn(Picker::halfblocks(), tx).unwrap();
    worker.submit(request(&path, 1, 16));
    let (mut cloud, mut palette, mut curve) = (None, None, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    while curve.len() < kquant::chart::K_LADDER.len() {
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("the curve was not completed in time");
        if let Ok(Msg::Job(Outcome::Chart { update, .. })) = rx.recv_timeout(left) {
            match update {
                ChartUpdate::Cloud(c) => cloud = Some(c),
                ChartUpdate::Palette(p) => palette = Some(p),
                ChartUpdate::Curve(points) => curve = points,
                ChartUpdate::Centroids { .. } => {}
            }
        }
    }
    let cloud = cloud.expect("no cloud");
    assert!(cloud.total > 0);
    let palette = palette.expect("no palette");
    // The same sample, recoloured: it collapses onto at most k = 16 points.
    assert!(palette.palette.len() <= 16);
    assert!(palette.cloud.bins.len() <= palette.palette.len());
    assert_eq!(palette.cloud.total, cloud.total);
    // Every k of the ladder once, and more colours never cost quality.
    curve.sort_by_key(|p| p.0);
    let ks: Vec<u16> = curve.iter().map(|p| p.0).collect();
    assert_eq!(ks, kquant::chart::K_LADDER);
    assert!(curve[0].1 <= curve[curve.len() - 1].1, "{curve:?}");
    drop(worker);
}
