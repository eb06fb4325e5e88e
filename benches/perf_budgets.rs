//! The performance budgets of issue 5, measured on the real `kquant` binary in a
//! pseudo-terminal: keys go in, every byte that comes out is timestamped, and each budget is
//! reported as its median, the budget and PASS/FAIL. A frame is one synchronized update
//! (`CSI ? 2026 h` … `CSI ? 2026 l`), so "picture on screen" is the end of the frame that
//! carries the image, not a guessed quiet period. The harness plays a terminal with 10×19
//! pixel cells: it answers the graphics query (kitty `a=q` including the `o=z` compression
//! probe, DA1 with sixel, `CSI 16 t`, `CSI 5 n`) so a forced `--protocol kitty` learns that
//! compression is available, as a real kitty would tell it.
//!
//! Run: `cargo bench --bench perf_budgets -- [--corpus DIR] [--runs N] [--protocol P] [--only plus|nav|first|memory|save]...`.
//! Without the photo corpus (default `../shared/corpus/photos`) it says so and exits 0.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

const COLS: u16 = 160;
const ROWS: u16 = 48;
const CELL: (u16, u16) = (10, 19);
/// Generous: the machine is shared and a 20 MP full-resolution pass takes seconds.
const TIMEOUT: Duration = Duration::from_secs(90);
const FRAME_END: &[u8] = b"\x1b[?2026l";
const FRAME_START: &[u8] = b"\x1b[?2026h";
/// The 13 MP photo of the latency budgets and the three largest, largest first.
const DRAGONFLY: &str = "Dragonfly_by_Bolly.jpg";
const LARGE: [&str; 3] = [
    "Kleiber_by_Lukas_Baubkus.jpg",
    "seeding_by_Clements_Engelhardt.jpg",
    DRAGONFLY,
];

fn main() {
    match run() {
        Ok(()) => {}
        Err(error) => {
            eprintln!("perf_budgets: {error:#}");
            std::process::exit(1);
        }
    }
}

struct Opts {
    corpus: PathBuf,
    runs: usize,
    protocol: String,
    /// Run only these scenarios (plus, nav, first, memory, save); all when empty.
    only: Vec<String>,
}

fn parse_args() -> Result<Opts> {
    let mut opts = Opts {
        corpus: Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/photos"),
        runs: 5,
        protocol: "kitty".into(),
        only: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--corpus" => opts.corpus = args.next().context("--corpus DIR")?.into(),
            "--runs" => opts.runs = args.next().context("--runs N")?.parse()?,
            "--protocol" => opts.protocol = args.next().context("--protocol P")?,
            "--only" => opts.only.push(args.next().context("--only SCENARIO")?),
            // `cargo bench` passes `--bench`; filters are not supported.
            _ if arg.starts_with("--bench") => {}
            _ => bail!(
                "unknown argument {arg:?}; usage: [--corpus DIR] [--runs N] [--protocol P] [--only SCENARIO]"
            ),
        }
    }
    opts.runs = opts.runs.max(1);
    Ok(opts)
}

fn run() -> Result<()> {
    let opts = parse_args()?;
    if !opts.corpus.join(DRAGONFLY).is_file()
        || !LARGE.iter().all(|f| opts.corpus.join(f).is_file())
    {
        println!(
            "skipping: corpus not found at {} (need {} and {:?}); pass --corpus DIR",
            opts.corpus.display(),
            DRAGONFLY,
            LARGE
        );
        return Ok(());
    }
    let scratch = tempfile::tempdir()?;
    let mut report = Report::default();
    println!(
        "kquant perf budgets: {COLS}×{ROWS} cells of {}×{} px, {} run(s) per figure, latency protocol {}",
        CELL.0, CELL.1, opts.runs, opts.protocol
    );

    type Scenario = fn(&Opts, &Path, &mut Report) -> Result<()>;
    let scenarios: [(&str, Scenario); 5] = [
        ("plus", plus_budgets),
        ("nav", navigation_budgets),
        ("first", first_frame_budget),
        ("memory", memory_budget),
        ("save", save_budget),
    ];
    for (name, scenario) in scenarios {
        if opts.only.is_empty() || opts.only.iter().any(|o| o == name) {
            scenario(&opts, scratch.path(), &mut report)?;
        }
    }

    report.print();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The report

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
}

struct Row {
    name: String,
    samples: Vec<f64>,
    unit: &'static str,
    /// `Some(limit)`: PASS when the median ≤ limit.
    budget: Option<f64>,
}

impl Report {
    fn add(
        &mut self,
        name: impl Into<String>,
        unit: &'static str,
        budget: Option<f64>,
        samples: Vec<f64>,
    ) {
        let row = Row {
            name: name.into(),
            samples,
            unit,
            budget,
        };
        println!("  {}", row.line());
        self.rows.push(row);
    }

    fn print(&self) {
        println!();
        println!(
            "{:<52} {:>12} {:>12} {:>12}  result",
            "budget", "median", "min–max", "budget"
        );
        for row in &self.rows {
            println!("{}", row.line());
        }
        let failed = self.rows.iter().filter(|r| r.verdict() == "FAIL").count();
        println!("\n{failed} budget(s) failed");
    }
}

impl Row {
    fn median(&self) -> Option<f64> {
        let mut s = self.samples.clone();
        s.sort_by(f64::total_cmp);
        (!s.is_empty()).then(|| {
            let n = s.len();
            if n % 2 == 1 {
                s[n / 2]
            } else {
                (s[n / 2 - 1] + s[n / 2]) / 2.0
            }
        })
    }

    fn verdict(&self) -> &'static str {
        match (self.median(), self.budget) {
            (None, _) => "NO DATA",
            (Some(_), None) => "info",
            (Some(m), Some(b)) if m <= b => "PASS",
            _ => "FAIL",
        }
    }

    fn line(&self) -> String {
        let fmt = |v: f64| match self.unit {
            "B" => human(v),
            "ms" => format!("{v:.0} ms"),
            "MB" => format!("{v:.0} MB"),
            _ => format!("{v:.0}{}", self.unit),
        };
        let min = self.samples.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self
            .samples
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let spread = if self.samples.len() > 1 {
            format!(
                "{}–{}",
                fmt(min),
                fmt(max).trim_end_matches(&format!(" {}", self.unit))
            )
        } else {
            String::new()
        };
        format!(
            "{:<52} {:>12} {:>12} {:>12}  {} (n={})",
            self.name,
            self.median().map_or_else(|| "-".into(), fmt),
            spread,
            self.budget
                .map_or_else(|| "-".into(), |b| format!("≤ {}", fmt(b))),
            self.verdict(),
            self.samples.len()
        )
    }
}

fn human(bytes: f64) -> String {
    if bytes >= 1e6 {
        format!("{:.2} MB", bytes / 1e6)
    } else if bytes >= 1e3 {
        format!("{:.1} kB", bytes / 1e3)
    } else {
        format!("{bytes:.0} B")
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

// ---------------------------------------------------------------------------------------
// Scenarios

/// `+` on the 13 MP photo once it is decoded and idle: time to the frame carrying the new
/// compressed pane, and every byte the key costs until the app is idle again, per protocol.
fn plus_budgets(opts: &Opts, scratch: &Path, report: &mut Report) -> Result<()> {
    let dir = link_folder(scratch, "plus", &opts.corpus, &[DRAGONFLY])?;
    let mut protocols = vec![opts.protocol.clone()];
    for p in ["kitty", "sixel", "iterm2", "halfblocks"] {
        if !protocols.iter().any(|q| q == p) {
            protocols.push(p.to_owned());
        }
    }
    for protocol in protocols {
        let mut latency = Vec::new();
        let mut bytes = Vec::new();
        let mut images = Vec::new();
        // k = 8 → 12 → 16 → …: every press is a fresh clustering (the result cache is keyed by k).
        let presses = opts.runs.min(6);
        let mut app = App::start(&protocol, &dir, &["-k", "8"], scratch)?;
        app.settle()?;
        for _ in 0..presses {
            let (t0, from) = app.key(b"+")?;
            app.settle_after(from)?;
            let frames = app.frames_since(from);
            let picture = frames
                .iter()
                .max_by_key(|f| f.len)
                .context("no frame after +")?;
            latency.push(ms(picture.end_time - t0));
            bytes.push(app.bytes_since(from) as f64);
            images.push(app.image_sequences_since(from) as f64);
            // Rest like a user looking at the result.
            thread::sleep(Duration::from_millis(300));
        }
        app.quit();
        let budget = (protocol == opts.protocol).then_some(50.0);
        report.add(
            format!("`+` → compressed pane written ({protocol})"),
            "ms",
            budget,
            latency,
        );
        report.add(
            format!("bytes per `+` ({protocol}, {COLS}×{ROWS})"),
            "B",
            None,
            bytes,
        );
        if protocol != "halfblocks" {
            report.add(
                format!("image sequences per `+` ({protocol})"),
                "",
                Some(1.0),
                images,
            );
        }
    }
    Ok(())
}

/// ↓ after resting ≥ 1 s (the neighbour may be prefetched), on 13–20 MP JPEGs through
/// distinct hard links; and cold: a fresh app's first original, from spawn (nothing cached,
/// nothing prefetched, start-up included).
fn navigation_budgets(opts: &Opts, scratch: &Path, report: &mut Report) -> Result<()> {
    let rounds = opts.runs.max(3);
    let names: Vec<&str> = (0..=rounds).map(|i| LARGE[i % 3]).collect();
    let dir = link_folder(scratch, "nav", &opts.corpus, &names)?;
    let mut app = App::start(&opts.protocol, &dir, &[], scratch)?;
    app.settle()?;
    let mut rest = Vec::new();
    for _ in 0..rounds {
        app.rest(Duration::from_millis(1000))?;
        let (t0, from) = app.key(b"\x1b[B")?;
        rest.push(ms(app.first_image_frame(from)? - t0));
        app.settle()?;
    }
    app.quit();
    let mut cold = Vec::new();
    for i in 0..rounds {
        let dir = link_folder(scratch, &format!("cold{i}"), &opts.corpus, &[LARGE[i % 3]])?;
        let started = Instant::now();
        let app = App::start(&opts.protocol, &dir, &[], scratch)?;
        cold.push(ms(app.first_image_frame(0)? - started));
        app.quit();
    }
    report.add(
        "next photo's original, after ≥ 1 s rest",
        "ms",
        Some(150.0),
        rest,
    );
    report.add(
        "first photo's original, cold start (13–20 MP)",
        "ms",
        Some(300.0),
        cold,
    );
    Ok(())
}

/// First frame with the list on a folder of 10 000 hard links, and holding ↓ through 50
/// photos (a press every 33 ms, typical key repeat): pictures sent for the photos passed.
fn first_frame_budget(opts: &Opts, scratch: &Path, report: &mut Report) -> Result<()> {
    let dir = scratch.join("many");
    if !dir.is_dir() {
        fs::create_dir_all(&dir)?;
        let source = opts.corpus.join("rocket.jpg");
        let source = if source.is_file() {
            source
        } else {
            opts.corpus.join(DRAGONFLY)
        };
        for i in 0..10_000 {
            let dest = dir.join(format!("img{i:05}.jpg"));
            if fs::hard_link(&source, &dest).is_err() {
                fs::copy(&source, &dest)?;
            }
        }
    }
    let mut first = Vec::new();
    let mut held = Vec::new();
    for run in 0..opts.runs {
        let started = Instant::now();
        let mut app = App::start(&opts.protocol, &dir, &[], scratch)?;
        let at = app.first_frame_containing(b"img0")?;
        first.push(ms(at - started));
        if run < 2 {
            app.settle()?;
            let from = app.offset();
            let mut last = from;
            for _ in 0..50 {
                last = app.key(b"\x1b[B")?.1;
                thread::sleep(Duration::from_millis(33));
            }
            app.settle_after(last)?;
            held.push(app.image_sequences_since(from) as f64);
        }
        app.quit();
    }
    report.add(
        "first frame, 10 000 photos (from spawn)",
        "ms",
        Some(150.0),
        first,
    );
    if opts.protocol != "halfblocks" {
        // Two photos' two panes: the first ↓ is answered at once (a single ↓ must not wait
        // for a debounce; a real keyboard's repeat delay also shows that photo for ~0.5 s),
        // then only the photo the keys stop on. Sending every photo passed would be 100.
        report.add(
            "image sequences while holding ↓ over 50 photos (first + last photo, 2 panes)",
            "",
            Some(4.0),
            held,
        );
    }
    Ok(())
}

/// Peak RSS (VmHWM) while browsing the three largest photos back and forth, each shown
/// until the app is idle (full-resolution figures included).
fn memory_budget(opts: &Opts, scratch: &Path, report: &mut Report) -> Result<()> {
    let dir = link_folder(scratch, "large", &opts.corpus, &LARGE)?;
    let largest = image::image_dimensions(opts.corpus.join(LARGE[0]))?;
    let decoded_mb = f64::from(largest.0) * f64::from(largest.1) * 3.0 / 1e6;
    let mut app = App::start(&opts.protocol, &dir, &[], scratch)?;
    app.settle()?;
    for key in [
        b"\x1b[B", b"\x1b[B", b"\x1b[A", b"\x1b[A", b"\x1b[B", b"\x1b[B",
    ] {
        app.key(key)?;
        app.settle()?;
    }
    let peak_kb = app.vm_hwm_kb()?;
    app.quit();
    report.add(
        format!("peak RSS, 3 largest back and forth ({decoded_mb:.0} MB decoded)"),
        "MB",
        Some(3.0 * decoded_mb),
        vec![peak_kb * 1024.0 / 1e6],
    );
    Ok(())
}

/// `s` on the 20 MP photo at k = 64 until the status line says it is saved.
fn save_budget(opts: &Opts, scratch: &Path, report: &mut Report) -> Result<()> {
    let dir = link_folder(scratch, "save", &opts.corpus, &[LARGE[0]])?;
    let mut samples = Vec::new();
    for run in 0..opts.runs.min(3) {
        let out = scratch.join(format!("out{run}"));
        let out_arg = out.to_string_lossy().into_owned();
        let mut app = App::start(&opts.protocol, &dir, &["-k", "64", "-o", &out_arg], scratch)?;
        app.settle()?;
        let (t0, _) = app.key(b"s")?;
        let done = app.wait_screen("saved …", |s| s.contents().contains("saved "))?;
        samples.push(ms(done - t0));
        app.quit();
    }
    report.add(
        "full-resolution save, 20 MP at k = 64",
        "ms",
        Some(2000.0),
        samples,
    );
    Ok(())
}

/// A folder of hard links `NN-name` to corpus photos (distinct paths, same bytes).
fn link_folder(scratch: &Path, name: &str, corpus: &Path, photos: &[&str]) -> Result<PathBuf> {
    let dir = scratch.join(name);
    fs::create_dir_all(&dir)?;
    for (i, photo) in photos.iter().enumerate() {
        let dest = dir.join(format!("{i:02}-{photo}"));
        if fs::hard_link(corpus.join(photo), &dest).is_err() {
            fs::copy(corpus.join(photo), &dest)?;
        }
    }
    Ok(dir)
}

// ---------------------------------------------------------------------------------------
// The app in a pty

#[derive(Default)]
struct Log {
    bytes: Vec<u8>,
    /// (arrival, offset of the chunk's end).
    chunks: Vec<(Instant, usize)>,
}

impl Log {
    /// When the byte at `offset` arrived.
    fn time_of(&self, offset: usize) -> Option<Instant> {
        let i = self.chunks.partition_point(|(_, end)| *end <= offset);
        self.chunks.get(i).map(|(t, _)| *t)
    }
}

struct Frame {
    len: usize,
    end_time: Instant,
}

struct App {
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    log: Arc<Mutex<Log>>,
    screen: Arc<Mutex<vt100::Parser>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl App {
    fn start(protocol: &str, dir: &Path, extra: &[&str], cwd: &Path) -> Result<Self> {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: COLS * CELL.0,
                pixel_height: ROWS * CELL.1,
            })
            .map_err(|e| anyhow::anyhow!("openpty: {e}"))?;
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_kquant"));
        cmd.args(["--protocol", protocol]);
        cmd.args(extra);
        cmd.arg(dir);
        cmd.cwd(cwd);
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("TMUX");
        cmd.env_remove("TERM_PROGRAM");
        let child = pty
            .slave
            .spawn_command(cmd)
            .map_err(|e| anyhow::anyhow!("spawn kquant: {e}"))?;
        drop(pty.slave);
        let mut reader = pty
            .master
            .try_clone_reader()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let writer = Arc::new(Mutex::new(
            pty.master
                .take_writer()
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        ));
        let log = Arc::new(Mutex::new(Log::default()));
        let screen = Arc::new(Mutex::new(vt100::Parser::new(
            std::num::NonZeroU16::new(ROWS).context("rows")?,
            std::num::NonZeroU16::new(COLS).context("cols")?,
            0,
        )));
        {
            let (log, screen, writer) = (log.clone(), screen.clone(), writer.clone());
            thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let now = Instant::now();
                    let replies = {
                        let mut log = lock(&log);
                        let start = log.bytes.len();
                        log.bytes.extend_from_slice(&buf[..n]);
                        let end = log.bytes.len();
                        log.chunks.push((now, end));
                        // Queries come only at start-up; look for them in the first 64 kB.
                        (start < 1 << 16).then(|| {
                            replies(&log.bytes[start.saturating_sub(64)..end], start.min(64))
                        })
                    };
                    if let Some(replies) = replies
                        && !replies.is_empty()
                    {
                        let mut w = lock(&writer);
                        let _ = w.write_all(&replies).and_then(|()| w.flush());
                    }
                    lock(&screen).process(&buf[..n]);
                }
            });
        }
        Ok(Self {
            child,
            _master: pty.master,
            writer,
            log,
            screen,
        })
    }

    fn offset(&self) -> usize {
        lock(&self.log).bytes.len()
    }

    fn key(&mut self, bytes: &[u8]) -> Result<(Instant, usize)> {
        let from = self.offset();
        let mut w = lock(&self.writer);
        w.write_all(bytes)?;
        w.flush()?;
        Ok((Instant::now(), from))
    }

    fn bytes_since(&self, from: usize) -> usize {
        self.offset() - from
    }

    /// Kitty, sixel and iTerm2 pictures written since `from`. Kitty chunks a picture into
    /// many APC sequences; only the first chunk of each (`a=T`) is counted.
    fn image_sequences_since(&self, from: usize) -> usize {
        let log = lock(&self.log);
        let hay = &log.bytes[from..];
        let count = |needle: &[u8]| hay.windows(needle.len()).filter(|w| *w == needle).count();
        count(b",a=T,") + count(b"\x1bP") + count(b"\x1b]1337;File=")
    }

    fn frames_since(&self, from: usize) -> Vec<Frame> {
        let log = lock(&self.log);
        let mut frames = Vec::new();
        let mut at = from;
        while let Some(end) = find(&log.bytes[at..], FRAME_END).map(|i| at + i + FRAME_END.len()) {
            let start = log.bytes[at..end]
                .windows(FRAME_START.len())
                .rposition(|w| w == FRAME_START)
                .map_or(at, |i| at + i);
            if let Some(end_time) = log.time_of(end - 1) {
                frames.push(Frame {
                    len: end - start,
                    end_time,
                });
            }
            at = end;
        }
        frames
    }

    /// The end of the first frame since `from` that carries an image sequence.
    fn first_image_frame(&self, from: usize) -> Result<Instant> {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            {
                let log = lock(&self.log);
                let mut at = from;
                while let Some(end) =
                    find(&log.bytes[at..], FRAME_END).map(|i| at + i + FRAME_END.len())
                {
                    // Only the frame itself, and kitty transmissions (`a=T`), never the start-up query.
                    let frame = &log.bytes[at..end];
                    let frame = frame
                        .windows(FRAME_START.len())
                        .rposition(|w| w == FRAME_START)
                        .map_or(frame, |i| &frame[i..]);
                    let image = [b",a=T,".as_slice(), b"\x1bP", b"\x1b]1337;File="]
                        .iter()
                        .any(|m| find(frame, m).is_some());
                    if image {
                        return log.time_of(end - 1).context("frame time");
                    }
                    at = end;
                }
            }
            thread::sleep(Duration::from_millis(2));
        }
        bail!("no image frame within {TIMEOUT:?}")
    }

    fn first_frame_containing(&self, needle: &[u8]) -> Result<Instant> {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            {
                let log = lock(&self.log);
                let mut at = 0;
                while let Some(end) =
                    find(&log.bytes[at..], FRAME_END).map(|i| at + i + FRAME_END.len())
                {
                    if find(&log.bytes[at..end], needle).is_some() {
                        return log.time_of(end - 1).context("frame time");
                    }
                    at = end;
                }
            }
            thread::sleep(Duration::from_millis(1));
        }
        bail!(
            "no frame with {:?} within {TIMEOUT:?}",
            String::from_utf8_lossy(needle)
        )
    }

    fn wait_screen(&self, what: &str, test: impl Fn(&vt100::Screen) -> bool) -> Result<Instant> {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if test(lock(&self.screen).screen()) {
                return Ok(Instant::now());
            }
            thread::sleep(Duration::from_millis(2));
        }
        bail!(
            "timed out waiting for {what}; screen:\n{}",
            lock(&self.screen).screen().contents()
        )
    }

    /// Wait until nothing has been written for `quiet`.
    fn rest(&self, quiet: Duration) -> Result<()> {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            let last = lock(&self.log).chunks.last().map(|(t, _)| *t);
            if last.is_none_or(|t| t.elapsed() >= quiet) {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(5));
        }
        bail!("output never went quiet")
    }

    /// Wait for the frame answering a key sent at `from`, then for [`App::settle`].
    fn settle_after(&self, from: usize) -> Result<()> {
        let deadline = Instant::now() + TIMEOUT;
        while find(&lock(&self.log).bytes[from..], FRAME_END).is_none() {
            if Instant::now() > deadline {
                bail!("no frame after the key");
            }
            thread::sleep(Duration::from_millis(2));
        }
        self.settle()
    }

    /// Wait until the photo list is up, both panes are drawn, the full-resolution figures
    /// are in and the output has been quiet for a moment.
    fn settle(&self) -> Result<()> {
        self.wait_screen("an idle screen", |s| {
            let text = s.contents();
            text.contains("photos (")
                && text.contains('▸')
                && ![
                    "computing…",
                    "decoding…",
                    "quantizing",
                    "detecting",
                    "waiting for",
                    "saving",
                ]
                .iter()
                .any(|busy| text.contains(busy))
        })?;
        self.rest(Duration::from_millis(300))
    }

    fn vm_hwm_kb(&self) -> Result<f64> {
        let pid = self.child.process_id().context("no pid")?;
        let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .context("no VmHWM")?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("VmHWM value")?
            .parse()?)
    }

    fn quit(mut self) {
        let _ = self.key(b"q");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
    }
}

/// What a kitty-and-sixel-capable terminal with 10×19 cells answers to the queries found in
/// `window` (only those starting at or after `new`, so none is answered twice).
fn replies(window: &[u8], new: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..window.len() {
        let rest = &window[i..];
        // A query that was already complete in an earlier chunk was answered then.
        let fresh = |query: &[u8]| rest.starts_with(query) && i + query.len() > new;
        {
            if fresh(b"\x1b_Gi=31,") {
                out.extend_from_slice(b"\x1b_Gi=31;OK\x1b\\");
            } else if fresh(b"\x1b_Gi=32,") {
                out.extend_from_slice(b"\x1b_Gi=32;OK\x1b\\");
            } else if fresh(b"\x1b[c") || fresh(b"\x1b[0c") {
                out.extend_from_slice(b"\x1b[?62;4;22c");
            } else if fresh(b"\x1b[16t") {
                out.extend_from_slice(format!("\x1b[6;{};{}t", CELL.1, CELL.0).as_bytes());
            } else if fresh(b"\x1b[14t") {
                out.extend_from_slice(
                    format!("\x1b[4;{};{}t", ROWS * CELL.1, COLS * CELL.0).as_bytes(),
                );
            } else if fresh(b"\x1b[5n") {
                out.extend_from_slice(b"\x1b[0n");
            } else if fresh(b"\x1b[6n") {
                out.extend_from_slice(b"\x1b[1;1R");
            }
        }
    }
    out
}
