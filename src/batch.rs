//! The headless `compress` mode: find inputs, plan outputs, compress in parallel, report.
//!
//! [`plan`] walks folder arguments (symlinks not followed, non-images skipped by
//! [`sniff_image`]), maps each input to `out_dir/<relative path>/<stem>.png`, and refuses
//! outputs that would collide or land on an input. [`run`] compresses the planned jobs with
//! rayon; every file ends as an [`Outcome`] or a [`Failure`], and one bad file (or a panic
//! while compressing it) never stops the others. [`Interrupt`] turns SIGINT/SIGTERM/SIGHUP into
//! a cancellation, so an interrupted run removes its temp files and ends with 128 + signal.
//! Progress is reported through an injected callback, so this module has no terminal code and
//! prints nothing.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::decode::{self, DecodeError, DecodeOptions, sniff_image};
use crate::palette_png::{self, EncodeError, SaveError};
use crate::quant::{self, Control, HistogramBuilder, Params};

/// Cancellation of a batch run, set by a signal ([`Interrupt::install`]) or by hand.
#[derive(Clone, Debug, Default)]
pub struct Interrupt {
    /// The signal number that arrived first, or 0.
    signal: Arc<AtomicUsize>,
}

impl Interrupt {
    /// Makes SIGINT, SIGTERM and SIGHUP set this flag instead of killing the process, so files
    /// in flight are abandoned cleanly (their temp files removed) and the caller can exit with
    /// 128 + the signal number. A second signal of the same kind ends the process at once
    /// with that status, so a stuck run can still be stopped.
    ///
    /// # Errors
    /// If a handler cannot be registered.
    pub fn install() -> io::Result<Interrupt> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        use signal_hook::flag;
        let interrupt = Interrupt::default();
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            let again = Arc::new(AtomicBool::new(false));
            // Handlers run in registration order: the exit only fires on the second signal.
            flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&again))?;
            let number = usize::try_from(sig).unwrap_or(usize::MAX);
            flag::register_usize(sig, Arc::clone(&interrupt.signal), number)?;
            flag::register(sig, again)?;
        }
        Ok(interrupt)
    }

    /// Cancels as if `signal` had arrived.
    pub fn trigger(&self, signal: i32) {
        let number = usize::try_from(signal).unwrap_or(usize::MAX);
        let _ = self
            .signal
            .compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The signal that cancelled the run, if any.
    pub fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            n => i32::try_from(n).ok(),
        }
    }

    /// True once cancelled.
    pub fn is_set(&self) -> bool {
        self.signal().is_some()
    }

    /// The shell's convention for a run ended by a signal: 128 + its number.
    pub fn exit_code(&self) -> Option<u8> {
        self.signal()
            .and_then(|s| u8::try_from(128 + s.clamp(0, 127)).ok())
    }
}

/// Everything a batch run needs, already validated.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Files and folders given on the command line.
    pub inputs: Vec<PathBuf>,
    /// Output root; created if missing.
    pub out_dir: PathBuf,
    /// Clustering parameters (k, colour space, dithering, seed).
    pub params: Params,
    /// Decoding limits.
    pub decode: DecodeOptions,
    /// How hard the PNG writer compresses.
    pub effort: palette_png::Effort,
}

/// One file to compress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The input file, as found (argument or walk result).
    pub input: PathBuf,
    /// Where its PNG goes, inside the output root.
    pub output: PathBuf,
}

/// A file compressed and saved.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Input file.
    pub input: PathBuf,
    /// Written PNG.
    pub output: PathBuf,
    /// Image width as displayed.
    pub width: u32,
    /// Image height as displayed.
    pub height: u32,
    /// width × height.
    pub pixels: u64,
    /// Requested number of colours.
    pub k: u16,
    /// Colours actually used (≤ k; fewer when the image has fewer distinct colours).
    pub colours: usize,
    /// Size of the input file.
    pub original_bytes: u64,
    /// Size of the written PNG.
    pub output_bytes: u64,
    /// Peak signal-to-noise ratio of the quantized RGB, in dB (infinite when lossless).
    pub psnr: f64,
    /// Wall time for this file: decode, quantize, encode, save.
    pub elapsed: Duration,
}

impl Outcome {
    /// Output size over original size (smaller is better).
    pub fn ratio(&self) -> f64 {
        if self.original_bytes == 0 {
            return f64::NAN;
        }
        #[allow(clippy::cast_precision_loss)]
        let r = self.output_bytes as f64 / self.original_bytes as f64;
        r
    }
}

/// Why one input produced no output.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A path argument or folder entry could not be read.
    #[error("cannot read")]
    Io(#[source] io::Error),
    /// Decoding failed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Encoding failed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Saving failed.
    #[error(transparent)]
    Save(#[from] SaveError),
    /// Two inputs would write the same output.
    #[error("output {} would also be written from {}; skipped", crate::text::sanitize_path(.output), crate::text::sanitize_path(.other))]
    Collision {
        /// The contested output path.
        output: PathBuf,
        /// The input that keeps it.
        other: PathBuf,
    },
    /// The planned output is one of the inputs.
    #[error("output {} is an input file; choose another -o folder", crate::text::sanitize_path(.0))]
    OutputIsInput(PathBuf),
    /// The quantizer panicked (a bug); the run goes on.
    #[error("internal error while compressing (panic): {0}")]
    Panic(String),
    /// The run was interrupted before this file was finished; nothing was written for it.
    #[error("cancelled")]
    Cancelled,
}

/// An input that failed, with its cause.
#[derive(Debug)]
pub struct Failure {
    /// The file or folder entry.
    pub path: PathBuf,
    /// What went wrong.
    pub error: FileError,
}

/// The jobs to run plus inputs already known to fail.
#[derive(Debug, Default)]
pub struct Plan {
    /// Files to compress, in a stable order.
    pub jobs: Vec<Job>,
    /// Arguments and entries that failed before compression.
    pub failures: Vec<Failure>,
}

/// Results of [`run`], in job order.
#[derive(Debug, Default)]
pub struct Report {
    /// Successful files.
    pub outcomes: Vec<Outcome>,
    /// Failed files, planning failures first.
    pub failures: Vec<Failure>,
    /// Files not compressed because the run was interrupted (neither outcomes nor failures).
    pub cancelled: usize,
}

/// Finds the input files and decides every output path.
pub fn plan(inputs: &[PathBuf], out_dir: &Path) -> Plan {
    plan_cancellable(inputs, out_dir, &|| false)
}

/// [`plan`], which stops looking once `cancelled()` turns true: walking a big tree (each file
/// is opened to sniff its format) can take a while, and Ctrl-C must not wait for it. The plan
/// then holds what was found so far.
pub fn plan_cancellable(inputs: &[PathBuf], out_dir: &Path, cancelled: &dyn Fn() -> bool) -> Plan {
    let mut plan = Plan::default();
    let out_canon = out_dir.canonicalize().ok();
    let mut seen_inputs = HashSet::new();
    // (input, path relative to the output root)
    let mut found: Vec<(PathBuf, PathBuf)> = Vec::new();
    for arg in inputs {
        if cancelled() {
            break;
        }
        let meta = match fs::metadata(arg) {
            Ok(m) => m,
            Err(e) => {
                plan.failures.push(Failure {
                    path: arg.clone(),
                    error: FileError::Io(e),
                });
                continue;
            }
        };
        if meta.is_dir() {
            walk(
                arg,
                out_canon.as_deref(),
                cancelled,
                &mut found,
                &mut plan.failures,
            );
        } else if let Some(name) = arg.file_name() {
            found.push((arg.clone(), PathBuf::from(name)));
        } else {
            plan.failures.push(Failure {
                path: arg.clone(),
                error: FileError::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a file name",
                )),
            });
        }
    }
    // The same file reached twice (argument and folder, or two spellings) is compressed once.
    found.retain(|(input, _)| {
        seen_inputs.insert(input.canonicalize().unwrap_or_else(|_| input.clone()))
    });

    let outputs: Vec<PathBuf> = found
        .iter()
        .map(|(_, rel)| with_png_name(rel, false))
        .collect();
    let mut count: HashMap<&Path, usize> = HashMap::new();
    for o in &outputs {
        *count.entry(o.as_path()).or_default() += 1;
    }
    // Disambiguate "a.jpg" + "a.png" as "a.jpg.png" + "a.png.png"; refuse what still collides.
    let rels: Vec<PathBuf> = found
        .iter()
        .zip(&outputs)
        .map(|((_, rel), o)| {
            if count[o.as_path()] > 1 {
                with_png_name(rel, true)
            } else {
                o.clone()
            }
        })
        .collect();
    let mut owner: HashMap<PathBuf, PathBuf> = HashMap::new();
    for ((input, _), rel) in found.into_iter().zip(rels) {
        let output = out_dir.join(&rel);
        if let Some(other) = owner.get(&output) {
            plan.failures.push(Failure {
                path: input,
                error: FileError::Collision {
                    output,
                    other: other.clone(),
                },
            });
            continue;
        }
        owner.insert(output.clone(), input.clone());
        plan.jobs.push(Job { input, output });
    }
    // An output that resolves to any input is refused before anything runs.
    let input_set: HashSet<PathBuf> = seen_inputs;
    let (ok, bad): (Vec<Job>, Vec<Job>) = plan
        .jobs
        .into_iter()
        .partition(|job| resolve(&job.output).is_none_or(|o| !input_set.contains(&o)));
    plan.jobs = ok;
    plan.failures.extend(bad.into_iter().map(|job| Failure {
        error: FileError::OutputIsInput(job.output),
        path: job.input,
    }));
    plan
}

/// Canonical form of a path that may not exist yet (canonical parent + file name).
fn resolve(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let parent = p
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Some(parent.canonicalize().ok()?.join(p.file_name()?))
}

/// `dir/photo.jpg` → `dir/photo.png` (or `dir/photo.jpg.png` when `keep_ext`).
fn with_png_name(rel: &Path, keep_ext: bool) -> PathBuf {
    let name = rel.file_name().unwrap_or(OsStr::new("image"));
    rel.with_file_name(palette_png::output_file_name(name, keep_ext, ".png"))
}

fn walk(
    root: &Path,
    skip: Option<&Path>,
    cancelled: &dyn Fn() -> bool,
    found: &mut Vec<(PathBuf, PathBuf)>,
    failures: &mut Vec<Failure>,
) {
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        // Never descend into the output folder (`kquant compress .` writes ./kquant-out/).
        .filter_entry(|e| {
            e.depth() == 0
                || !(e.file_type().is_dir()
                    && skip.is_some_and(|s| e.path().canonicalize().is_ok_and(|c| c == s)))
        });
    for entry in walker {
        if cancelled() {
            return;
        }
        let entry = match entry {
            Ok(e) => e,
            Err(err) => {
                let path = err
                    .path()
                    .map_or_else(|| root.to_path_buf(), Path::to_path_buf);
                // Without follow_links there are no loops, so this is an I/O error.
                let io = err
                    .into_io_error()
                    .unwrap_or_else(|| io::Error::other("filesystem loop"));
                failures.push(Failure {
                    path,
                    error: FileError::Io(io),
                });
                continue;
            }
        };
        // Symlinks inside folders are not followed (they may point anywhere). A temp file
        // left by a killed run (`.kquant-*.tmp`) may hold a partial PNG: never an input.
        if !entry.file_type().is_file()
            || palette_png::is_temp_file_name(entry.file_name())
            || !sniff_image(entry.path())
        {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        // walkdir only yields children of root, so rel is plain names; keep it that way.
        if rel.components().all(|c| matches!(c, Component::Normal(_))) {
            found.push((entry.path().to_path_buf(), rel.to_path_buf()));
        }
    }
}

/// Compresses every job in parallel. `on_done` is called once per finished file, from worker
/// threads, in completion order.
pub fn run(
    jobs: &[Job],
    settings: &Settings,
    on_done: &(dyn Fn(Result<&Outcome, &Failure>) + Sync),
) -> Report {
    run_cancellable(jobs, settings, &|| false, on_done)
}

/// [`run`], stopping early once `cancelled()` turns true: files not started are skipped,
/// files in flight are abandoned at the next check (between stages and between k-means
/// iterations) and leave no temp file. Neither kind is reported to `on_done`; both are
/// counted in [`Report::cancelled`].
pub fn run_cancellable(
    jobs: &[Job],
    settings: &Settings,
    cancelled: &(dyn Fn() -> bool + Sync),
    on_done: &(dyn Fn(Result<&Outcome, &Failure>) + Sync),
) -> Report {
    let protected: Vec<&Path> = jobs.iter().map(|j| j.input.as_path()).collect();
    run_with(jobs, cancelled, on_done, &|job| {
        compress_one_cancellable(job, settings, &protected, cancelled)
    })
}

/// The scheduling of [`run_cancellable`] around any per-file `work`: one file per rayon task,
/// each under `catch_unwind`, so a panic becomes that file's [`FileError::Panic`] and the run
/// goes on. A panicking `on_done` (say, printing to a closed pipe) is contained too.
pub fn run_with(
    jobs: &[Job],
    cancelled: &(dyn Fn() -> bool + Sync),
    on_done: &(dyn Fn(Result<&Outcome, &Failure>) + Sync),
    work: &(dyn Fn(&Job) -> Result<Outcome, FileError> + Sync),
) -> Report {
    let results: Vec<Result<Outcome, Failure>> = jobs
        .par_iter()
        .with_max_len(1)
        .map(|job| {
            if cancelled() {
                return Err(Failure {
                    path: job.input.clone(),
                    error: FileError::Cancelled,
                });
            }
            let result = panic::catch_unwind(AssertUnwindSafe(|| work(job)))
                .unwrap_or_else(|payload| Err(FileError::Panic(panic_message(payload.as_ref()))))
                .map_err(|error| Failure {
                    path: job.input.clone(),
                    error,
                });
            if !matches!(&result, Err(f) if matches!(f.error, FileError::Cancelled)) {
                let _ = panic::catch_unwind(AssertUnwindSafe(|| on_done(result.as_ref())));
            }
            result
        })
        .collect();
    let mut report = Report::default();
    for r in results {
        match r {
            Ok(o) => report.outcomes.push(o),
            Err(f) if matches!(f.error, FileError::Cancelled) => report.cancelled += 1,
            Err(f) => report.failures.push(f),
        }
    }
    report
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Decode → quantize → encode → save for one file.
pub fn compress_one(
    job: &Job,
    settings: &Settings,
    protected: &[&Path],
) -> Result<Outcome, FileError> {
    compress_one_cancellable(job, settings, protected, &|| false)
}

fn compress_one_cancellable(
    job: &Job,
    settings: &Settings,
    protected: &[&Path],
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Outcome, FileError> {
    let check = || {
        if cancelled() {
            Err(FileError::Cancelled)
        } else {
            Ok(())
        }
    };
    let start = Instant::now();
    let original_bytes = fs::metadata(&job.input).map_err(FileError::Io)?.len();
    // The histogram is counted band by band while the rest of the image still decodes.
    let histogram = HistogramBuilder::default();
    let (pixels, ()) = rayon::join(
        || decode::decode_pixels_banded(&job.input, &settings.decode, &|band| histogram.add(band)),
        || histogram.prepare(),
    );
    let pixels = pixels?;
    let histogram = histogram.finish();
    check()?;
    let q = quant::quantize_with(
        &pixels,
        &histogram,
        &settings.params,
        &Control::cancel_only(cancelled),
    )
    .map_err(|_| FileError::Cancelled)?;
    let bytes = palette_png::encode_with(&q, pixels.alpha.as_deref(), settings.effort)?;
    check()?;
    palette_png::save_atomic(&bytes, &settings.out_dir, &job.output, protected)?;
    Ok(Outcome {
        input: job.input.clone(),
        output: job.output.clone(),
        width: q.width,
        height: q.height,
        pixels: u64::from(q.width) * u64::from(q.height),
        k: settings.params.k,
        colours: q.palette.len(),
        original_bytes,
        output_bytes: bytes.len() as u64,
        psnr: q.psnr,
        elapsed: start.elapsed(),
    })
}
