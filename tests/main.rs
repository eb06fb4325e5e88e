//! One integration-test crate (ripgrep style): each module covers one area.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod decode;
mod harden;
mod png_out;
mod quant;
mod util;

/// The TUI: key table, scan, `update`, screens, worker, and the real binary in a pty.
mod tui {
    mod e2e;
    mod harden;
    mod keymap;
    pub mod pty;
    mod scan;
    mod screens;
    pub mod support;
    mod update;
    mod worker;
}
