//! kquant: browse a folder of photos and compress each one by k-means colour quantization.
//!
//! Module map (see ARCHITECTURE.md for the data flow):
//!
//! - [`text`]: sanitising file-derived text before it reaches a terminal.

pub mod text;
