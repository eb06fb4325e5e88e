//! Issue 6, the TUI half: bad files in the folder, hostile file names, odd terminals, and
//! every way out of the app. The worker and the save thread through their channels.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kquant::msg::{Generation, Msg, Outcome, PreviewRequest, SaveEvent, SaveRequest};
use kquant::quant::ColorSpace;
use kquant::worker::Worker;
use ratatui::layout::Size;
use ratatui_image::picker::Picker;

use crate::tui::support::picture;

/// CI runs on two busy cores, and these are debug builds.
const DEADLINE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// The worker and the save thread, without a terminal
// ---------------------------------------------------------------------------------------

fn request(path: &Path, generation: u64) -> PreviewRequest {
    PreviewRequest {
        generation: Generation(generation),
        path: path.to_path_buf(),
        k: 8,
        space: ColorSpace::Srgb,
        dither: false,
        cells: Size::new(30, 12),
        want_original: true,
        neighbours: Vec::new(),
    }
}

/// The first pane result for `generation`: `Ok(())` for a picture, `Err(message)` for a
/// failure. Fails the test if nothing comes within `limit`.
fn first_result(rx: &mpsc::Receiver<Msg>, generation: u64, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(Msg::Job(Outcome::Original { generation: g, .. })) if g.0 == generation => {
                return Ok(());
            }
            Ok(Msg::Job(Outcome::Failed {
                generation: g,
                error,
            })) if g.0 == generation => return Err(error),
            _ => {}
        }
    }
    panic!("no result for generation {generation} within {limit:?}: the worker is stuck");
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[cfg(unix)]
#[test]
fn special_files_fail_at_once_and_the_worker_keeps_going() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.png");
    picture(160, 120).save(&good).unwrap();
    let fifo = dir.path().join("fifo.jpg");
    mkfifo(&fifo);
    let zero = dir.path().join("zero.jpg");
    symlink("/dev/zero", &zero).unwrap();
    let folder = dir.path().join("x.jpg");
    std::fs::create_dir(&folder).unwrap();
    let dangling = dir.path().join("dangling.jpg");
    symlink("nowhere.jpg", &dangling).unwrap();
    let looped = dir.path().join("loop1.jpg");
    symlink("loop2.jpg", &looped).unwrap();
    symlink("loop1.jpg", dir.path().join("loop2.jpg")).unwrap();
    let deleted = dir.path().join("deleted.png");
    picture(16, 16).save(&deleted).unwrap();
    std::fs::remove_file(&deleted).unwrap();

    let (tx, rx) = mpsc::channel();
    // Never joined: if the worker is stuck opening the FIFO, the test must fail with its
    // message rather than hang in the worker's drop.
    let worker = std::mem::ManuallyDrop::new(Worker::spawn(Picker::halfblocks(), tx).unwrap());
    let cases: [(&Path, &str); 6] = [
        (&fifo, "named pipe"),
        (&zero, "device"),
        (&folder, "folder"),
        (&dangling, "No such file"),
        (&looped, "symbolic links"),
        (&deleted, "No such file"),
    ];
    let mut generation = 0;
    for (path, expected) in cases {
        generation += 1;
        worker.submit(request(path, generation));
        // A blocking open of the FIFO would never answer at all.
        let error = first_result(&rx, generation, Duration::from_secs(20))
            .expect_err("a special file cannot be shown");
        assert!(
            error.contains(expected),
            "{}: {error:?} should mention {expected:?}",
            path.display()
        );
    }
    generation += 1;
    worker.submit(request(&good, generation));
    first_result(&rx, generation, Duration::from_secs(60)).expect("the good photo still shows");
}

#[test]
fn a_cancelled_save_leaves_no_file_and_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.png");
    // Noise: many distinct colours, so clustering takes many iterations.
    let mut state = 0x9E37_79B9_u32;
    let noise = image::RgbImage::from_fn(900, 700, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [r, g, b, _] = state.to_le_bytes();
        image::Rgb([r, g, b])
    });
    noise.save(&input).unwrap();
    let before = std::fs::read(&input).unwrap();
    let out = dir.path().join("out");
    let (tx, rx) = mpsc::channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let handle = kquant::worker::save::spawn(
        SaveRequest {
            path: input.clone(),
            dest: out.join("big-k256.png"),
            k: 256,
            space: ColorSpace::Srgb,
            dither: false,
        },
        tx,
        cancel.clone(),
    )
    .unwrap();
    // Cancel once clustering has started, as quitting does.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("the save never reached clustering");
        match rx.recv_timeout(left) {
            Ok(Msg::Save(SaveEvent::Progress(text))) if text.contains("clustering") => break,
            Ok(Msg::Save(SaveEvent::Done { .. })) => panic!("the save finished before cancel"),
            Ok(Msg::Save(SaveEvent::Failed(e))) => panic!("save failed: {e}"),
            _ => {}
        }
    }
    cancel.store(true, Ordering::SeqCst);
    handle.join().unwrap();
    let left: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_eq!(
        std::fs::read(&input).unwrap(),
        before,
        "the input is untouched"
    );
    assert!(
        rx.try_iter()
            .all(|m| !matches!(m, Msg::Save(SaveEvent::Done { .. }))),
        "a cancelled save reports nothing done"
    );
}
