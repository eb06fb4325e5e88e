//! The real binary in a pseudo-terminal, read back through a vt100 screen: the list appears,
//! Down moves the selection, `+` changes k on screen, `q` exits 0 and leaves the alternate
//! screen. Conditions are polled with generous deadlines (CI has two busy cores), never slept.

use std::path::{Path, PathBuf};

use crate::tui::pty::{self, Session};
use crate::tui::support::{selected_row, three_photos};

const ROWS: u16 = 36;
const COLS: u16 = 120;

/// `demo/` when the repository has photos there, else three generated PNGs.
fn photo_folder(scratch: &Path) -> PathBuf {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    let has_photos = std::fs::read_dir(&demo)
        .map(|d| d.flatten().filter(|e| e.path().is_file()).count() >= 2)
        .unwrap_or(false);
    if has_photos {
        return demo;
    }
    three_photos(scratch)
}

/// kquant on the photo folder with half-blocks, and the scratch folder it runs in.
fn start_kquant() -> (Session, tempfile::TempDir) {
    let scratch = tempfile::tempdir().unwrap();
    let folder = photo_folder(scratch.path());
    let args = [
        "--protocol".as_ref(),
        "halfblocks".as_ref(),
        folder.as_os_str(),
    ];
    let session = pty::kquant(&args, &[], scratch.path(), (ROWS, COLS));
    (session, scratch)
}

#[test]
fn browse_change_k_and_quit_in_a_real_pty() {
    let (mut app, _scratch) = start_kquant();
    app.wait_for("the list and the alternate screen", |s| {
        s.alternate_screen() && s.contents().contains("photos (") && selected_row(s).is_some()
    });
    let first = selected_row(app.screen.lock().unwrap().screen()).unwrap();
    app.wait_for("the compressed preview at k = 16", |s| {
        s.contents().contains("k = 16") && s.contents().contains("PSNR")
    });

    app.send(b"\x1b[B"); // Down
    app.wait_for("the selection to move", |s| {
        selected_row(s).is_some_and(|row| row != first)
    });

    app.send(b"+");
    app.wait_for("k = 24 on screen", |s| {
        s.contents().contains("k = 24") && s.contents().contains("k=24")
    });

    app.send(b"q");
    let status = app.wait_exit();
    assert!(status.success(), "exit status {status:?}");
    app.wait_for("the alternate screen to be left", |s| !s.alternate_screen());
}

#[test]
fn sigterm_restores_the_terminal() {
    let (mut app, _scratch) = start_kquant();
    app.wait_for("the list", |s| {
        s.alternate_screen() && selected_row(s).is_some()
    });
    app.kill("TERM");
    let status = app.wait_exit();
    // Restored, then killed by the signal itself, so the shell sees what happened.
    assert!(
        status.signal().is_some() || status.exit_code() == 128 + 15,
        "exit status {status:?}"
    );
    app.wait_for("the alternate screen to be left", |s| !s.alternate_screen());
}

#[test]
fn browser_usage_errors_exit_2_without_touching_the_terminal() {
    let run = |args: &[&str]| {
        assert_cmd::Command::new(env!("CARGO_BIN_EXE_kquant"))
            .args(args)
            .assert()
            .code(2)
    };
    run(&["--protocol", "bogus"]);
    run(&["-k", "1"]);
    run(&["-k", "300"]);
    run(&["--depth", "0"]);
    // Valid arguments but no terminal (the test's pipes): a clear message, no escape codes.
    let out = run(&["."]).get_output().clone();
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a terminal"));
}
