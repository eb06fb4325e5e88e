//! The scan thread through its channel: images found by extension or content, hidden entries
//! and symlinks skipped, `--depth` honoured, names sanitised, and `ScanDone` at the end.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use kquant::msg::Msg;
use kquant::scan::{self, ScanOptions};

use crate::tui::support::picture;

fn scan(root: &Path, max_depth: Option<usize>) -> Vec<String> {
    let (tx, rx) = mpsc::channel();
    scan::spawn(
        ScanOptions {
            root: root.to_path_buf(),
            max_depth,
        },
        tx,
    )
    .unwrap();
    let mut found = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(30)).unwrap() {
            Msg::Scan(batch) => found.extend(batch.entries.into_iter().map(|e| e.display)),
            Msg::ScanDone => return found,
            _ => panic!("unexpected message"),
        }
    }
}

#[test]
fn finds_images_skips_hidden_and_symlinks_and_honours_depth() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("trip/day1")).unwrap();
    std::fs::create_dir_all(root.join(".cache")).unwrap();
    picture(8, 8).save(root.join("a.png")).unwrap();
    picture(8, 8).save(root.join("trip/day1/b.jpg")).unwrap();
    picture(8, 8).save(root.join(".hidden.png")).unwrap();
    picture(8, 8).save(root.join(".cache/c.png")).unwrap();
    // A PNG without an image extension is found by its content; text is not.
    std::fs::copy(root.join("a.png"), root.join("no_extension")).unwrap();
    std::fs::write(root.join("notes.txt"), "not a photo").unwrap();
    std::os::unix::fs::symlink(root.join("a.png"), root.join("link.png")).unwrap();
    std::os::unix::fs::symlink(root.join("trip"), root.join("trip-link")).unwrap();
    // A control character in a name never reaches the screen as such.
    picture(8, 8).save(root.join("evil\x1b[2J.png")).unwrap();

    let all = scan(root, None);
    assert!(all.contains(&"a.png".to_owned()), "{all:?}");
    assert!(all.contains(&"trip/day1/b.jpg".to_owned()), "{all:?}");
    assert!(all.contains(&"no_extension".to_owned()), "{all:?}");
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(all.iter().all(|name| !name.contains('\x1b')), "{all:?}");

    let top = scan(root, Some(1));
    assert_eq!(top.len(), 3, "{top:?}");
    assert!(!top.iter().any(|name| name.starts_with("trip")), "{top:?}");
}
