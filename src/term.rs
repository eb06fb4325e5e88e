//! The terminal: entering and leaving the alternate screen (raw mode, mouse capture), a
//! thread-aware panic hook, SIGTERM/SIGHUP/SIGINT/SIGQUIT delivery, and choosing the graphics
//! protocol.
//!
//! The panic hook restores the terminal only for a panic on the UI thread. Worker and save
//! panics are caught there and shown as an error for that photo, so they must neither tear
//! the TUI down nor print over it. A panic on one of the app's other threads (scan, input,
//! signals, graphics query) is not caught by anyone and would leave the app half alive (no
//! input thread: no way to quit), so the hook turns it into `Msg::Fatal` for the UI loop,
//! which leaves through the normal path: terminal restored, message printed, exit status 1.

use std::io::{self, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use crossterm::cursor::{Hide, Show};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui_image::FontSize;
use ratatui_image::picker::cap_parser::QueryStdioOptions;
use ratatui_image::picker::{Capability, Picker, ProtocolType};

use crate::msg::Msg;

/// The protocol the user asked for with `--protocol`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProtocolChoice {
    /// Ask the terminal.
    #[default]
    Auto,
    /// Kitty graphics protocol.
    Kitty,
    /// DEC sixel.
    Sixel,
    /// iTerm2 inline images.
    Iterm2,
    /// Unicode half blocks: works everywhere, lowest resolution.
    Halfblocks,
}

/// How long the graphics query waits for a terminal that may never answer (tmux without a
/// graphics-capable outer terminal, a pipe). Local terminals answer in a few ms; the crate's
/// default of 2 s is felt on every start.
const QUERY_TIMEOUT: Duration = Duration::from_millis(800);
/// How long to wait for the query's stale reader thread to let go of stdin.
const UNSTICK_TIMEOUT: Duration = Duration::from_millis(500);

static ACTIVE: AtomicBool = AtomicBool::new(false);
static UI_THREAD: OnceLock<ThreadId> = OnceLock::new();
/// Where the panic hook reports a panic on a thread that nobody catches (see the module doc).
static FATAL_TX: Mutex<Option<Sender<Msg>>> = Mutex::new(None);

/// Threads whose panics nobody catches: a panic on one of them ends the app (after restoring
/// the terminal). The worker and save threads catch their own panics per job, and rayon's
/// threads hand theirs back to the thread that called into rayon, so they are not listed.
const UNCAUGHT_THREADS: &[&str] = &[
    "kquant-scan",
    "kquant-input",
    "kquant-signals",
    "kquant-graphics-query",
];

/// The TUI's terminal type.
pub type Tui = Terminal<CrosstermBackend<Stdout>>;

/// Restores the terminal when dropped (normal exit, `?` errors).
pub struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Enter raw mode and the alternate screen with mouse capture; call on the UI thread.
///
/// # Errors
/// When stdout is not a terminal or the terminal refuses the mode change.
pub fn enter() -> io::Result<(Tui, Guard)> {
    install_panic_hook();
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let guard = Guard(());
    execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture, Hide)?;
    let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    Ok((terminal, guard))
}

/// Leave the alternate screen and raw mode; safe to call more than once.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        // Best effort: after SIGHUP the terminal is gone and these writes fail.
        let _ = execute!(
            io::stdout(),
            DisableMouseCapture,
            LeaveAlternateScreen,
            Show
        );
        let _ = disable_raw_mode();
    }
}

fn install_panic_hook() {
    if UI_THREAD.set(thread::current().id()).is_err() {
        return; // already installed
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let current = thread::current();
        let on_ui_thread = UI_THREAD.get() == Some(&current.id());
        if on_ui_thread {
            restore();
            previous(info);
        } else if !ACTIVE.load(Ordering::SeqCst) {
            previous(info);
        } else if current
            .name()
            .is_some_and(|name| UNCAUGHT_THREADS.contains(&name))
        {
            // Printing now would garble the screen; the UI loop restores the terminal first
            // and then prints this.
            let name = current.name().unwrap_or("?");
            let payload = info.payload();
            let what = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("panic");
            let place = info
                .location()
                .map(|l| format!(" (at {}:{})", l.file(), l.line()))
                .unwrap_or_default();
            let tx = FATAL_TX.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(tx) = tx.as_ref() {
                let _ = tx.send(Msg::Fatal(format!(
                    "internal error on {name}: {what}{place}"
                )));
            }
        }
        // Otherwise: a worker or save job (or rayon inside one) while the TUI is up. The job
        // catches the panic and shows it in place; printing here would garble the screen.
    }));
}

/// Give the panic hook the UI loop's channel, for panics on [`UNCAUGHT_THREADS`].
pub fn report_thread_panics_to(tx: Sender<Msg>) {
    *FATAL_TX.lock().unwrap_or_else(PoisonError::into_inner) = Some(tx);
}

/// How long the UI loop gets to leave after a signal before kquant leaves anyway.
pub const SIGNAL_GRACE: Duration = Duration::from_secs(3);

/// Deliver SIGTERM, SIGHUP (an SSH connection dropping), SIGINT (`kill -INT`; Ctrl-C in raw
/// mode is a key, not a signal) and SIGQUIT to the UI loop as `Msg::Signal`, so it leaves
/// through the normal path: saves cancelled, terminal restored. Left to their default action,
/// each of them would kill kquant with the terminal still in raw mode on the alternate screen.
///
/// If the app is still running [`SIGNAL_GRACE`] after a signal, the UI thread is stuck: a
/// write to a terminal that stopped reading (a stalled SSH link) blocks, and it never gets to
/// the message. Then `stuck(signal)` runs on this thread; it must end the process without
/// writing to the terminal.
///
/// # Errors
/// When the signal handlers cannot be installed or the thread cannot start.
pub fn spawn_signal_thread(
    tx: Sender<Msg>,
    stuck: impl Fn(i32) + Send + 'static,
) -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT, SIGQUIT])?;
    thread::Builder::new()
        .name("kquant-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                if tx.send(Msg::Signal(signal)).is_err() {
                    return;
                }
                // A normal exit ends the process (and this sleep) well before.
                thread::sleep(SIGNAL_GRACE);
                stuck(signal);
            }
        })?;
    Ok(())
}

/// Leave at once from any thread, without writing to the terminal: raw mode off (termios
/// only; nothing waits for the output to drain), then exit with 128 + `signal`. For a UI
/// thread blocked on a terminal that stopped reading; the alternate screen cannot be left
/// without writing, so it stays (the terminal is gone or stalled anyway).
pub fn exit_without_terminal(signal: i32) -> ! {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
    }
    std::process::exit(128 + signal);
}

/// Pick the graphics protocol: the user's choice, or ask the terminal. Call after [`enter`]
/// and before anything reads terminal input.
#[must_use]
pub fn picker(choice: ProtocolChoice) -> Picker {
    let forced = match choice {
        ProtocolChoice::Auto => return query_picker(),
        ProtocolChoice::Halfblocks => return Picker::halfblocks(),
        ProtocolChoice::Kitty => {
            // Still ask: only the terminal can say whether it takes zlib-compressed
            // transmissions, which cut a photo's bytes several-fold on a slow link.
            let mut picker = query_picker();
            if picker
                .capabilities()
                .contains(&Capability::KittyCompression)
            {
                picker.set_protocol_type(ProtocolType::Kitty);
                return picker;
            }
            ProtocolType::Kitty
        }
        ProtocolChoice::Sixel => ProtocolType::Sixel,
        ProtocolChoice::Iterm2 => ProtocolType::Iterm2,
    };
    // No query: the cell size comes from the kernel's window size, which most terminals (and
    // OpenSSH) fill in; ratatui-image offers no other constructor taking a font size.
    #[allow(deprecated)]
    let mut picker = match cell_size_from_ioctl() {
        Some(font) => Picker::from_fontsize(font),
        None => Picker::halfblocks(),
    };
    picker.set_protocol_type(forced);
    picker
}

/// A short name for the status line.
#[must_use]
pub fn protocol_name(protocol: ProtocolType) -> &'static str {
    match protocol {
        ProtocolType::Halfblocks => "half-blocks",
        ProtocolType::Sixel => "sixel",
        ProtocolType::Kitty => "kitty",
        ProtocolType::Iterm2 => "iTerm2",
    }
}

fn cell_size_from_ioctl() -> Option<FontSize> {
    let size = crossterm::terminal::window_size().ok()?;
    if size.width == 0 || size.height == 0 || size.columns == 0 || size.rows == 0 {
        return None;
    }
    Some(FontSize::new(
        size.width / size.columns,
        size.height / size.rows,
    ))
}

fn query_picker() -> Picker {
    let started = Instant::now();
    let options = QueryStdioOptions {
        timeout: QUERY_TIMEOUT,
        // Kitty's `o=z`: a deflated photo is a fraction of raw RGBA in base64, and the few
        // ms of zlib per picture are nothing next to the link.
        kitty_compression: true,
        ..QueryStdioOptions::default()
    };
    let picker =
        Picker::from_query_stdio_with_options(options).unwrap_or_else(|_| Picker::halfblocks());
    if started.elapsed() >= QUERY_TIMEOUT {
        unstick_stale_reader();
    }
    picker
}

/// After a timed-out query, ratatui-image 11.1 leaves its reader thread blocked in
/// `stdin().read()`, where it would swallow the user's next key. Ask the terminal (or tmux,
/// which answers this itself) for a device status report: the reply wakes that reader, which
/// sees the end of its query and exits. Its read holds std's stdin lock, so taking the lock
/// tells us it is done; crossterm reads the tty directly and never needs that lock.
fn unstick_stale_reader() {
    let mut stdout = io::stdout();
    if stdout
        .write_all(b"\x1b[5n")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return;
    }
    let (done_tx, done_rx) = mpsc::channel();
    let spawned = thread::Builder::new()
        .name("kquant-query-drain".into())
        .spawn(move || {
            drop(io::stdin().lock());
            let _ = done_tx.send(());
        });
    if spawned.is_ok() {
        // If nothing answers (a plain pipe) the helper stays blocked; there is no key to lose
        // on a pipe, so give up quietly.
        let _ = done_rx.recv_timeout(UNSTICK_TIMEOUT);
    }
}
