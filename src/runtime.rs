//! The UI loop: block on the one channel, drain the burst of messages through
//! `App::update`, carry out the effects, and draw only when something changed, each frame
//! inside a synchronized update so the terminal never shows half a frame. No ticking: an idle
//! kquant writes nothing to the terminal.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::Duration;

use anyhow::Context as _;
use crossterm::event::{self, Event};
use crossterm::execute;
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use ratatui_image::picker::ProtocolType;

use crate::app::{App, Exit, Settings};
use crate::msg::{Effect, Msg};
use crate::quant::ColorSpace;
use crate::scan::{self, ScanOptions};
use crate::term::{self, ProtocolChoice, Tui};
use crate::ui;
use crate::worker::save::SaveCancel;
use crate::worker::{self, Worker};

/// Everything the TUI needs from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Folder to browse.
    pub root: PathBuf,
    /// Maximum scan depth (`None` = unlimited).
    pub max_depth: Option<usize>,
    /// Graphics protocol choice.
    pub protocol: ProtocolChoice,
    /// Where `s` saves.
    pub out_dir: PathBuf,
    /// Initial k (snapped to the ladder).
    pub k: u16,
    /// Initial colour space.
    pub space: ColorSpace,
    /// Byte budget of the preview caches (`--cache-mb`).
    pub cache_bytes: usize,
}

/// Run the TUI until the user quits, a signal arrives or something breaks.
///
/// # Errors
/// When the terminal cannot be set up or written to, a thread cannot start, the terminal
/// cannot be read any more, or an unsupervised thread panicked. The terminal is restored
/// before this returns, on every path.
pub fn run(options: Options) -> anyhow::Result<Exit> {
    let (mut terminal, guard) = term::enter().context("cannot set up the terminal")?;
    let (tx, rx) = mpsc::channel();
    term::report_thread_panics_to(tx.clone());
    let mut worker = None;
    let saves = Saves::default();
    let result = event_loop(&options, &mut terminal, &rx, &tx, &mut worker, &saves);
    // The terminal first: the user gets a usable screen back at once, whatever the threads
    // are still doing.
    drop(terminal);
    drop(guard);
    // A cancelled save stops before it writes; one already writing finishes its rename, so
    // no temp file is left behind. The worker writes nothing, so it is not waited for.
    saves.cancel();
    if let Some(worker) = worker {
        worker.stop();
    }
    match result? {
        Exit::Failed(error) => Err(anyhow::anyhow!(error)),
        exit => Ok(exit),
    }
}

fn event_loop(
    options: &Options,
    terminal: &mut Tui,
    rx: &Receiver<Msg>,
    tx: &Sender<Msg>,
    worker: &mut Option<Worker>,
    saves: &Saves,
) -> anyhow::Result<Exit> {
    let size = terminal.size()?;
    let mut app = App::new(
        Settings {
            root: options.root.clone(),
            ..Settings::new(options.k, options.space, options.out_dir.clone())
        },
        size,
    );
    // Read once here, so the model and the view stay free of the environment.
    app.chart.truecolour =
        crate::chart::truecolour_from_env(std::env::var("COLORTERM").ok().as_deref());
    let cancel_saves = saves.cancel.clone();
    term::spawn_signal_thread(tx.clone(), move |signal| {
        // Once this returns, no save is writing a file or will start to.
        cancel_saves.cancel();
        term::exit_without_terminal(signal);
    })?;
    scan::spawn(
        ScanOptions {
            root: options.root.clone(),
            max_depth: options.max_depth,
        },
        tx.clone(),
    )?;
    // The graphics query may wait for a terminal that never answers; meanwhile the list
    // fills in and is drawn. Nothing reads input until the query is over (it reads the
    // replies from stdin), so the input thread starts only with `Msg::Graphics`.
    spawn_graphics_query(options.protocol, tx.clone())?;
    let mut effects = Vec::new();
    loop {
        run_effects(effects, worker.as_ref(), saves, tx);
        if let Some(exit) = app.exit() {
            return Ok(exit.clone());
        }
        if app.take_dirty() {
            draw(terminal, &app)?;
            if app.status.protocol.is_some() {
                worker::test_panic("ui");
            }
        }
        let Ok(msg) = rx.recv() else {
            return Ok(Exit::Quit);
        };
        effects = handle(msg, &mut app, worker, tx, options.cache_bytes)?;
        while let Ok(msg) = rx.try_recv() {
            effects.extend(handle(msg, &mut app, worker, tx, options.cache_bytes)?);
        }
    }
}

/// Hand a message to the model; the detected picker starts the worker and the input thread.
fn handle(
    msg: Msg,
    app: &mut App,
    worker: &mut Option<Worker>,
    tx: &Sender<Msg>,
    cache_bytes: usize,
) -> std::io::Result<Vec<Effect>> {
    let Msg::Graphics(picker) = msg else {
        return Ok(app.update(msg));
    };
    let protocol = picker.protocol_type();
    *worker = Some(Worker::with_cache(*picker, tx.clone(), cache_bytes)?);
    spawn_input_thread(tx.clone())?;
    Ok(app.update(Msg::GraphicsReady {
        protocol: term::protocol_name(protocol).to_owned(),
        requantizes: protocol == ProtocolType::Sixel,
    }))
}

fn spawn_graphics_query(choice: ProtocolChoice, tx: Sender<Msg>) -> std::io::Result<()> {
    thread::Builder::new()
        .name("kquant-graphics-query".into())
        .spawn(move || {
            worker::test_panic("query");
            let picker = term::picker(choice);
            // The UI loop may have ended already (a signal during the query).
            let _ = tx.send(Msg::Graphics(Box::new(picker)));
        })?;
    Ok(())
}

/// Running saves, cancelled together on quit so no half-written file is left behind. Their
/// threads are not joined: see [`SaveCancel`].
#[derive(Default)]
struct Saves {
    cancel: Arc<SaveCancel>,
}

impl Saves {
    /// Stop them all and wait only for one that is writing its file: the others have
    /// written nothing and die with the process.
    fn cancel(&self) {
        self.cancel.cancel();
    }
}

fn run_effects(effects: Vec<Effect>, worker: Option<&Worker>, saves: &Saves, tx: &Sender<Msg>) {
    // Within one burst only the newest preview request matters; the slot would drop the
    // others anyway, this just saves the lock traffic.
    let last_preview = effects
        .iter()
        .rposition(|e| matches!(e, Effect::Preview(_)));
    for (i, effect) in effects.into_iter().enumerate() {
        match effect {
            Effect::Preview(request) => {
                // The model asks for previews only after `GraphicsReady`, when the worker exists.
                if let (Some(worker), true) = (worker, Some(i) == last_preview) {
                    worker.submit(request);
                }
            }
            Effect::Save(request) => {
                match worker::save::spawn(request, tx.clone(), saves.cancel.clone()) {
                    // Detached: the save reports through the channel.
                    Ok(_) => {}
                    Err(error) => {
                        let _ =
                            tx.send(Msg::Save(crate::msg::SaveEvent::Failed(error.to_string())));
                    }
                }
            }
        }
    }
}

fn spawn_input_thread(tx: Sender<Msg>) -> std::io::Result<()> {
    thread::Builder::new()
        .name("kquant-input".into())
        .spawn(move || {
            worker::test_panic("input");
            // Creating crossterm's event source installs its SIGWINCH handler. A resize
            // before that (during the graphics query) made no event, so report the size as
            // of now; every later change comes as an event.
            let _ = event::poll(Duration::ZERO);
            if let Ok((width, height)) = crossterm::terminal::size()
                && tx.send(Msg::Input(Event::Resize(width, height))).is_err()
            {
                return;
            }
            loop {
                match event::read() {
                    Ok(event) => {
                        if tx.send(Msg::Input(event)).is_err() {
                            return; // the UI loop has ended
                        }
                    }
                    Err(error) => {
                        let _ = tx.send(Msg::InputClosed(error.to_string()));
                        return;
                    }
                }
            }
        })?;
    Ok(())
}

fn draw(terminal: &mut Tui, app: &App) -> std::io::Result<()> {
    execute!(terminal.backend_mut(), BeginSynchronizedUpdate)?;
    terminal.draw(|frame| ui::draw(frame, app))?;
    execute!(terminal.backend_mut(), EndSynchronizedUpdate)?;
    Ok(())
}
