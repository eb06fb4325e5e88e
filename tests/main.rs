//! One integration-test crate (ripgrep style): each module covers one area.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod decode;
mod png_out;
mod quant;
mod util;

/// The TUI: key table, `update`, screens.
mod tui {
    mod keymap;
    mod screens;
    pub mod support;
    mod update;
}
