//! kquant: browse a folder of photos in the terminal and compress each one by k-means colour
//! quantization.
//!
//! Module map:
//! - [`quant`]: the engine: colour histogram, k-means (sRGB or Oklab), remapping, metrics.
//! - The TUI: [`msg::Msg`]s from [`keymap`] and [`term`] go into [`app`] (the model and its
//!   only mutator, `update`), which [`ui`] draws.

pub mod app;
pub mod keymap;
pub mod msg;
pub mod quant;
pub mod term;
pub mod ui;
