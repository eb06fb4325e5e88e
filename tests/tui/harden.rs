//! Issue 6, the TUI half: bad files in the folder, hostile file names, odd terminals, and
//! every way out of the app. Model and view tests first, then the worker and the save thread
//! through their channels, then the real binary in a pty (see `pty.rs`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crossterm::event::KeyCode;
use kquant::app::Exit;
use kquant::msg::{
    Entry, Generation, Msg, Outcome, PreviewRequest, SaveEvent, SaveRequest, ScanBatch,
};
use kquant::quant::ColorSpace;
use kquant::worker::Worker;
use kquant::worker::save::SaveCancel;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Size;
use ratatui_image::picker::Picker;

use crate::tui::pty::{self, ICANON_ECHO, Session, assert_restored, contains};
use crate::tui::support::{app_with, only_preview, picture, press, selected_row, three_photos};

// ---------------------------------------------------------------------------------------
// The model and the view
// ---------------------------------------------------------------------------------------

/// Every text cell of a `width`×`height` rendering of `app`, concatenated.
fn rendered(app: &kquant::app::App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| kquant::ui::draw(frame, app)).unwrap();
    terminal
        .backend()
        .buffer()
        .content()
        .iter()
        .map(ratatui::buffer::Cell::symbol)
        .collect()
}

#[test]
fn the_view_sanitises_names_errors_and_save_messages_even_if_a_source_forgot() {
    // Raw text, as a careless message source would send it: the view must not pass it on,
    // and must show the escapes visibly (ratatui alone would drop some characters silently
    // and keep others, such as U+202E in some paths).
    let hostile = "x\u{1b}]0;p\u{7}\u{202e}g\u{9b}";
    let visible = "x\\x1b]0;p\\x07\\u{202e}g\\x9b";
    let (mut app, effects) = app_with(&["a.png"]);
    app.library.extend(ScanBatch {
        entries: vec![Entry {
            path: PathBuf::from("/photos/evil.png"),
            display: format!("L{hostile}"),
            bytes: 10,
        }],
        errors: Vec::new(),
    });
    app.update(Msg::Job(Outcome::Failed {
        generation: only_preview(&effects).generation,
        error: format!("E{hostile}"),
    }));
    for (event, prefix) in [
        (SaveEvent::Failed(format!("S{hostile}")), "save failed: S"),
        (SaveEvent::Progress(format!("P{hostile}")), "P"),
        (
            SaveEvent::Done {
                dest: format!("D{hostile}"),
                bytes: 1,
                psnr: 30.0,
            },
            "saved D",
        ),
    ] {
        app.update(Msg::Save(event));
        let text = rendered(&app, 160, 40);
        for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{9b}'] {
            assert!(
                !text.contains(bad),
                "U+{:04X} reached the screen",
                u32::from(bad)
            );
        }
        for shown in [
            format!("L{visible}"),
            format!("E{visible}"),
            format!("{prefix}{visible}"),
        ] {
            assert!(text.contains(&shown), "{shown:?} not shown");
        }
    }
}

#[test]
fn signals_input_loss_and_thread_panics_end_the_app_with_their_reason() {
    let (mut app, _) = app_with(&["a.png"]);
    app.update(Msg::Signal(1));
    assert_eq!(app.exit(), Some(&Exit::Signal(1)));
    // The first reason wins: quitting while leaving changes nothing.
    app.update(press(KeyCode::Char('q')));
    assert_eq!(app.exit(), Some(&Exit::Signal(1)));

    let (mut app, _) = app_with(&["a.png"]);
    app.update(Msg::Fatal("internal error on kquant-scan: boom".into()));
    assert!(matches!(app.exit(), Some(Exit::Failed(e)) if e.contains("kquant-scan")));

    let (mut app, _) = app_with(&["a.png"]);
    app.update(Msg::InputClosed("Input/output error".into()));
    assert!(matches!(app.exit(), Some(Exit::Failed(e)) if e.contains("cannot read the terminal")));

    let (mut app, _) = app_with(&["a.png"]);
    app.update(press(KeyCode::Char('q')));
    assert_eq!(app.exit(), Some(&Exit::Quit));
}

#[test]
fn tiny_terminals_draw_a_message_and_request_nothing() {
    let (mut app, _) = app_with(&["a.png", "b.png"]);
    for (width, height) in [
        (0, 0),
        (1, 1),
        (10, 3),
        (59, 40),
        (200, 11),
        (0, 50),
        (60, 12),
    ] {
        let effects = app.update(Msg::Input(crossterm::event::Event::Resize(width, height)));
        if width < 60 || height < 12 {
            assert!(effects.is_empty(), "{width}×{height} needs no preview");
        }
        // Drawing must not panic at any size; the message shows where it fits.
        let text = rendered(&app, width, height);
        if width >= 40 && height < 12 {
            assert!(text.contains("kquant needs at least"), "{width}×{height}");
        }
        // Keys at that size must not panic either.
        for key in [
            KeyCode::Down,
            KeyCode::PageDown,
            KeyCode::Char('g'),
            KeyCode::Char('?'),
        ] {
            app.update(press(key));
        }
        rendered(&app, width, height);
    }
}

/// Two photos whose names differ only in non-UTF-8 bytes get different save destinations
/// (a lossy conversion gave both `a\u{fffd}-k16.png`: the second save replaced the first).
#[cfg(unix)]
#[test]
fn save_destinations_keep_non_utf8_names_apart() {
    use std::os::unix::ffi::OsStrExt;
    let out = Path::new("out");
    let dest = |name: &[u8]| {
        kquant::app::save_destination(out, Path::new(OsStr::from_bytes(name)), 16, false)
    };
    let (first, second) = (dest(b"d/a\xff.jpg"), dest(b"d/a\xfe.jpg"));
    assert_ne!(first, second);
    assert_eq!(first.as_os_str().as_bytes(), b"out/d/a\xff-k16.png");
}

/// A photo whose name is near the filesystem's 255-byte limit still gets a save name that
/// fits: the stem is cut, the `-k<k>.png` suffix kept.
#[test]
fn save_destinations_fit_the_name_limit() {
    let stem = "p".repeat(251);
    let dest = kquant::app::save_destination(
        Path::new("out"),
        Path::new(&format!("{stem}.jpg")),
        256,
        false,
    );
    let name = dest.file_name().unwrap().to_str().unwrap();
    assert_eq!(name.len(), 255);
    assert_eq!(name, format!("{}-k256.png", &stem[..246]));
}

/// Saves mirror the browsed folder's layout, so photos with the same name in different
/// folders, or with the same stem in one folder, never replace each other's output; and a
/// path that climbs out of the folder never takes the output with it.
#[test]
fn saves_of_photos_with_the_same_name_do_not_replace_each_other() {
    let (mut app, _) = app_with(&["a/x.jpg", "b/x.jpg", "b/x.png", "y.jpg"]);
    app.settings.root = PathBuf::from("/photos");
    let mut dests = Vec::new();
    for _ in 0..4 {
        match app.update(press(KeyCode::Char('s'))).as_slice() {
            [kquant::msg::Effect::Save(save)] => dests.push(save.dest.clone()),
            other => panic!("expected a save, got {other:?}"),
        }
        // Let the save finish so the next one is accepted, then go to the next photo.
        app.update(kquant::msg::Msg::Save(SaveEvent::Failed("test".into())));
        app.update(press(KeyCode::Down));
    }
    let want = [
        "out/a/x-k16.png",
        "out/b/x.jpg-k16.png",
        "out/b/x.png-k16.png",
        "out/y-k16.png",
    ];
    assert_eq!(dests, want.map(PathBuf::from));
    let out = Path::new("out");
    for climbing in ["../x.jpg", "/etc/x.jpg", "a/../../x.jpg"] {
        assert_eq!(
            kquant::app::save_destination(out, Path::new(climbing), 16, false),
            Path::new("out/x-k16.png"),
            "{climbing}"
        );
    }
}

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
    let cancel = Arc::new(SaveCancel::default());
    let handle = kquant::worker::save::spawn(
        SaveRequest {
            path: input.clone(),
            root: out.clone(),
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
    let deadline = Instant::now() + pty::DEADLINE;
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
    cancel.cancel();
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

// ---------------------------------------------------------------------------------------
// The real binary in a pty
// ---------------------------------------------------------------------------------------

const SIZE: (u16, u16) = (40, 140);

fn halfblocks(folder: &Path) -> Vec<&OsStr> {
    vec![
        OsStr::new("--protocol"),
        OsStr::new("halfblocks"),
        folder.as_os_str(),
    ]
}

/// The list is shown and the first photo's compressed preview is ready.
fn wait_ready(session: &Session) {
    session.wait_for("the list and a preview", |s| {
        s.alternate_screen() && selected_row(s).is_some() && s.contents().contains("preview ·")
    });
}

/// After the app is gone: raw mode off again (where the pty lets us read termios).
fn assert_cooked(session: &Session) {
    if let Some(flags) = session.local_flags() {
        assert_eq!(
            flags & ICANON_ECHO,
            ICANON_ECHO,
            "the terminal was left in raw mode"
        );
    }
}

#[cfg(unix)]
fn write_bad_folder(dir: &Path) -> Vec<(String, Option<&'static str>)> {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    use std::os::unix::fs::{PermissionsExt, symlink};

    let good_png = |name: &OsStr| picture(200, 150).save(dir.join(name)).unwrap();
    let mut jpeg = Vec::new();
    picture(200, 150)
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let mut png = Vec::new();
    picture(200, 150)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();

    // (name as listed, expected error if it must fail)
    let mut expect = Vec::new();
    good_png(OsStr::new("good-a.png"));
    write("good-b.jpg", &jpeg);
    write("empty.jpg", b"");
    expect.push(("empty.jpg".to_owned(), Some("empty file")));
    write("trunc.jpg", &jpeg[..jpeg.len() / 3]);
    expect.push(("trunc.jpg".to_owned(), None)); // may decode partially: either is fine
    write("trunc.png", &png[..png.len() / 2]);
    expect.push(("trunc.png".to_owned(), None));
    write("text.png", b"hello, I am not a PNG\n");
    expect.push(("text.png".to_owned(), Some("not a supported image")));
    write("png-named.jpg", &png);
    // A PNG header claiming 100000×100000 pixels.
    let mut huge = png[..16].to_vec();
    huge.extend_from_slice(&100_000u32.to_be_bytes());
    huge.extend_from_slice(&100_000u32.to_be_bytes());
    huge.extend_from_slice(&png[24..29]);
    huge.extend_from_slice(&crc32fast::hash(&huge[12..29]).to_be_bytes());
    huge.extend_from_slice(&png[33..]);
    write("huge.png", &huge);
    expect.push(("huge.png".to_owned(), Some("limit")));
    mkfifo(&dir.join("fifo.jpg"));
    symlink("nowhere.jpg", dir.join("dangling.jpg")).unwrap();
    symlink("loop2.jpg", dir.join("loop1.jpg")).unwrap();
    symlink("loop1.jpg", dir.join("loop2.jpg")).unwrap();
    symlink("/dev/zero", dir.join("zero.jpg")).unwrap();
    std::fs::create_dir(dir.join("x.jpg")).unwrap();
    write("unreadable.jpg", &jpeg);
    std::fs::set_permissions(
        dir.join("unreadable.jpg"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    write("zz-deleted.png", &png);
    expect.push(("zz-deleted.png".to_owned(), Some("No such file")));
    for name in [
        &b"new\nline.jpg"[..],
        b"tab\there.jpg",
        b"osc\x1b]0;pwned\x07.jpg",
        b"clear\x1b[2J.jpg",
        "bidi\u{202e}gpj.png".as_bytes(),
        b"nonutf\xff\xfe.jpg",
        b"-dash.jpg",
    ] {
        good_png(&OsString::from_vec(name.to_vec()));
    }
    good_png(OsStr::new(&format!("{}.png", "L".repeat(251))));
    expect
}

/// Bad files and hostile names in the folder: every entry can be visited, each bad one shows
/// its error in place, good photos still preview afterwards, and no escape sequence from a
/// file name reaches the terminal.
#[cfg(unix)]
#[test]
fn bad_files_and_hostile_names_in_a_real_pty() {
    let scratch = tempfile::tempdir().unwrap();
    let folder = scratch.path().join("bad");
    std::fs::create_dir(&folder).unwrap();
    let expectations = write_bad_folder(&folder);
    let mut session = pty::kquant(&halfblocks(&folder), &[], scratch.path(), SIZE);
    session.wait_for("the whole list", |s| s.contents().contains(" photos ("));
    // Deleted between the listing and the preview (far from the first entry, so not
    // prefetched).
    std::fs::remove_file(folder.join("zz-deleted.png")).unwrap();
    let contents = session.contents();
    let count: usize = contents
        .split(" photos (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .expect("the list title gives the count");
    assert!(count >= 18, "the list has the bad files too:\n{contents}");

    // Names are shown with their control characters escaped.
    for shown in [
        "osc\\x1b]0;pwned\\x07.jpg",
        "clear\\x1b[2J.jpg",
        "new\\x0aline.jpg",
        "tab\\x09here.jpg",
        "bidi\\u{202e}gpj.png",
        "nonutf", // U+FFFD for the bad bytes (vt100 does not keep it)
        "-dash.jpg",
        "LLLLLLLL.png",
    ] {
        assert!(
            contents.contains(shown),
            "{shown:?} not on screen:\n{contents}"
        );
    }

    let settled = |s: &vt100::Screen| {
        let text = s.contents();
        text.contains("cannot show this photo") || text.contains("preview ·")
    };
    let mut outcomes = Vec::new();
    let mut previous = String::new();
    for i in 0..count {
        if i > 0 {
            session.send(b"\x1b[B"); // Down
            session.wait_for("the selection to move", |s| {
                selected_row(s).is_some_and(|row| row != previous)
            });
        }
        session.wait_for("the photo or its error", settled);
        let text = session.contents();
        previous = selected_row(session.screen.lock().unwrap().screen()).unwrap();
        // The error is on the pane's next lines (wrapped).
        let error = text.contains("cannot show this photo").then(|| {
            text.lines()
                .skip_while(|l| !l.contains("cannot show this photo"))
                .skip(1)
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        });
        outcomes.push((previous.clone(), error));
    }
    let outcome_of = |name: &str| {
        outcomes
            .iter()
            .find(|(row, _)| row.contains(name))
            .unwrap_or_else(|| panic!("{name} was never selected: {outcomes:#?}"))
    };
    for (name, expected) in &expectations {
        let (_, error) = outcome_of(name);
        if let Some(expected) = expected {
            let error = error.as_deref().unwrap_or_default();
            assert!(
                error.contains(expected),
                "{name}: {error:?}, expected {expected:?}"
            );
        }
    }
    let (_, unreadable) = outcome_of("unreadable.jpg");
    if std::fs::read(folder.join("unreadable.jpg")).is_ok() {
        eprintln!("skipping the unreadable-file check: running as root, chmod 000 stays readable");
    } else {
        let error = unreadable.as_deref().unwrap_or_default();
        assert!(
            error.contains("Permission denied"),
            "unreadable.jpg: {error:?}"
        );
    }
    for good in ["good-a.png", "good-b.jpg", "png-named.jpg", "osc\\x1b"] {
        assert!(
            outcome_of(good).1.is_none(),
            "{good} should show: {outcomes:#?}"
        );
    }

    // Back to the top: a good photo still previews after all that.
    session.send(b"\x1b[H"); // Home
    session.wait_for("the first photo's preview again", |s| {
        selected_row(s).is_some_and(|row| row.contains("-dash.jpg"))
            && s.contents().contains("preview ·")
    });

    session.send(b"q");
    let status = session.wait_exit();
    assert!(status.success(), "exit status {status:?}");
    session.wait_output_end();
    let raw = session.raw();
    assert_restored(&raw);
    assert_cooked(&session);
    for leak in [
        &b"\x1b]0;pwned"[..],
        b"pwned\x07",
        b"clear\x1b[2J",
        "\u{202e}".as_bytes(),
        b"new\nline",
        b"new\r\nline",
        b"tab\there",
        b"nonutf\xff",
    ] {
        assert!(
            !contains(&raw, leak),
            "{:?} reached the terminal raw",
            String::from_utf8_lossy(leak)
        );
    }
}

/// Each signal that ends kquant restores the terminal first, then kills it with that signal.
#[cfg(unix)]
#[test]
fn signals_restore_the_terminal_and_report_the_signal() {
    let scratch = tempfile::tempdir().unwrap();
    let folder = three_photos(scratch.path());
    for (signal, number) in [("TERM", 15), ("HUP", 1), ("INT", 2), ("QUIT", 3)] {
        let mut session = pty::kquant(&halfblocks(&folder), &[], scratch.path(), SIZE);
        wait_ready(&session);
        session.kill(signal);
        let status = session.wait_exit();
        // Killed by the signal itself, except SIGQUIT (no core dump): status 131.
        if signal == "QUIT" {
            assert!(
                status.signal().is_none() && status.exit_code() == 128 + number,
                "SIG{signal}: {status:?}"
            );
        } else {
            assert!(status.signal().is_some(), "SIG{signal}: {status:?}");
        }
        session.wait_output_end();
        assert_restored(&session.raw());
        assert_cooked(&session);
    }
}

/// The SSH connection drops: the pty's master side closes, kquant gets SIGHUP and its writes
/// fail. It must exit promptly rather than hang on the dead terminal.
#[cfg(unix)]
#[test]
fn a_dropped_connection_ends_kquant_promptly() {
    let scratch = tempfile::tempdir().unwrap();
    let folder = three_photos(scratch.path());
    let mut session = pty::kquant(&halfblocks(&folder), &[], scratch.path(), SIZE);
    wait_ready(&session);
    session.hang_up(b"?");
    session.wait_exit_within(Duration::from_secs(20));
}

/// Whether the process's main thread sits in a `write`/`writev` system call (x86-64 numbers).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn main_thread_in_write(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/syscall"))
        .is_ok_and(|s| matches!(s.split_whitespace().next(), Some("1" | "20")))
}

/// A signal while the graphics query is still waiting for an answer (nothing reads keys
/// yet, and the query has put the terminal in its own mode): restored all the same.
#[cfg(unix)]
#[test]
fn a_signal_during_the_graphics_query_restores_the_terminal() {
    let scratch = tempfile::tempdir().unwrap();
    let folder = three_photos(scratch.path());
    let mut session = pty::kquant(&[folder.as_os_str()], &[], scratch.path(), SIZE);
    session.wait_for("the list while graphics are being detected", |s| {
        s.alternate_screen() && s.contents().contains("detecting graphics")
    });
    session.kill("TERM");
    let status = session.wait_exit();
    assert!(
        status.signal().is_some() || status.exit_code() == 128 + 15,
        "{status:?}"
    );
    session.wait_output_end();
    assert_restored(&session.raw());
    assert_cooked(&session);
}

/// A stalled link: the terminal stops reading, kquant's writes fill the pty and block. A
/// signal must still end it (within the grace period, without touching the terminal), not
/// leave it hanging in a write forever.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn a_signal_ends_kquant_even_when_its_terminal_stopped_reading() {
    let scratch = tempfile::tempdir().unwrap();
    let folder = three_photos(scratch.path());
    let mut session = pty::kquant(&halfblocks(&folder), &[], scratch.path(), SIZE);
    wait_ready(&session);
    let pid = session.child.process_id().unwrap();
    session.pause_reading(true);
    // Each toggle of the help overlay redraws both pictures; keep toggling until the UI
    // thread is seen blocked in a write twice in a row, 50 ms apart.
    let start = Instant::now();
    let mut seen = 0;
    while seen < 2 {
        assert!(
            start.elapsed() < pty::DEADLINE,
            "the UI thread never blocked"
        );
        if main_thread_in_write(pid) {
            seen += 1;
        } else {
            seen = 0;
            session.send(b"?");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    session.kill("TERM");
    let status = session.wait_exit_within(kquant::term::SIGNAL_GRACE + Duration::from_secs(10));
    assert_eq!(status.exit_code(), 128 + 15, "{status:?}");
    session.pause_reading(false);
    assert_cooked(&session);
}

/// Panics: on the UI thread (exit 101), on the input or graphics-query thread (exit 1 with
/// the message), and in a worker or save job (the app goes on). The terminal is restored on
/// every path that ends the app.
#[cfg(unix)]
#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "KQUANT_TEST_PANIC exists only in debug builds"
)]
fn panics_on_any_thread_restore_the_terminal_or_are_shown_in_place() {
    let scratch = tempfile::tempdir().unwrap();
    let folder = three_photos(scratch.path());
    for (place, code, message) in [
        ("ui", 101, "KQUANT_TEST_PANIC=ui"),
        ("input", 1, "internal error on kquant-input"),
        ("query", 1, "internal error on kquant-graphics-query"),
    ] {
        let mut session = pty::kquant(
            &halfblocks(&folder),
            &[("KQUANT_TEST_PANIC", place)],
            scratch.path(),
            SIZE,
        );
        let status = session.wait_exit();
        assert_eq!(status.exit_code(), code, "{place}: {status:?}");
        session.wait_output_end();
        assert_restored(&session.raw());
        assert_cooked(&session);
        session.wait_for("the panic message after the restore", |s| {
            !s.alternate_screen() && s.contents().contains(message)
        });
    }

    // A worker panic is this photo's error; the next photo previews; nothing is printed.
    let mut session = pty::kquant(
        &halfblocks(&folder),
        &[("KQUANT_TEST_PANIC", "worker")],
        scratch.path(),
        SIZE,
    );
    session.wait_for("the panic shown in place", |s| {
        s.contents()
            .contains("internal error: KQUANT_TEST_PANIC=worker")
    });
    session.send(b"\x1b[B");
    session.wait_for("the next photo's preview", |s| {
        s.contents().contains("preview ·")
    });
    session.send(b"q");
    assert!(session.wait_exit().success());
    session.wait_output_end();
    assert!(!contains(&session.raw(), b"panicked at"));

    // A save panic is the save's error.
    let mut session = pty::kquant(
        &halfblocks(&folder),
        &[("KQUANT_TEST_PANIC", "save")],
        scratch.path(),
        SIZE,
    );
    wait_ready(&session);
    session.send(b"s");
    session.wait_for("the save's error", |s| {
        s.contents()
            .contains("save failed: internal error: KQUANT_TEST_PANIC=save")
    });
    session.send(b"q");
    assert!(session.wait_exit().success());
    session.wait_output_end();
    assert_restored(&session.raw());
}

/// Quitting in the middle of a save: nothing half-written, no temp file, input untouched.
#[cfg(unix)]
#[test]
fn quitting_during_a_save_leaves_no_temp_or_partial_file() {
    let scratch = tempfile::tempdir().unwrap();
    let folder = scratch.path().join("photos");
    std::fs::create_dir(&folder).unwrap();
    let mut state = 0x2545_F491_u32;
    image::RgbImage::from_fn(1200, 900, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [r, g, b, _] = state.to_le_bytes();
        image::Rgb([r, g, b])
    })
    .save(folder.join("noise.png"))
    .unwrap();
    let before = std::fs::read(folder.join("noise.png")).unwrap();
    let out = scratch.path().join("out");
    let mut args = halfblocks(&folder);
    args.extend([
        OsStr::new("-o"),
        out.as_os_str(),
        OsStr::new("-k"),
        OsStr::new("256"),
    ]);
    let mut session = pty::kquant(&args, &[], scratch.path(), SIZE);
    session.wait_for("the list", |s| selected_row(s).is_some());
    session.send(b"s");
    session.wait_for("the save to be clustering", |s| {
        s.contents().contains("clustering k=256")
    });
    session.send(b"q");
    let quit_at = Instant::now();
    assert!(session.wait_exit().success());
    eprintln!("quit during a save took {:?}", quit_at.elapsed());
    session.wait_output_end();
    assert_restored(&session.raw());
    let left: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "left behind in the output folder: {left:?}"
    );
    let in_folder: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(in_folder, [OsStr::new("noise.png")]);
    assert_eq!(std::fs::read(folder.join("noise.png")).unwrap(), before);
}

/// Quitting while a save decodes a big photo does not wait for the decode (a 13 MP JPEG
/// takes 10–20 s to decode in a debug build, and a decode cannot be interrupted): the save
/// has written nothing yet and dies with the app.
#[cfg(unix)]
#[test]
fn quitting_during_a_saves_decode_is_prompt() {
    let corpus = crate::util::corpus_or_skip!();
    let photo = corpus.join("photos/Dragonfly_by_Bolly.jpg");
    if !photo.is_file() {
        eprintln!("skipping: {} not found", photo.display());
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let folder = scratch.path().join("photos");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(&photo, folder.join("big.jpg")).unwrap();
    let out = scratch.path().join("out");
    let mut args = halfblocks(&folder);
    args.extend([OsStr::new("-o"), out.as_os_str()]);
    let mut session = pty::kquant(&args, &[], scratch.path(), SIZE);
    session.wait_for("the list", |s| selected_row(s).is_some());
    session.send(b"s");
    session.wait_for("the save to be decoding", |s| {
        s.contents().contains("decoding at full resolution")
    });
    session.send(b"q");
    assert!(session.wait_exit_within(Duration::from_secs(5)).success());
    session.wait_output_end();
    assert_restored(&session.raw());
    assert!(!out.exists(), "nothing written");
}

/// A save whose destination resolves to its input (a symlink named like the output, in the
/// output folder) is refused, and the input is untouched.
#[cfg(unix)]
#[test]
fn a_save_never_overwrites_its_input() {
    let scratch = tempfile::tempdir().unwrap();
    let folder = scratch.path().join("photos");
    std::fs::create_dir(&folder).unwrap();
    // Saving "a.png" at k=16 into the photo folder itself writes "a-k16.png", which here
    // leads back to a.png (the scan skips symlinks, so the list has a.png only).
    picture(200, 150).save(folder.join("a.png")).unwrap();
    std::os::unix::fs::symlink("a.png", folder.join("a-k16.png")).unwrap();
    let before = std::fs::read(folder.join("a.png")).unwrap();
    let mut args = halfblocks(&folder);
    args.extend([OsStr::new("-o"), folder.as_os_str()]);
    let mut session = pty::kquant(&args, &[], scratch.path(), SIZE);
    session.wait_for("a.png selected", |s| {
        selected_row(s).is_some_and(|r| r.contains(" a.png"))
    });
    session.send(b"s");
    session.wait_for("the refusal", |s| {
        s.contents()
            .contains("save failed: refusing to overwrite input file")
    });
    session.send(b"q");
    assert!(session.wait_exit().success());
    assert_eq!(std::fs::read(folder.join("a.png")).unwrap(), before);
    assert!(
        std::fs::symlink_metadata(folder.join("a-k16.png"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

/// Tiny sizes, a zero-size start and a storm of resizes: no panic, and the app ends up drawn
/// at the last size and still answers keys.
#[cfg(unix)]
#[test]
fn tiny_terminals_and_resize_storms() {
    let scratch = tempfile::tempdir().unwrap();
    let folder = three_photos(scratch.path());
    for start in [(0, 0), (1, 1), (3, 10)] {
        let mut session = pty::kquant(&halfblocks(&folder), &[], scratch.path(), start);
        session.wait_for("the alternate screen", vt100::Screen::alternate_screen);
        for _ in 0..15 {
            for (rows, cols) in [
                (1, 1),
                (0, 0),
                (3, 10),
                (12, 60),
                (11, 59),
                (60, 220),
                (5, 300),
                (48, 160),
            ] {
                session.resize(rows, cols);
            }
        }
        session.resize(SIZE.0, SIZE.1);
        session.wait_for("the full layout at the last size", |s| {
            let text = s.contents();
            let last = text
                .lines()
                .nth(usize::from(SIZE.0) - 1)
                .unwrap_or_default();
            text.contains(" photos (3)") && last.contains("q quit")
        });
        // By name: a late frame drawn for an earlier size pads the same entry differently.
        let selected = |s: &vt100::Screen| {
            let row = selected_row(s)?;
            ["alpha.png", "beta.png", "gamma.png"]
                .into_iter()
                .find(|name| row.contains(name))
        };
        let first = selected(session.screen.lock().unwrap().screen()).unwrap();
        session.send(b"\x1b[B");
        session.wait_for("the selection to move", |s| {
            selected(s).is_some_and(|name| name != first)
        });
        session.send(b"q");
        let status = session.wait_exit();
        assert!(status.success(), "started at {start:?}: {status:?}");
        session.wait_output_end();
        assert_restored(&session.raw());
    }
}

/// No pty answer to the graphics query at all (a dumb pipe): the query times out, the app
/// falls back to half blocks and works.
#[cfg(unix)]
#[test]
fn a_terminal_that_never_answers_the_graphics_query_gets_half_blocks() {
    let scratch = tempfile::tempdir().unwrap();
    let folder = three_photos(scratch.path());
    let mut session = pty::kquant(&[folder.as_os_str()], &[], scratch.path(), SIZE);
    session.wait_for("half blocks after the query's timeout", |s| {
        let text = s.contents();
        text.contains("half-blocks") && text.contains("preview ·")
    });
    // Known limit (ratatui-image 11.1): the timed-out query's reader thread may swallow the
    // first key when nothing answers kquant's follow-up status request; a second key works.
    session.send(b"q");
    if session.child.try_wait().unwrap().is_none() {
        let quit_at = Instant::now();
        while quit_at.elapsed() < Duration::from_secs(2) {
            if session.child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if session.child.try_wait().unwrap().is_none() {
            session.send(b"q");
        }
    }
    assert!(session.wait_exit().success());
    session.wait_output_end();
    assert_restored(&session.raw());
}

/// Not a terminal, or a dumb one: a clear message, status 2, and no escape codes.
/// The app exited 2 with `message` on the screen, without ever opening the alternate screen.
#[cfg(unix)]
fn refused(session: &mut pty::Session, message: &str) {
    assert_eq!(session.wait_exit().exit_code(), 2);
    session.wait_for("the message", |s| s.contents().contains(message));
    session.wait_output_end();
    assert!(!contains(&session.raw(), pty::ENTER_ALT_SCREEN));
}

#[cfg(unix)]
#[test]
fn no_terminal_or_a_dumb_one_is_refused_clearly() {
    let scratch = tempfile::tempdir().unwrap();
    let folder = three_photos(scratch.path());
    let out = scratch.path().join("stdout.txt");
    let kquant = OsStr::new(env!("CARGO_BIN_EXE_kquant"));
    // stdout redirected to a file, stdin still the terminal: `kquant photos > file`.
    let mut session = pty::spawn(
        OsStr::new("sh"),
        &[
            OsStr::new("-c"),
            OsStr::new("exec \"$0\" \"$1\" > \"$2\""),
            kquant,
            folder.as_os_str(),
            out.as_os_str(),
        ],
        &[],
        scratch.path(),
        SIZE,
    );
    refused(&mut session, "needs a terminal");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        b"",
        "nothing on the redirected stdout"
    );

    // stdin from a pipe, stdout the terminal.
    let mut session = pty::spawn(
        OsStr::new("sh"),
        &[
            OsStr::new("-c"),
            OsStr::new("echo q | exec \"$0\" \"$1\""),
            kquant,
            folder.as_os_str(),
        ],
        &[],
        scratch.path(),
        SIZE,
    );
    refused(&mut session, "needs a terminal");

    // TERM=dumb.
    let mut session = pty::kquant(
        &[folder.as_os_str()],
        &[("TERM", "dumb")],
        scratch.path(),
        SIZE,
    );
    refused(&mut session, "TERM=dumb");
    assert!(
        !contains(&session.raw(), b"\x1b["),
        "no escape codes for a dumb terminal"
    );
}
