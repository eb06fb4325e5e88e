//! The real binary in a pseudo-terminal, for the hardening tests: every byte the app writes
//! is kept (to check what reaches the terminal raw) and fed to a vt100 screen (to check what
//! the user sees). Conditions are polled with generous deadlines, never slept for.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, ExitStatus, MasterPty, PtySize, native_pty_system};

/// CI runs on two busy cores, and these are debug builds.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Leave the alternate screen, show the cursor: the restore sequences.
pub const LEAVE_ALT_SCREEN: &[u8] = b"\x1b[?1049l";
pub const ENTER_ALT_SCREEN: &[u8] = b"\x1b[?1049h";
pub const SHOW_CURSOR: &[u8] = b"\x1b[?25h";

/// A running kquant (or a shell running it) in a pty.
pub struct Session {
    pub child: Box<dyn Child + Send + Sync>,
    master: Option<Box<dyn MasterPty + Send>>,
    writer: Option<Box<dyn Write + Send>>,
    pub screen: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    stop_reading: Arc<AtomicBool>,
    pause_reading: Arc<AtomicBool>,
    reader_done: Arc<AtomicBool>,
}

fn non_zero(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n.max(1)).unwrap()
}

/// Start `program args` in a `rows`×`cols` pty in `cwd`, as an xterm outside tmux.
pub fn spawn(
    program: &OsStr,
    args: &[&OsStr],
    env: &[(&str, &str)],
    cwd: &Path,
    (rows, cols): (u16, u16),
) -> Session {
    let pty = native_pty_system()
        .openpty(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(program);
    cmd.args(args);
    cmd.cwd(cwd);
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("TMUX");
    cmd.env_remove("TERM_PROGRAM");
    cmd.env_remove("KQUANT_TEST_PANIC");
    for (key, value) in env {
        cmd.env(key, value);
    }
    let child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let screen = Arc::new(Mutex::new(vt100::Parser::new(
        non_zero(rows),
        non_zero(cols),
        0,
    )));
    let raw = Arc::new(Mutex::new(Vec::new()));
    let stop_reading = Arc::new(AtomicBool::new(false));
    let pause_reading = Arc::new(AtomicBool::new(false));
    let reader_done = Arc::new(AtomicBool::new(false));
    let mut reader = pty.master.try_clone_reader().unwrap();
    let writer = pty.master.take_writer().unwrap();
    {
        let (screen, raw) = (screen.clone(), raw.clone());
        let (stop, done) = (stop_reading.clone(), reader_done.clone());
        let pause = pause_reading.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 8192];
            // Bytes of a frame whose end has not arrived yet.
            let mut frame = Vec::new();
            loop {
                // A stalled link: the app's writes fill the pty and block.
                while pause.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(10));
                }
                let Ok(n) = reader.read(&mut buf) else { break };
                if n == 0 {
                    break;
                }
                raw.lock().unwrap().extend_from_slice(&buf[..n]);
                let held = frame.len();
                frame.extend_from_slice(&buf[..n]);
                let ready = complete_frames(&frame, held);
                screen.lock().unwrap().process(&frame[..ready]);
                frame.drain(..ready);
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
            screen.lock().unwrap().process(&frame);
            drop(reader);
            done.store(true, Ordering::SeqCst);
        });
    }
    Session {
        child,
        master: Some(pty.master),
        writer: Some(writer),
        screen,
        raw,
        stop_reading,
        pause_reading,
        reader_done,
    }
}

const BEGIN_FRAME: &[u8] = b"\x1b[?2026h";
const END_FRAME: &[u8] = b"\x1b[?2026l";

/// How much of `bytes` a terminal honouring synchronized updates (mode 2026) would show now:
/// everything before a frame that has begun and not ended, and before a trailing piece of a
/// begin marker. Without this the screen model could show half a frame (the new selection
/// with the previous photo's pane) when a read splits one.
///
/// The first `held` bytes are what an earlier call kept back: an open frame (one begin
/// marker, at the start, no end) or a piece of a begin marker. Only what follows them is
/// searched, so a large frame arriving in many reads is not scanned again for each.
fn complete_frames(bytes: &[u8], held: usize) -> usize {
    let from = held.saturating_sub(BEGIN_FRAME.len() - 1);
    let rfind = |needle: &[u8]| {
        let at = bytes[from..]
            .windows(needle.len())
            .rposition(|w| w == needle);
        at.map(|at| at + from)
    };
    let begin = rfind(BEGIN_FRAME).or_else(|| bytes.starts_with(BEGIN_FRAME).then_some(0));
    if let Some(begin) = begin
        && rfind(END_FRAME).is_none_or(|end| end < begin)
    {
        return begin;
    }
    let partial = (1..BEGIN_FRAME.len())
        .rev()
        .find(|&n| bytes.ends_with(&BEGIN_FRAME[..n]))
        .unwrap_or(0);
    bytes.len() - partial
}

/// Start the debug kquant with `args`.
pub fn kquant(args: &[&OsStr], env: &[(&str, &str)], cwd: &Path, size: (u16, u16)) -> Session {
    spawn(
        OsStr::new(env!("CARGO_BIN_EXE_kquant")),
        args,
        env,
        cwd,
        size,
    )
}

impl Session {
    /// Type `bytes` as keys.
    pub fn send(&mut self, bytes: &[u8]) {
        let writer = self.writer.as_mut().expect("pty still open");
        writer.write_all(bytes).unwrap();
        writer.flush().unwrap();
    }

    /// Poll the screen until `test` holds; fail with the screen after [`DEADLINE`].
    pub fn wait_for(&self, what: &str, test: impl Fn(&vt100::Screen) -> bool) {
        let start = Instant::now();
        loop {
            {
                let parser = self.screen.lock().unwrap();
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

    /// The screen's text now.
    pub fn contents(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    /// Every byte the app has written so far.
    pub fn raw(&self) -> Vec<u8> {
        self.raw.lock().unwrap().clone()
    }

    /// Resize the pty (the app gets SIGWINCH) and the screen model with it.
    pub fn resize(&self, rows: u16, cols: u16) {
        self.master
            .as_ref()
            .expect("pty still open")
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        self.screen
            .lock()
            .unwrap()
            .set_size(non_zero(rows), non_zero(cols));
    }

    /// Send `signal` (a `kill` name such as "TERM") to the app.
    pub fn kill(&self, signal: &str) {
        let pid = self.child.process_id().unwrap();
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Stop or resume reading the app's output, like a stalled network link.
    pub fn pause_reading(&self, paused: bool) {
        self.pause_reading.store(paused, Ordering::SeqCst);
    }

    /// Wait for the app to exit; fail after [`DEADLINE`].
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.wait_exit_within(DEADLINE)
    }

    /// Wait for the app to exit; fail after `limit`.
    pub fn wait_exit_within(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "kquant did not exit within {limit:?}; screen:\n{}",
                    self.contents()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until everything the app wrote has been read (its side of the pty closed).
    pub fn wait_output_end(&self) {
        let start = Instant::now();
        while !self.reader_done.load(Ordering::SeqCst) {
            assert!(start.elapsed() < DEADLINE, "the pty never closed");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Termios local flags of the pty now (`None` if they cannot be read, or off Linux,
    /// where [`ICANON_ECHO`]'s bit values differ).
    pub fn local_flags(&self) -> Option<u32> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        let termios = self.master.as_ref()?.get_termios()?;
        #[allow(clippy::unnecessary_cast)]
        Some(termios.local_flags.bits() as u32)
    }

    /// Hang up like a dropped SSH connection: stop reading and close the master side.
    /// `poke` is typed first, so the reader thread wakes up with output and lets go.
    pub fn hang_up(&mut self, poke: &[u8]) {
        self.stop_reading.store(true, Ordering::SeqCst);
        self.send(poke);
        let start = Instant::now();
        while !self.reader_done.load(Ordering::SeqCst) {
            assert!(start.elapsed() < DEADLINE, "the reader never woke up");
            thread::sleep(Duration::from_millis(20));
        }
        self.writer = None;
        self.master = None;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A failed test must not leave a kquant running.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// True when `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The bytes after the last time the app entered the alternate screen: they must end the
/// session by leaving it and showing the cursor again.
pub fn assert_restored(raw: &[u8]) {
    let start = raw
        .windows(ENTER_ALT_SCREEN.len())
        .rposition(|w| w == ENTER_ALT_SCREEN)
        .expect("the app entered the alternate screen");
    let after = &raw[start..];
    let leave = after
        .windows(LEAVE_ALT_SCREEN.len())
        .rposition(|w| w == LEAVE_ALT_SCREEN)
        .unwrap_or_else(|| {
            panic!(
                "the alternate screen was never left; last bytes: {:?}",
                String::from_utf8_lossy(&raw[raw.len().saturating_sub(300)..])
            )
        });
    assert!(
        contains(&after[leave..], SHOW_CURSOR),
        "the cursor was not shown again after leaving the alternate screen; last bytes: {:?}",
        String::from_utf8_lossy(&after[leave..])
    );
}

/// ICANON and ECHO on Linux: raw mode turns them off, restoring turns them back on.
pub const ICANON_ECHO: u32 = 0o000_002 | 0o000_010;
