//! kquant: browse a folder of photos in the terminal and compress each one by k-means colour
//! quantization.
//!
//! Module map (see ARCHITECTURE.md for the data flow):
//! - [`quant`]: the engine: colour histogram, k-means (sRGB or Oklab), remapping, metrics.
//! - [`text`]: sanitising file-derived text before it reaches a terminal.
//! - [`decode`]: defensive decoding (content-sniffed format, pixel budget, EXIF orientation).
//! - [`palette_png`]: indexed PNG encoding and atomic saving that never touches an input.
//! - [`batch`]: the headless `compress` mode: plan outputs, run in parallel, collect outcomes.
//! - `split`: cutting one piece of work into even parts for the cores, by size alone.
//! - [`cli`]: command-line parsing into validated settings (the only clap user besides main).
//! - [`chart`]: the colour-space view: pixel sample, projections, braille scatter, palette strip
//!   and PSNR-vs-k curve widgets.
//! - The TUI: [`runtime`] (the loop) feeds [`msg::Msg`]s from [`keymap`], [`scan`],
//!   [`worker`] and [`term`] into [`app`] (the model and its only mutator, `update`), and
//!   draws it with [`ui`].

pub mod app;
pub mod batch;
pub mod buffer;
pub mod chart;
pub mod cli;
pub mod decode;
pub mod keymap;
pub mod msg;
pub mod palette_png;
pub mod quant;
pub mod runtime;
pub mod scan;
mod split;
pub mod term;
pub mod text;
pub mod ui;
pub mod worker;
