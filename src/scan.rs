//! The folder scan: walkdir on its own named thread, streaming what it finds to the UI in
//! batches so the first frame never waits for a big folder. Hidden entries and symlinks are
//! skipped; files are kept when their extension is a known image format or, failing that, when
//! their first bytes look like one. Unreadable entries are reported, not fatal.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::thread;
use std::time::{Duration, Instant};

use walkdir::{DirEntry, WalkDir};

use crate::msg::{Entry, Msg, ScanBatch};
use crate::text;

/// How deep and where to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// The folder to walk.
    pub root: PathBuf,
    /// Maximum depth below `root` (1 = only its direct files); `None` = unlimited.
    pub max_depth: Option<usize>,
}

/// Extensions decoded by the `image` features kquant enables (lower case).
const KNOWN_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "webp"];

/// Entries per batch: big enough to keep channel traffic low, small enough that the list
/// fills in visibly while a large folder is walked.
const BATCH_LEN: usize = 256;
/// A partial batch is sent after this long, so a slow disk still shows progress.
const BATCH_MAX_AGE: Duration = Duration::from_millis(50);

/// Start the scan thread. It sends `Msg::Scan` batches and finally `Msg::ScanDone`, and stops
/// early if the UI has gone away.
///
/// # Errors
/// Only if the OS refuses to start a thread.
pub fn spawn(options: ScanOptions, tx: Sender<Msg>) -> std::io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name("kquant-scan".into())
        .spawn(move || {
            if run(&options, &tx).is_ok() {
                // The receiver may be gone at shutdown; nothing left to tell then.
                let _ = tx.send(Msg::ScanDone);
            }
        })
}

/// Walk the folder and send batches; `Err` means the UI hung up.
fn run(options: &ScanOptions, tx: &Sender<Msg>) -> Result<(), ()> {
    let mut walk = WalkDir::new(&options.root)
        .follow_links(false)
        .sort_by_file_name();
    if let Some(depth) = options.max_depth {
        walk = walk.max_depth(depth);
    }
    let mut batch = ScanBatch::default();
    let mut since = Instant::now();
    // The root itself is never hidden, even when called ".something".
    let iter = walk
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_hidden(e));
    for item in iter {
        match item {
            Ok(entry) => {
                if let Some(found) = image_entry(&options.root, &entry) {
                    batch.entries.push(found);
                }
            }
            Err(err) => batch
                .errors
                .push(text::sanitize(&err.to_string()).into_owned()),
        }
        if batch.entries.len() + batch.errors.len() >= BATCH_LEN || since.elapsed() >= BATCH_MAX_AGE
        {
            if !batch.entries.is_empty() || !batch.errors.is_empty() {
                tx.send(Msg::Scan(std::mem::take(&mut batch)))
                    .map_err(|_| ())?;
            }
            since = Instant::now();
        }
    }
    if !batch.entries.is_empty() || !batch.errors.is_empty() {
        tx.send(Msg::Scan(batch)).map_err(|_| ())?;
    }
    Ok(())
}

fn is_hidden(entry: &DirEntry) -> bool {
    entry.file_name().to_string_lossy().starts_with('.')
}

/// The entry as a list item if it is a regular file that looks like an image.
fn image_entry(root: &Path, entry: &DirEntry) -> Option<Entry> {
    // `file_type` does not follow links, so symlinks (to files or folders) are skipped here.
    if !entry.file_type().is_file() {
        return None;
    }
    let path = entry.path();
    let known = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| KNOWN_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
    if !known && !crate::decode::sniff_image(path) {
        return None;
    }
    let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
    let rel = path.strip_prefix(root).unwrap_or(path);
    Some(Entry {
        path: path.to_path_buf(),
        display: text::sanitize_path(rel),
        bytes,
    })
}
