//! The TUI model and its only mutator. [`App::update`] takes one [`Msg`], changes state and
//! returns the [`Effect`]s the runtime must carry out; it holds no threads, channels or
//! terminal, so every behaviour here is unit-tested without a terminal.

pub mod chart;
pub mod library;
pub mod preview;

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use crossterm::event::Event;
use ratatui::layout::{Rect, Size};

pub use self::chart::ChartState;
pub use self::library::Library;
pub use self::preview::{PaneState, Preview, Previous};
use crate::chart::Scatter;
use crate::keymap;
use crate::msg::{Action, Effect, Msg, Outcome, PreviewRequest, SaveEvent, SaveRequest};
use crate::quant::ColorSpace;
use crate::ui;

/// The k values `+` and `-` step through.
pub use crate::chart::K_LADDER;

/// Terminals at least this tall start with the chart pane shown; smaller ones leave the
/// room to the previews until `g`.
pub const CHART_AUTO_ROWS: u16 = 40;

/// The user's compression settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Position in [`K_LADDER`].
    pub k_index: usize,
    /// Clustering colour space.
    pub space: ColorSpace,
    /// Floyd–Steinberg dithering when remapping.
    pub dither: bool,
    /// Where `s` writes indexed PNGs.
    pub out_dir: PathBuf,
    /// The folder being browsed: saves mirror the photos' paths below it.
    pub root: PathBuf,
}

impl Settings {
    /// Settings starting at the ladder step nearest to `k`.
    #[must_use]
    pub fn new(k: u16, space: ColorSpace, out_dir: PathBuf) -> Self {
        let k_index = K_LADDER
            .iter()
            .enumerate()
            .min_by_key(|(_, step)| step.abs_diff(k))
            .map_or(6, |(i, _)| i);
        Self {
            k_index,
            space,
            dither: false,
            out_dir,
            root: PathBuf::new(),
        }
    }

    /// The current k.
    #[must_use]
    pub fn k(&self) -> u16 {
        K_LADDER[self.k_index.min(K_LADDER.len() - 1)]
    }
}

/// What the status lines show besides the preview figures.
#[derive(Debug, Default)]
pub struct Status {
    /// Graphics protocol in use, once detected.
    pub protocol: Option<String>,
    /// True when the protocol re-quantizes every picture to ≤ 256 colours (sixel).
    pub requantizes: bool,
    /// Last save progress or result.
    pub save: Option<SaveEvent>,
}

/// Why the app is leaving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// The user quit (q, Esc, Ctrl-C).
    Quit,
    /// A signal asked kquant to leave (SIGTERM, SIGHUP, SIGINT, SIGQUIT).
    Signal(i32),
    /// The terminal cannot be read any more, or a thread died: reported after the terminal
    /// is restored (not yet sanitised).
    Failed(String),
}

/// The whole TUI state.
pub struct App {
    /// Photos found so far, selection and scroll.
    pub library: Library,
    /// Both preview panes.
    pub preview: Preview,
    /// k, colour space, dithering, output folder.
    pub settings: Settings,
    /// Protocol and save line.
    pub status: Status,
    /// Help overlay visible.
    pub show_help: bool,
    /// The colour-space chart pane.
    pub chart: ChartState,
    /// Terminal size in cells.
    pub screen: Rect,
    exit: Option<Exit>,
    dirty: bool,
}

impl App {
    /// A fresh model for a terminal of `screen` cells, with the scan already running.
    #[must_use]
    pub fn new(settings: Settings, screen: Size) -> Self {
        Self {
            library: Library::scanning(),
            preview: Preview::default(),
            settings,
            status: Status::default(),
            show_help: false,
            chart: ChartState::new(screen.height >= CHART_AUTO_ROWS),
            screen: Rect::new(0, 0, screen.width, screen.height),
            exit: None,
            dirty: true,
        }
    }

    /// True once the user (or a signal) asked to leave.
    #[must_use]
    pub fn should_quit(&self) -> bool {
        self.exit.is_some()
    }

    /// Why the app is leaving, once it is.
    #[must_use]
    pub fn exit(&self) -> Option<&Exit> {
        self.exit.as_ref()
    }

    /// The first reason to leave wins: a signal that arrives while quitting changes nothing.
    fn leave(&mut self, exit: Exit) {
        self.exit.get_or_insert(exit);
    }

    /// Whether something visible changed since the last call; resets the flag.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Apply one message. The only place where state changes.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Input(Event::Key(key)) => keymap::action_for(key)
                .map(|a| self.act(a))
                .unwrap_or_default(),
            Msg::Input(Event::Mouse(mouse)) => keymap::mouse_action(mouse)
                .map(|a| self.act(a))
                .unwrap_or_default(),
            Msg::Input(Event::Resize(width, height)) => self.resize(width, height),
            // The picker is for the runtime, which turns it into `GraphicsReady`.
            Msg::Input(_) | Msg::Graphics(_) => Vec::new(),
            Msg::InputClosed(error) => {
                self.leave(Exit::Failed(format!("cannot read the terminal: {error}")));
                Vec::new()
            }
            Msg::Signal(signal) => {
                self.leave(Exit::Signal(signal));
                Vec::new()
            }
            Msg::Fatal(error) => {
                self.leave(Exit::Failed(error));
                Vec::new()
            }
            Msg::GraphicsReady {
                protocol,
                requantizes,
            } => {
                self.status.protocol = Some(protocol);
                self.status.requantizes = requantizes;
                self.dirty = true;
                self.request_preview()
            }
            Msg::Scan(batch) => {
                let had_selection = self.library.selected.is_some();
                self.library.extend(batch);
                self.dirty = true;
                if had_selection {
                    Vec::new()
                } else {
                    self.request_preview()
                }
            }
            Msg::ScanDone => {
                self.library.scanning = false;
                self.dirty = true;
                Vec::new()
            }
            Msg::Job(Outcome::Chart { generation, update }) => {
                if generation == self.preview.generation {
                    self.chart.accept(update);
                    self.rebin_chart();
                    self.dirty = true;
                }
                Vec::new()
            }
            Msg::Job(outcome) => {
                // A stale result changes nothing, so it costs no redraw either.
                if self.preview.accept(outcome) {
                    self.dirty = true;
                }
                Vec::new()
            }
            Msg::Save(event) => {
                self.status.save = Some(event);
                self.dirty = true;
                Vec::new()
            }
        }
    }

    fn act(&mut self, action: Action) -> Vec<Effect> {
        self.dirty = true;
        let rows = self.list_rows();
        let page = isize::try_from(rows.max(2) - 1).unwrap_or(1);
        let moved = match action {
            Action::SelectNext => self.library.step(1, rows),
            Action::SelectPrev => self.library.step(-1, rows),
            Action::PageDown => self.library.step(page, rows),
            Action::PageUp => self.library.step(-page, rows),
            Action::First => self.library.select(0, rows),
            Action::Last => self.library.select(usize::MAX, rows),
            Action::IncreaseK | Action::DecreaseK => {
                let old = self.settings.k_index;
                self.settings.k_index = if action == Action::IncreaseK {
                    (old + 1).min(K_LADDER.len() - 1)
                } else {
                    old.saturating_sub(1)
                };
                self.settings.k_index != old
            }
            Action::ToggleDither => {
                self.settings.dither = !self.settings.dither;
                true
            }
            Action::ToggleSpace => {
                self.settings.space = match self.settings.space {
                    ColorSpace::Srgb => ColorSpace::Oklab,
                    ColorSpace::Oklab => ColorSpace::Srgb,
                };
                true
            }
            Action::Save => return self.save(),
            Action::ToggleHelp => {
                self.show_help = !self.show_help;
                false
            }
            Action::CycleProjection => {
                self.chart.projection = self.chart.projection.next();
                self.rebin_chart();
                false
            }
            Action::ToggleChartView => {
                self.chart.show_compressed = !self.chart.show_compressed;
                self.rebin_chart();
                false
            }
            Action::RotateLeft | Action::RotateRight => {
                let steps = if action == Action::RotateLeft { -1 } else { 1 };
                self.chart.projection = self.chart.projection.rotate(steps);
                self.rebin_chart();
                false
            }
            Action::ToggleChart => {
                self.chart.visible = !self.chart.visible;
                // The previews gain or lose the chart's rows: same as a resize.
                return self.resize(self.screen.width, self.screen.height);
            }
            Action::Quit => {
                self.leave(Exit::Quit);
                false
            }
        };
        if moved {
            self.request_preview()
        } else {
            Vec::new()
        }
    }

    fn resize(&mut self, width: u16, height: u16) -> Vec<Effect> {
        self.screen = Rect::new(0, 0, width, height);
        self.dirty = true;
        let rows = self.list_rows();
        self.library.scroll_into_view(rows);
        self.rebin_chart();
        let cells = self.pane_cells();
        let same_size = self.preview.request.as_ref().map(|(_, c)| Some(*c)) == Some(cells);
        if same_size {
            Vec::new()
        } else {
            self.request_preview()
        }
    }

    fn save(&mut self) -> Vec<Effect> {
        let in_progress = matches!(self.status.save, Some(SaveEvent::Progress(_)));
        let Some(entry) = self.library.current() else {
            return Vec::new();
        };
        if in_progress {
            return Vec::new();
        }
        let k = self.settings.k();
        let relative = entry
            .path
            .strip_prefix(&self.settings.root)
            .unwrap_or(&entry.path);
        // `x.jpg` beside `x.png` would both save as `x-k16.png`: keep the extension then.
        let clash = self.library.entries.iter().any(|other| {
            other.path != entry.path
                && other.path.parent() == entry.path.parent()
                && other.path.file_stem() == entry.path.file_stem()
        });
        let dest = save_destination(&self.settings.out_dir, relative, k, clash);
        self.status.save = Some(SaveEvent::Progress(format!(
            "saving {} at k={k}…",
            entry.display
        )));
        vec![Effect::Save(SaveRequest {
            path: entry.path.clone(),
            root: self.settings.out_dir.clone(),
            dest,
            k,
            space: self.settings.space,
            dither: self.settings.dither,
        })]
    }

    /// Ask for previews of the selected photo at the current settings and pane size.
    fn request_preview(&mut self) -> Vec<Effect> {
        if self.status.protocol.is_none() {
            return Vec::new();
        }
        let Some(cells) = self.pane_cells() else {
            return Vec::new();
        };
        let Some(path) = self.library.current().map(|e| e.path.clone()) else {
            return Vec::new();
        };
        let k = self.settings.k();
        // A finished save's line gives way to the key hint once the user moves on.
        if !matches!(self.status.save, Some(SaveEvent::Progress(_))) {
            self.status.save = None;
        }
        let (generation, want_original) = self.preview.begin(path.clone(), cells, k);
        if want_original {
            self.chart.clear_photo();
        }
        // The animation of the previous request ends with it (its later frames are dropped).
        self.chart.live = None;
        // The curve holds for every k of this photo at these settings, and for nothing else.
        let curve_for = (
            path.clone(),
            self.settings.space,
            self.settings.dither,
            cells,
        );
        if self.chart.curve_for.as_ref() != Some(&curve_for) {
            self.chart.curve.clear();
            self.chart.curve_for = Some(curve_for);
        }
        self.rebin_chart();
        self.dirty = true;
        let neighbours = self.library.selected.map_or_else(Vec::new, |i| {
            [i.checked_add(1), i.checked_sub(1)]
                .into_iter()
                .flatten()
                .filter_map(|j| self.library.entries.get(j).map(|e| e.path.clone()))
                .collect()
        });
        vec![Effect::Preview(PreviewRequest {
            generation,
            path,
            k,
            space: self.settings.space,
            dither: self.settings.dither,
            cells,
            want_original,
            neighbours,
        })]
    }

    fn list_rows(&self) -> usize {
        ui::layout(self.screen, self.chart.visible).map_or(1, |a| usize::from(a.list_rows()))
    }

    fn pane_cells(&self) -> Option<Size> {
        ui::layout(self.screen, self.chart.visible).map(|a| a.image_cells())
    }

    /// Re-bin the scatter for the chart's current plot size (nothing when it is hidden).
    fn rebin_chart(&mut self) {
        let plot = ui::layout(self.screen, self.chart.visible)
            .and_then(|a| a.chart)
            .map(|c| Scatter::plot_area(c.scatter));
        self.chart.rebin(plot.unwrap_or_default());
    }
}

/// `out/<folders>/<stem>-k<k>.png` for the photo at `relative` (its path below the browsed
/// folder): one file per photo and k, so saving another k never overwrites, and the folders
/// are mirrored as `compress` does, so `a/x.jpg` and `b/x.jpg` do not replace each other.
/// With `keep_extension` (another photo in the same folder has the same stem) the name is
/// `<stem>.<ext>-k<k>.png`. Only plain folder names are mirrored, so nothing lands outside
/// `out_dir`. The name keeps its bytes as they are: a lossy conversion would give two photos
/// whose names differ only in non-UTF-8 bytes the same output. A stem too long for the
/// suffix is cut to fit 255 bytes ([`crate::palette_png::output_file_name`]).
#[must_use]
pub fn save_destination(out_dir: &Path, relative: &Path, k: u16, keep_extension: bool) -> PathBuf {
    let name = relative.file_name().unwrap_or(OsStr::new("image"));
    let name = crate::palette_png::output_file_name(name, keep_extension, &format!("-k{k}.png"));
    let folders = relative
        .parent()
        .filter(|p| p.components().all(|c| matches!(c, Component::Normal(_))))
        .unwrap_or_else(|| Path::new(""));
    out_dir.join(folders).join(name)
}
