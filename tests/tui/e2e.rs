//! The real binary in a pseudo-terminal, read back through a vt100 screen: the list appears,
//! Down moves the selection, `+` changes k on screen, `q` exits 0 and leaves the alternate
//! screen. Conditions are polled with generous deadlines (CI has two busy cores), never slept.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

use crate::tui::support::picture;

const ROWS: u16 = 36;
const COLS: u16 = 120;
const DEADLINE: Duration = Duration::from_secs(60);

/// `demo/` when the repository has photos there, else three generated PNGs.
fn photo_folder(scratch: &Path) -> PathBuf {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    let has_photos = std::fs::read_dir(&demo)
        .map(|d| d.flatten().filter(|e| e.path().is_file()).count() >= 2)
        .unwrap_or(false);
    if has_photos {
        return demo;
    }
    let dir = scratch.join("photos");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, name) in ["alpha.png", "beta.png", "gamma.png"].iter().enumerate() {
        picture(320 + 40 * i as u32, 240)
            .save(dir.join(name))
            .unwrap();
    }
    dir
}

fn wait_for(screen: &Arc<Mutex<vt100::Parser>>, what: &str, test: impl Fn(&vt100::Screen) -> bool) {
    let start = Instant::now();
    loop {
        {
            let parser = screen.lock().unwrap();
            if test(parser.screen()) {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}; screen:\n{}",
                parser.screen().contents()
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The text of the list row carrying the selection marker.
fn selected_row(screen: &vt100::Screen) -> Option<String> {
    screen
        .contents()
        .lines()
        .find(|l| l.contains('▸'))
        .map(str::to_owned)
}

/// A running kquant in a pty, with its screen kept up to date by a reader thread.
struct Running {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    screen: Arc<Mutex<vt100::Parser>>,
    _scratch: tempfile::TempDir,
}

fn start_kquant() -> Running {
    let scratch = tempfile::tempdir().unwrap();
    let folder = photo_folder(scratch.path());
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: ROWS,
            cols: COLS,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_kquant"));
    cmd.arg("--protocol");
    cmd.arg("halfblocks");
    cmd.arg(&folder);
    cmd.cwd(scratch.path());
    // Not "inside tmux" even when the test runner is: no passthrough probing.
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("TMUX");
    cmd.env_remove("TERM_PROGRAM");
    let child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);

    let screen = Arc::new(Mutex::new(vt100::Parser::new(
        std::num::NonZeroU16::new(ROWS).unwrap(),
        std::num::NonZeroU16::new(COLS).unwrap(),
        0,
    )));
    let mut reader = pty.master.try_clone_reader().unwrap();
    let writer = pty.master.take_writer().unwrap();
    {
        let screen = screen.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                screen.lock().unwrap().process(&buf[..n]);
            }
        });
    }

    Running {
        child,
        writer,
        screen,
        _scratch: scratch,
    }
}

fn wait_exit(child: &mut Box<dyn portable_pty::Child + Send + Sync>) -> portable_pty::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < DEADLINE, "kquant did not exit");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn browse_change_k_and_quit_in_a_real_pty() {
    let Running {
        mut child,
        mut writer,
        screen,
        _scratch,
    } = start_kquant();
    wait_for(&screen, "the list and the alternate screen", |s| {
        s.alternate_screen() && s.contents().contains("photos (") && selected_row(s).is_some()
    });
    let first = selected_row(screen.lock().unwrap().screen()).unwrap();
    wait_for(&screen, "the compressed preview at k = 16", |s| {
        s.contents().contains("k = 16") && s.contents().contains("PSNR")
    });

    writer.write_all(b"\x1b[B").unwrap(); // Down
    writer.flush().unwrap();
    wait_for(&screen, "the selection to move", |s| {
        selected_row(s).is_some_and(|row| row != first)
    });

    writer.write_all(b"+").unwrap();
    writer.flush().unwrap();
    wait_for(&screen, "k = 24 on screen", |s| {
        s.contents().contains("k = 24") && s.contents().contains("k=24")
    });

    writer.write_all(b"q").unwrap();
    writer.flush().unwrap();
    let status = wait_exit(&mut child);
    assert!(status.success(), "exit status {status:?}");
    wait_for(&screen, "the alternate screen to be left", |s| {
        !s.alternate_screen()
    });
}

#[test]
fn sigterm_restores_the_terminal() {
    let Running {
        mut child,
        screen,
        _scratch,
        ..
    } = start_kquant();
    wait_for(&screen, "the list", |s| {
        s.alternate_screen() && selected_row(s).is_some()
    });
    let pid = child.process_id().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_exit(&mut child);
    // Restored, then killed by the signal itself, so the shell sees what happened.
    assert!(
        status.signal().is_some() || status.exit_code() == 128 + 15,
        "exit status {status:?}"
    );
    wait_for(&screen, "the alternate screen to be left", |s| {
        !s.alternate_screen()
    });
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
