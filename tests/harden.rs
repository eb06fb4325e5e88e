//! Issue 6, decode + `kquant compress` half: every bad input gets a clear error, nothing is
//! lost, nothing reaches the terminal that should not. Inputs are generated in temp folders
//! (`inputs`); the few only ImageMagick writes are tiny files in `tests/data/`.

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;

mod atomic;
mod bombs;
mod degenerate;
mod files;
mod fuzz;
mod inputs;
mod malformed;

/// The binary, with a generous timeout: every case here must end promptly, and a hang must
/// fail the test instead of stalling the suite.
pub fn kquant() -> Command {
    let mut cmd = Command::cargo_bin("kquant").unwrap();
    cmd.timeout(Duration::from_secs(60));
    cmd
}

/// Characters that must never reach a terminal raw (beyond the newline ending each line).
fn is_forbidden(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// Fails unless `bytes` (a whole stdout or stderr) is UTF-8 with no control character but
/// `\n` (so no ESC, DEL, C1) and no bidi control.
pub fn assert_terminal_safe(what: &str, bytes: &[u8]) {
    let text = std::str::from_utf8(bytes)
        .unwrap_or_else(|e| panic!("{what} is not UTF-8 ({e}): {bytes:?}"));
    if let Some(c) = text.chars().find(|&c| is_forbidden(c)) {
        panic!("{what} carries U+{:04X} raw: {text:?}", u32::from(c));
    }
}

/// Files directly or indirectly under `dir`, relative, sorted; `.kquant-*.tmp` included.
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .map(|e| e.path().strip_prefix(dir).unwrap().to_path_buf())
        .collect();
    v.sort();
    v
}

/// True for the temp-file names `save_atomic` uses.
pub fn is_temp(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(".kquant-") && n.ends_with(".tmp"))
}
