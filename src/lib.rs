//! kquant: browse a folder of photos in the terminal and compress each one by k-means colour
//! quantization.
//!
//! Module map:
//! - [`quant`]: the engine: colour histogram, k-means (sRGB or Oklab), remapping, metrics.

pub mod quant;
