//! The preview worker: one named std thread that turns a [`PreviewRequest`] into two
//! ready-to-draw pictures. Requests go through a latest-wins slot (a new one replaces the
//! pending one), the newest generation lives in an `AtomicU64` that the k-means checks between
//! iterations (so a superseded job stops early), and each job runs under `catch_unwind` so a
//! panic becomes an error for that photo. Rayon is used inside the engine only; a panic in a
//! `par_iter` comes back to this thread, unlike `rayon::spawn`, which would abort.
//!
//! Stages: decode (cached: a working copy at the pane's pixel size plus its colour
//! histogram) → `Outcome::Original` at once → cluster (results cached by photo, k, colour
//! space, dither and pane size) → `Outcome::Quantized` → then, while the user looks, the
//! same clustering of the full-resolution photo → `Outcome::FullStats` (PSNR and the exact
//! size of the PNG `s` would write; cached per photo and settings, cancelled like the rest)
//! → then the PSNR-vs-k curve over the k ladder on the working copy, one k at a time
//! (`Outcome::Chart` with the points so far; cached per photo, settings and pane size).
//!
//! For the colour-space chart, a fixed-seed sample of the full-resolution photo's pixels is
//! binned once per photo (at decode, before the shrink) and sent with the original; the
//! compressed pane comes with its palette and the same sample recoloured to it; the preview's k-means iterations are sent as live centroids, at most
//! [`LIVE_CENTROIDS_INTERVAL`] apart.

pub mod cache;
pub mod save;
mod thumb;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use image::DynamicImage;
use image::imageops::FilterType;
use ratatui::layout::Size;
use ratatui_image::FontSize;
use ratatui_image::Resize;
use ratatui_image::picker::{Picker, ProtocolType};
use ratatui_image::protocol::Protocol;

use self::cache::Lru;
use crate::chart::{self as colour_chart, ColourCloud, K_LADDER, SAMPLE_SEED, SAMPLE_SIZE};
use crate::decode::{self, DecodeOptions};
use crate::msg::{ChartUpdate, FullStats, Msg, Outcome, PaletteData, PreviewRequest, PreviewStats};
use crate::palette_png::{self, Effort};
use crate::quant::{self, ColorSpace, Control, Histogram, Params, Pixels, Progress};
use crate::text;

/// Decoded working copies kept (a few photos back and forth, a few MB each).
const DECODED_CAPACITY: usize = 6;
/// Quantized previews kept: going back to a k or a photo is instant.
const RESULTS_CAPACITY: usize = 48;
/// Default byte budget of those two caches together (`--cache-mb`).
pub const DEFAULT_CACHE_BYTES: usize = 192 << 20;
/// Full-resolution figures kept (a few numbers each).
const FULL_STATS_CAPACITY: usize = 256;
/// The full-resolution stage starts only after the user has rested this long: its decode and
/// histogram cannot be interrupted, and someone holding ↓ should not pay for them.
const FULL_STATS_DELAY: Duration = Duration::from_millis(400);
/// How often the delay checks for a newer request.
const FULL_STATS_POLL: Duration = Duration::from_millis(20);
/// A request for another photo that comes this soon after the previous request is part of a
/// burst (↓ held down, key repeat every ~33 ms): it waits until the burst pauses this long,
/// so only the photo the user stops on is sent to the terminal. A lone ↓ after a rest, and
/// any change of k on the same photo, start at once.
const NAVIGATION_DEBOUNCE: Duration = Duration::from_millis(80);
/// Least time between two live-centroid messages: ≤ 30 chart updates a second.
pub const LIVE_CENTROIDS_INTERVAL: Duration = Duration::from_millis(33);
/// PSNR-vs-k curves kept (15 numbers each).
const CURVES_CAPACITY: usize = 64;

#[derive(Default)]
struct SlotState {
    job: Option<PreviewRequest>,
    closed: bool,
    /// When the newest request came in, and whether it came within the debounce of the one
    /// before it.
    submitted: Option<Instant>,
    burst: bool,
}

/// The pending job, replaced by each new submit (gitui's `AsyncSingleJob`).
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    wake: Condvar,
}

/// Handle to the worker thread; dropping it stops the thread.
pub struct Worker {
    slot: Arc<Slot>,
    latest: Arc<AtomicU64>,
    started: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    /// Start the worker. Pictures are encoded with `picker`'s protocol and font size.
    ///
    /// # Errors
    /// Only if the OS refuses to start a thread.
    pub fn spawn(picker: Picker, tx: Sender<Msg>) -> std::io::Result<Self> {
        Self::with_cache(picker, tx, DEFAULT_CACHE_BYTES)
    }

    /// [`Worker::spawn`] with a byte budget for the decoded working copies and compressed
    /// previews (half each). The current photo's full-resolution copy, needed by the
    /// full-resolution stage, comes on top: one photo at a time.
    ///
    /// # Errors
    /// Only if the OS refuses to start a thread.
    pub fn with_cache(
        picker: Picker,
        tx: Sender<Msg>,
        cache_bytes: usize,
    ) -> std::io::Result<Self> {
        let slot = Arc::new(Slot::default());
        let latest = Arc::new(AtomicU64::new(0));
        let started = Arc::new(AtomicU64::new(0));
        let mut engine = Engine {
            picker: working_picker(picker),
            decoded: Lru::with_budget(DECODED_CAPACITY, cache_bytes / 2),
            results: Lru::with_budget(RESULTS_CAPACITY, cache_bytes / 2),
            full: Lru::new(1),
            fresh_full: None,
            full_stats: Lru::new(FULL_STATS_CAPACITY),
            curves: Lru::new(CURVES_CAPACITY),
        };
        let handle = {
            let (slot, latest, started) = (slot.clone(), latest.clone(), started.clone());
            thread::Builder::new()
                .name("kquant-worker".into())
                .spawn(move || {
                    let mut last_path = None;
                    while let Some(job) = next_job(&slot, last_path.as_ref()) {
                        last_path = Some(job.path.clone());
                        started.fetch_add(1, Ordering::Relaxed);
                        engine.run(&job, &latest, &tx);
                    }
                })?
        };
        Ok(Self {
            slot,
            latest,
            started,
            handle: Some(handle),
        })
    }

    /// Replace the pending job with `request` and cancel the running one.
    pub fn submit(&self, request: PreviewRequest) {
        self.latest.store(request.generation.0, Ordering::Relaxed);
        let mut state = self
            .slot
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        state.burst = state
            .submitted
            .is_some_and(|t| now.duration_since(t) < NAVIGATION_DEBOUNCE);
        state.submitted = Some(now);
        state.job = Some(request);
        self.slot.wake.notify_one();
    }

    /// Cancel the running job and let the thread wind down without waiting for it: at exit,
    /// a full-resolution decode or encode in progress must not hold the app up. The worker
    /// writes no files, so nothing is left half done.
    pub fn stop(mut self) {
        self.close();
        drop(self.handle.take());
    }

    fn close(&self) {
        // No generation is ever u64::MAX in practice, so this cancels the running job.
        self.latest.store(u64::MAX, Ordering::Relaxed);
        let mut state = self
            .slot
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.closed = true;
        state.job = None;
        self.slot.wake.notify_one();
    }

    /// How many jobs the worker has started so far (tests check that bursts coalesce).
    #[must_use]
    pub fn jobs_started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.close();
        if let Some(handle) = self.handle.take() {
            // A panic escaping `run` is already reported; nothing more to do at shutdown.
            let _ = handle.join();
        }
    }
}

/// The next job; a request for another photo that is part of a burst is held back until the
/// burst pauses for [`NAVIGATION_DEBOUNCE`] (newer requests replace it meanwhile).
fn next_job(slot: &Slot, last_path: Option<&PathBuf>) -> Option<PreviewRequest> {
    let mut state = slot.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if state.closed {
            return None;
        }
        let navigating = state
            .job
            .as_ref()
            .is_some_and(|job| Some(&job.path) != last_path);
        let settles_at = state
            .submitted
            .map(|t| t + NAVIGATION_DEBOUNCE)
            .filter(|_| state.burst && navigating);
        if let Some(at) = settles_at {
            let now = Instant::now();
            if now < at {
                state = slot
                    .wake
                    .wait_timeout(state, at - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
        }
        if let Some(job) = state.job.take() {
            return Some(job);
        }
        state = slot
            .wake
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// The picker the worker encodes with. Half-blocks show one colour per half cell, so their
/// picker gets a 1×2 "font": the working copy is then exactly the half-block resolution,
/// clustering it is cheap, and the encoder's own resize becomes a copy, so the compressed pane
/// shows exactly the k colours. (Square half cells assume the usual 1:2 font.)
fn working_picker(picker: Picker) -> Picker {
    if picker.protocol_type() != ProtocolType::Halfblocks {
        return picker;
    }
    // The only constructor that takes a font size; deprecated only in favour of querying,
    // which does not apply to this synthetic geometry.
    #[allow(deprecated)]
    let mut exact = Picker::from_fontsize(FontSize::new(1, 2));
    exact.set_protocol_type(ProtocolType::Halfblocks);
    exact
}

/// Test hook, debug builds only: with `KQUANT_TEST_PANIC=<place>` in the environment, the
/// first call for that place panics. Places: `ui` (the UI loop, after a frame with graphics
/// ready), `input`, `query` (the graphics query thread), `worker` (inside a preview job),
/// `save` (inside a save). The pty tests use it to check that the terminal is restored, or
/// the app keeps going, on each path. Compiled to nothing in release builds.
pub fn test_panic(place: &str) {
    #[cfg(debug_assertions)]
    {
        use std::sync::atomic::AtomicBool;
        static FIRED: AtomicBool = AtomicBool::new(false);
        if std::env::var_os("KQUANT_TEST_PANIC").is_some_and(|v| v == place)
            && !FIRED.swap(true, Ordering::SeqCst)
        {
            panic!("KQUANT_TEST_PANIC={place}");
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = place;
}

/// A decode (or save) error with its causes, `error: cause: cause`, as `{:#}` prints for
/// anyhow: "cannot read file" alone does not say whether the file is missing or unreadable.
/// Not sanitised (the io errors may quote paths); callers sanitise the whole line.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // Some wrappers repeat their source's text; say it once.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

/// A photo decoded for previews at one pane size.
struct Decoded {
    pixels: Pixels,
    histogram: Histogram,
    /// The chart's pixel sample of the full-resolution photo, kept to recolour it with each
    /// palette.
    sample: Vec<[u8; 3]>,
    /// The sample binned for the chart.
    cloud: Arc<ColourCloud>,
    original: Protocol,
    full_size: (u32, u32),
}

/// The current photo at full resolution, for the full-size figures.
struct Full {
    pixels: Pixels,
    histogram: Histogram,
}

type DecodeKey = (PathBuf, Size);
type ResultKey = (PathBuf, Size, u16, ColorSpace, bool);
type FullKey = (PathBuf, u16, ColorSpace, bool);
type CurveKey = (PathBuf, Size, ColorSpace, bool);
type Curve = Vec<(u16, f64)>;

struct Engine {
    picker: Picker,
    decoded: Lru<DecodeKey, Arc<Decoded>>,
    results: Lru<ResultKey, (Protocol, PreviewStats, Arc<PaletteData>)>,
    /// Only the current photo: a 20 MP photo is 60 MB of pixels.
    full: Lru<PathBuf, Arc<Full>>,
    /// The current photo's full-resolution pixels from its preview decode, handed to the
    /// full-resolution stage so the photo is not decoded a second time.
    fresh_full: Option<(PathBuf, Pixels)>,
    full_stats: Lru<FullKey, FullStats>,
    curves: Lru<CurveKey, Curve>,
}

impl Engine {
    fn run(&mut self, job: &PreviewRequest, latest: &AtomicU64, tx: &Sender<Msg>) {
        let generation = job.generation;
        let current = || latest.load(Ordering::Relaxed) == generation.0;
        // Sync, so the engine's progress callback may send live centroids.
        let send = |outcome: Outcome| {
            if current() {
                // The UI may be gone at shutdown; then nobody needs the result.
                let _ = tx.send(Msg::Job(outcome));
            }
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            test_panic("worker");
            self.stages(job, &current, &send)
        }));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(error)) => send(Outcome::Failed {
                generation,
                error: text::sanitize(&error).into_owned(),
            }),
            Err(payload) => {
                // State touched by a panicking job is not trusted any more.
                self.decoded.clear();
                self.results.clear();
                send(Outcome::Failed {
                    generation,
                    error: format!(
                        "internal error: {}",
                        text::sanitize(&panic_message(&*payload))
                    ),
                });
            }
        }
    }

    fn stages(
        &mut self,
        job: &PreviewRequest,
        current: &(dyn Fn() -> bool + Sync),
        send: &(dyn Fn(Outcome) + Sync),
    ) -> Result<(), String> {
        let generation = job.generation;
        let decoded = self.decoded(job)?;
        let chart = |update| Outcome::Chart { generation, update };
        if job.want_original {
            send(Outcome::Original {
                generation,
                protocol: Box::new(decoded.original.clone()),
                full_size: decoded.full_size,
            });
            send(chart(ChartUpdate::Cloud(decoded.cloud.clone())));
        }
        let key: ResultKey = (job.path.clone(), job.cells, job.k, job.space, job.dither);
        let psnr = if let Some((protocol, stats, palette)) = self.results.get(&key) {
            send(Outcome::Quantized {
                generation,
                protocol: Box::new(protocol.clone()),
                stats: stats.clone(),
                full_size: decoded.full_size,
            });
            send(chart(ChartUpdate::Palette(palette.clone())));
            stats.psnr
        } else if let Some(psnr) = self.preview(job, &decoded, key, current, send)? {
            psnr
        } else {
            return Ok(()); // superseded
        };
        self.prefetch(job, current);
        self.full_stats_stage(job, current, send);
        self.curve_stage(job, &decoded, psnr, current, send);
        Ok(())
    }

    /// Cluster the working copy and send the compressed pane; its PSNR, or `None` if
    /// superseded.
    fn preview(
        &mut self,
        job: &PreviewRequest,
        decoded: &Decoded,
        key: ResultKey,
        current: &(dyn Fn() -> bool + Sync),
        send: &(dyn Fn(Outcome) + Sync),
    ) -> Result<Option<f64>, String> {
        let generation = job.generation;
        if !current() {
            return Ok(None);
        }
        let params = Params {
            space: job.space,
            dither: job.dither,
            ..Params::new(job.k)
        };
        let cancel = || !current();
        // The chart animates the iterations; throttled, and silent once superseded.
        let last_sent: Mutex<Option<Instant>> = Mutex::new(None);
        let live = |progress: &Progress<'_>| {
            let mut last = last_sent.lock().unwrap_or_else(PoisonError::into_inner);
            if !current() || last.is_some_and(|t| t.elapsed() < LIVE_CENTROIDS_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
            send(Outcome::Chart {
                generation,
                update: ChartUpdate::Centroids {
                    iteration: progress.iteration,
                    centroids: progress.centroids.to_vec(),
                },
            });
        };
        let Ok(quantized) = quant::quantize_with(
            &decoded.pixels,
            &decoded.histogram,
            &params,
            &Control::new(&cancel, &live),
        ) else {
            return Ok(None); // superseded by a newer request
        };
        let image = DynamicImage::ImageRgb8(quantized.to_rgb_image());
        let protocol = self.protocol(image, job.cells)?;
        let stats = PreviewStats {
            colours: quantized.palette.len(),
            psnr: quantized.psnr,
            preview_size: (quantized.width, quantized.height),
        };
        let palette = Arc::new(PaletteData {
            cloud: ColourCloud::from_colours(
                &decoded
                    .sample
                    .iter()
                    .filter_map(|&c| colour_chart::nearest(&quantized.palette, c))
                    .collect::<Vec<_>>(),
            ),
            palette: quantized.palette,
            counts: quantized.counts,
        });
        let psnr = stats.psnr;
        self.results.put(
            key,
            (protocol.clone(), stats.clone(), palette.clone()),
            picture_bytes(&decoded.pixels),
        );
        send(Outcome::Quantized {
            generation,
            protocol: Box::new(protocol),
            stats,
            full_size: decoded.full_size,
        });
        send(Outcome::Chart {
            generation,
            update: ChartUpdate::Palette(palette),
        });
        Ok(Some(psnr))
    }

    /// Fill the PSNR-vs-k curve for this photo and settings, one k of the ladder at a time,
    /// after everything else: it only ever uses time the user spends looking. `psnr` is the
    /// preview's own, the curve's point at the request's k.
    fn curve_stage(
        &mut self,
        job: &PreviewRequest,
        decoded: &Decoded,
        psnr: f64,
        current: &(dyn Fn() -> bool + Sync),
        send: &(dyn Fn(Outcome) + Sync),
    ) {
        let key: CurveKey = (job.path.clone(), job.cells, job.space, job.dither);
        let mut points = self.curves.get(&key).cloned().unwrap_or_default();
        if !points.iter().any(|p| p.0 == job.k) {
            points.push((job.k, psnr));
        }
        let send_points = |points: &Curve| {
            send(Outcome::Chart {
                generation: job.generation,
                update: ChartUpdate::Curve(points.clone()),
            });
        };
        self.curves.put(key.clone(), points.clone(), 0);
        send_points(&points);
        let cancel = || !current();
        let no_progress = |_: &Progress<'_>| {};
        for k in K_LADDER {
            if points.iter().any(|p| p.0 == k) {
                continue;
            }
            let params = Params {
                space: job.space,
                dither: job.dither,
                ..Params::new(k)
            };
            let Ok(quantized) = quant::quantize_with(
                &decoded.pixels,
                &decoded.histogram,
                &params,
                &Control::new(&cancel, &no_progress),
            ) else {
                return; // superseded; the points so far are cached
            };
            points.push((k, quantized.psnr));
            self.curves.put(key.clone(), points.clone(), 0);
            send_points(&points);
        }
    }

    /// Cluster the full-resolution photo with the same parameters (and seed) as a save, so the
    /// figures are exactly those of the file `s` writes. Failures here are not the photo's:
    /// the previews stand, the status line just never gets full-size figures.
    fn full_stats_stage(
        &mut self,
        job: &PreviewRequest,
        current: &(dyn Fn() -> bool + Sync),
        send: &(dyn Fn(Outcome) + Sync),
    ) {
        let key: FullKey = (job.path.clone(), job.k, job.space, job.dither);
        let stats = match self.full_stats.get(&key) {
            Some(stats) => Some(*stats),
            None => self.compute_full_stats(job, current),
        };
        if let Some(stats) = stats {
            self.full_stats.put(key, stats, 0);
            send(Outcome::FullStats {
                generation: job.generation,
                stats,
            });
        }
    }

    fn compute_full_stats(
        &mut self,
        job: &PreviewRequest,
        current: &(dyn Fn() -> bool + Sync),
    ) -> Option<FullStats> {
        let rest_until = Instant::now() + FULL_STATS_DELAY;
        while Instant::now() < rest_until {
            if !current() {
                return None;
            }
            thread::sleep(FULL_STATS_POLL);
        }
        let full = match self.full.get(&job.path) {
            Some(full) => full.clone(),
            None => {
                let pixels = match self.fresh_full.take() {
                    Some((path, pixels)) if path == job.path => pixels,
                    _ => {
                        // Only one full-resolution copy at a time: let the previous photo's go
                        // before this one is decoded, or both (plus the decoder's buffer) are
                        // alive at once.
                        self.full.clear();
                        let image = decode::decode(&job.path, &DecodeOptions::default()).ok()?;
                        Pixels::from_dynamic_owned(image)
                    }
                };
                if !current() {
                    return None;
                }
                let histogram = Histogram::new(&pixels);
                let full = Arc::new(Full { pixels, histogram });
                self.full.put(job.path.clone(), full.clone(), 0);
                full
            }
        };
        let params = Params {
            space: job.space,
            dither: job.dither,
            ..Params::new(job.k)
        };
        let cancel = || !current();
        let no_progress = |_: &Progress<'_>| {};
        let quantized = quant::quantize_with(
            &full.pixels,
            &full.histogram,
            &params,
            &Control::new(&cancel, &no_progress),
        )
        .ok()?;
        let bytes =
            palette_png::encode_with(&quantized, full.pixels.alpha.as_deref(), Effort::Small)
                .ok()?;
        current().then_some(FullStats {
            psnr: quantized.psnr,
            png_bytes: bytes.len(),
            colours: quantized.palette.len(),
        })
    }

    /// Decode the neighbours' working copies (and encode their originals) while the user
    /// looks at this photo, so the next ↓ or ↑ shows its original at once. A decode cannot
    /// be interrupted, so each one starts only while this job is still the newest.
    fn prefetch(&mut self, job: &PreviewRequest, current: &(dyn Fn() -> bool + Sync)) {
        for path in &job.neighbours {
            if !current() {
                return;
            }
            let key = (path.clone(), job.cells);
            if !self.decoded.contains(&key) {
                // A neighbour that fails shows its error when it is selected.
                let _ = self.decoded_at(path, job.cells, false);
            }
        }
    }

    /// The cached working copy for this photo and pane size, decoding it if needed.
    fn decoded(&mut self, job: &PreviewRequest) -> Result<Arc<Decoded>, String> {
        self.decoded_at(&job.path, job.cells, true)
    }

    /// `keep_full`: this is the current photo, so keep its full-resolution pixels for the
    /// full-resolution stage (prefetched neighbours do not, to bound memory).
    fn decoded_at(
        &mut self,
        path: &std::path::Path,
        cells: Size,
        keep_full: bool,
    ) -> Result<Arc<Decoded>, String> {
        let key = (path.to_path_buf(), cells);
        if let Some(hit) = self.decoded.get(&key) {
            return Ok(hit.clone());
        }
        let font = self.picker.font_size();
        let max_w = u32::from(cells.width) * u32::from(font.width);
        let max_h = u32::from(cells.height) * u32::from(font.height);
        let options = DecodeOptions::default();
        // A JPEG decodes at a reduced DCT scale when that still covers the pane; then the
        // full-resolution stage decodes it in full later, off the path to the first frame.
        let (image, full_size, keep_full) =
            match thumb::jpeg_scaled(path, max_w, max_h, options.max_pixels) {
                Some((image, full_size)) => (image, full_size, false),
                None => {
                    let image = decode::decode(path, &options).map_err(|e| error_chain(&e))?;
                    let size = (image.width(), image.height());
                    (image, size, keep_full)
                }
            };
        let sample = colour_chart::sample_image(&image, SAMPLE_SIZE, SAMPLE_SEED);
        let cloud = Arc::new(ColourCloud::from_colours(&sample));
        let resized = if image.width() <= max_w && image.height() <= max_h {
            None
        } else if image.width() >= 2 * max_w || image.height() >= 2 * max_h {
            // Area averaging (an integer box filter): smooth like Triangle for big reductions
            // of a 20 MP photo, at a fraction of the time.
            Some(image.thumbnail(max_w, max_h))
        } else {
            Some(image.resize(max_w, max_h, FilterType::Triangle))
        };
        let small = match resized {
            Some(small) => {
                if keep_full {
                    self.keep_full(path, image);
                }
                small
            }
            // Already pane-sized, so a copy for the full stage is cheap.
            None if keep_full => {
                self.keep_full(path, image.clone());
                image
            }
            None => image,
        };
        let pixels = Pixels::from_dynamic(&small);
        let histogram = Histogram::new(&pixels);
        let original = self.protocol(small, cells)?;
        let decoded = Arc::new(Decoded {
            pixels,
            histogram,
            sample,
            cloud,
            original,
            full_size,
        });
        let bytes = decoded.pixels.rgb.len() * 3
            + decoded.pixels.alpha.as_ref().map_or(0, Vec::len)
            + decoded.histogram.distinct() * 7
            + decoded.sample.len() * 3
            + picture_bytes(&decoded.pixels);
        self.decoded.put(key, decoded.clone(), bytes);
        Ok(decoded)
    }

    /// Holds `image` for the full-resolution stage, dropping any other photo's copy first so
    /// only one full-resolution photo is alive at a time.
    fn keep_full(&mut self, path: &std::path::Path, image: DynamicImage) {
        if !self.full.contains(&path.to_path_buf()) {
            self.full.clear();
        }
        self.fresh_full = None; // freed before the conversion below may allocate
        self.fresh_full = Some((path.to_path_buf(), Pixels::from_dynamic_owned(image)));
    }

    fn protocol(&self, image: DynamicImage, cells: Size) -> Result<Protocol, String> {
        self.picker
            .new_protocol(image, cells, Resize::Fit(Some(FilterType::Triangle)))
            .map_err(|e| format!("terminal image encoding: {e}"))
    }
}

/// What a picture of the working copy's size holds at most once encoded for the terminal
/// (raw RGBA; kitty's deflated transmissions and sixel are smaller).
fn picture_bytes(pixels: &Pixels) -> usize {
    pixels.rgb.len() * 4
}
