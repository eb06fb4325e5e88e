//! The three vocabularies of the TUI: [`Msg`] is everything the UI thread hears (terminal
//! input, scan batches, worker and save outcomes), [`Action`] is what the user meant by a key,
//! and [`Effect`] is what `App::update` asks the runtime to do. Keeping them apart is what lets
//! `update` stay a pure, synchronously testable function.

use std::path::PathBuf;
use std::sync::Arc;

use crossterm::event::Event;
use ratatui::layout::Size;
use ratatui_image::protocol::Protocol;

use crate::chart::ColourCloud;
use crate::quant::ColorSpace;

/// Everything the UI thread receives, through one channel.
pub enum Msg {
    /// A terminal event from the input thread.
    Input(Event),
    /// The input thread could not read the terminal any more; the app should quit.
    InputClosed(String),
    /// The graphics query's result. The runtime consumes it (it starts the worker with this
    /// picker) and tells the model with `GraphicsReady`.
    Graphics(Box<ratatui_image::picker::Picker>),
    /// Graphics detection finished; previews can be requested from now on.
    GraphicsReady {
        /// Human-readable protocol name ("sixel", "kitty", "iTerm2", "half-blocks").
        protocol: String,
        /// Whether the protocol re-quantizes every image to at most 256 colours (sixel).
        requantizes: bool,
    },
    /// Entries streamed from the scan thread.
    Scan(ScanBatch),
    /// The scan thread finished walking the folder.
    ScanDone,
    /// A stage of a preview job finished on the worker.
    Job(Outcome),
    /// Progress or result of a full-resolution save.
    Save(SaveEvent),
    /// SIGTERM, SIGHUP, SIGINT or SIGQUIT: leave at once, restoring the terminal.
    Signal(i32),
    /// A thread that nobody supervises panicked (scan, input, signals, graphics query): leave,
    /// restoring the terminal, and report this (not yet sanitised) message.
    Fatal(String),
}

/// What the user asked for, independent of which key they pressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Select the next photo.
    SelectNext,
    /// Select the previous photo.
    SelectPrev,
    /// Move the selection one page down.
    PageDown,
    /// Move the selection one page up.
    PageUp,
    /// Select the first photo.
    First,
    /// Select the last photo.
    Last,
    /// Next step up the k ladder.
    IncreaseK,
    /// Next step down the k ladder.
    DecreaseK,
    /// Floyd–Steinberg dithering on/off.
    ToggleDither,
    /// sRGB ↔ Oklab clustering.
    ToggleSpace,
    /// Save the selected photo at full resolution.
    Save,
    /// Show or hide the help overlay.
    ToggleHelp,
    /// Next colour-space projection (R–G, R–B, G–B, Oklab a–b, RGB cube).
    CycleProjection,
    /// Chart the original pixels or the compressed ones.
    ToggleChartView,
    /// Turn the RGB cube one step left.
    RotateLeft,
    /// Turn the RGB cube one step right.
    RotateRight,
    /// Show or hide the colour-space chart pane.
    ToggleChart,
    /// Leave kquant.
    Quit,
}

/// What `update` asks the runtime to do; the runtime owns every thread and channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Compute previews for this request (replaces any pending one).
    Preview(PreviewRequest),
    /// Save this photo at full resolution.
    Save(SaveRequest),
}

/// Monotonic id of a preview request: results from any older generation are stale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Generation(pub u64);

impl Generation {
    /// The generation after this one.
    #[must_use]
    pub fn next(self) -> Self {
        Self(self.0.wrapping_add(1))
    }
}

/// One preview request: which photo, at what settings, for which pane size.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewRequest {
    /// Stale-result guard and cancellation token.
    pub generation: Generation,
    /// The photo.
    pub path: PathBuf,
    /// Number of colours.
    pub k: u16,
    /// Clustering colour space.
    pub space: ColorSpace,
    /// Dither when remapping.
    pub dither: bool,
    /// Size of one image pane in cells (both panes have this size).
    pub cells: Size,
    /// False when the original pane already shows this photo at this size.
    pub want_original: bool,
    /// The photos next to this one in the list (next first), decoded ahead while idle.
    pub neighbours: Vec<PathBuf>,
}

/// A full-resolution save request.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveRequest {
    /// The photo to save.
    pub path: PathBuf,
    /// The output folder: nothing is written outside it.
    pub root: PathBuf,
    /// Where the indexed PNG goes, inside `root`.
    pub dest: PathBuf,
    /// Number of colours.
    pub k: u16,
    /// Clustering colour space.
    pub space: ColorSpace,
    /// Dither when remapping.
    pub dither: bool,
}

/// Figures about the compressed preview, computed on the worker.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewStats {
    /// Colours actually used (≤ k, ≤ distinct colours of the photo).
    pub colours: usize,
    /// PSNR of the preview working copy against its quantized version, in dB.
    pub psnr: f64,
    /// Width and height of the preview working copy in pixels.
    pub preview_size: (u32, u32),
}

/// Figures of the full-resolution photo at the request's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FullStats {
    /// PSNR of the full photo against its quantized version, in dB.
    pub psnr: f64,
    /// Size of the indexed PNG `s` would write, in bytes.
    pub png_bytes: usize,
    /// Entries of that PNG's palette: fewer than k when the photo has fewer colours. The
    /// preview's own count can be higher, as resampling blends new colours in.
    pub colours: usize,
}

/// One stage of a preview job. Every variant carries the generation it was computed for.
pub enum Outcome {
    /// The photo is decoded: the original pane can be drawn.
    Original {
        /// Request generation.
        generation: Generation,
        /// Ready-to-draw image for the original pane.
        protocol: Box<Protocol>,
        /// Full-resolution width and height.
        full_size: (u32, u32),
    },
    /// The compressed preview is ready.
    Quantized {
        /// Request generation.
        generation: Generation,
        /// Ready-to-draw image for the compressed pane.
        protocol: Box<Protocol>,
        /// Figures for the status line.
        stats: PreviewStats,
        /// Full-resolution width and height.
        full_size: (u32, u32),
    },
    /// Figures for the whole photo at full resolution: exactly what `s` would write. They
    /// follow the previews, computed while the user looks at them.
    FullStats {
        /// Request generation.
        generation: Generation,
        /// The figures.
        stats: FullStats,
    },
    /// Data for the colour-space chart (issue 4), computed on the worker.
    Chart {
        /// Request generation.
        generation: Generation,
        /// What arrived.
        update: ChartUpdate,
    },
    /// Decoding, clustering or encoding failed (or panicked) for this photo.
    Failed {
        /// Request generation.
        generation: Generation,
        /// Sanitised, human-readable reason.
        error: String,
    },
}

impl Outcome {
    /// The request this outcome answers.
    #[must_use]
    pub fn generation(&self) -> Generation {
        match self {
            Self::Original { generation, .. }
            | Self::Quantized { generation, .. }
            | Self::FullStats { generation, .. }
            | Self::Chart { generation, .. }
            | Self::Failed { generation, .. } => *generation,
        }
    }
}

/// The colour-space chart's inputs, each sent when the worker has it.
#[derive(Debug, Clone, PartialEq)]
pub enum ChartUpdate {
    /// A fixed-seed pixel sample of the working copy, binned: sent with the original.
    Cloud(Arc<ColourCloud>),
    /// The compressed preview's palette: sent with the compressed pane.
    Palette(Arc<PaletteData>),
    /// The centroids after a k-means iteration of the preview, while it runs (throttled).
    Centroids {
        /// 1-based iteration.
        iteration: u32,
        /// The centroids as 8-bit sRGB.
        centroids: Vec<[u8; 3]>,
    },
    /// The PSNR-vs-k points known so far for this photo and settings (the whole list each
    /// time, at most one per k of the ladder).
    Curve(Vec<(u16, f64)>),
}

/// The compressed preview's colours.
#[derive(Debug, Clone, PartialEq)]
pub struct PaletteData {
    /// Most used first.
    pub palette: Vec<[u8; 3]>,
    /// Pixels of the working copy per palette entry.
    pub counts: Vec<u64>,
    /// The same pixel sample as the original's cloud, each pixel replaced by its palette
    /// colour: the compressed photo collapses onto k points.
    pub cloud: ColourCloud,
}

/// Progress and result of a save, sent by the save thread.
#[derive(Debug, Clone, PartialEq)]
pub enum SaveEvent {
    /// A stage started or advanced ("decoding", "clustering, iteration 7", "writing").
    Progress(String),
    /// The PNG is on disk.
    Done {
        /// Sanitised destination path.
        dest: String,
        /// Bytes written.
        bytes: u64,
        /// Full-resolution PSNR in dB.
        psnr: f64,
    },
    /// The save failed; nothing was written.
    Failed(String),
}

/// One image file found by the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path as found (root joined with the relative path).
    pub path: PathBuf,
    /// Path relative to the scanned folder, sanitised for display.
    pub display: String,
    /// File size in bytes.
    pub bytes: u64,
}

/// A batch of results, sent as soon as it is full or a moment has passed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanBatch {
    /// Image files, in walk order (sorted by name within each folder).
    pub entries: Vec<Entry>,
    /// Sanitised descriptions of entries that could not be read.
    pub errors: Vec<String>,
}
