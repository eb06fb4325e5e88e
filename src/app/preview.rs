//! The two preview panes and the generation that guards them: every request bumps the
//! [`Generation`], and a worker result for any other generation is dropped on arrival, so a
//! burst of keys never shows a stale picture.

use std::path::PathBuf;

use ratatui::layout::Size;
use ratatui_image::protocol::Protocol;

use crate::msg::{FullStats, Generation, Outcome, PreviewStats};

/// What one pane shows.
pub enum PaneState {
    /// Nothing requested yet (empty list, graphics not detected yet).
    Idle,
    /// Waiting for the worker.
    Loading {
        /// The request being waited for.
        generation: Generation,
        /// The same photo at the previous settings, shown (marked as such) until the new
        /// picture arrives: no flashing placeholder on every `+`, and no extra bytes.
        previous: Option<Previous>,
    },
    /// A picture to draw; kept alive while shown so kitty transmits it only once.
    Ready {
        /// The request it answers.
        generation: Generation,
        /// Ready-to-draw image.
        protocol: Box<Protocol>,
    },
    /// The photo could not be shown.
    Failed {
        /// The request that failed.
        generation: Generation,
        /// Sanitised reason.
        error: String,
    },
}

/// The picture a pane showed before the current request, and the k it was made with.
pub struct Previous {
    /// Ready-to-draw image.
    pub protocol: Box<Protocol>,
    /// The k of that picture.
    pub k: u16,
}

impl PaneState {
    /// True while waiting for the worker.
    #[must_use]
    pub fn is_loading(&self) -> bool {
        matches!(self, Self::Loading { .. })
    }
}

/// Both panes plus the figures for the status line.
pub struct Preview {
    /// The newest request; only results carrying it are accepted.
    pub generation: Generation,
    /// Left pane: the photo as decoded.
    pub original: PaneState,
    /// Right pane: the photo after quantization.
    pub compressed: PaneState,
    /// Photo and pane size of the last request.
    pub request: Option<(PathBuf, Size)>,
    /// The k the compressed pane is (or will be) for.
    pub k: u16,
    /// Full-resolution width and height of the current photo, once decoded.
    pub full_size: Option<(u32, u32)>,
    /// Figures of the compressed pane, once ready.
    pub stats: Option<PreviewStats>,
    /// Full-resolution figures, once computed (after the previews).
    pub full_stats: Option<FullStats>,
}

impl Default for Preview {
    fn default() -> Self {
        Self {
            generation: Generation::default(),
            original: PaneState::Idle,
            compressed: PaneState::Idle,
            request: None,
            k: 0,
            full_size: None,
            stats: None,
            full_stats: None,
        }
    }
}

impl Preview {
    /// Start a new request and return its generation. The original pane keeps its picture
    /// when it already shows this photo at this size (only k or a setting changed).
    pub fn begin(&mut self, path: PathBuf, cells: Size, k: u16) -> (Generation, bool) {
        self.generation = self.generation.next();
        let generation = self.generation;
        let same_photo = self.request.as_ref() == Some(&(path.clone(), cells));
        let keep_original = same_photo && matches!(self.original, PaneState::Ready { .. });
        if !keep_original {
            self.original = PaneState::Loading {
                generation,
                previous: None,
            };
        }
        if !same_photo {
            self.full_size = None;
        }
        // Only this photo's own earlier picture may stay up, never another photo's.
        let previous = match std::mem::replace(&mut self.compressed, PaneState::Idle) {
            PaneState::Ready { protocol, .. } if same_photo => Some(Previous {
                protocol,
                k: self.k,
            }),
            PaneState::Loading { previous, .. } if same_photo => previous,
            _ => None,
        };
        self.compressed = PaneState::Loading {
            generation,
            previous,
        };
        self.stats = None;
        self.full_stats = None;
        self.request = Some((path, cells));
        self.k = k;
        (generation, !keep_original)
    }

    /// Apply a worker result; false (and nothing changes) when it is stale.
    pub fn accept(&mut self, outcome: Outcome) -> bool {
        let generation = outcome.generation();
        if generation != self.generation {
            return false;
        }
        match outcome {
            Outcome::Original {
                protocol,
                full_size,
                ..
            } => {
                self.original = PaneState::Ready {
                    generation,
                    protocol,
                };
                self.full_size = Some(full_size);
            }
            Outcome::Quantized {
                protocol,
                stats,
                full_size,
                ..
            } => {
                self.compressed = PaneState::Ready {
                    generation,
                    protocol,
                };
                self.stats = Some(stats);
                self.full_size = Some(full_size);
            }
            Outcome::FullStats { stats, .. } => self.full_stats = Some(stats),
            // The app hands chart data to its chart state; nothing here changes.
            Outcome::Chart { .. } => return false,
            Outcome::Failed { error, .. } => {
                if self.original.is_loading() {
                    self.original = PaneState::Failed {
                        generation,
                        error: error.clone(),
                    };
                }
                self.compressed = PaneState::Failed { generation, error };
            }
        }
        true
    }
}
