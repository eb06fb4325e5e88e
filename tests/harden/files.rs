//! File-system oddities and hostile names: pipes, devices, link loops, dangling links, folders
//! named like photos, files that change between listing and opening, unreadable files, names
//! with control, escape and bidi characters, non-UTF-8, 255 bytes, a leading `-`.

#![cfg(unix)]

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};

use image::ImageFormat;
use kquant::batch::{self, FileError};
use kquant::decode::{DecodeError, DecodeOptions, decode, sniff_image};
use kquant::quant::Params;

use super::inputs;
use super::{assert_terminal_safe, files_under, kquant};

fn write_png(p: &Path) {
    fs::write(p, inputs::encode(&inputs::rich(12, 9), ImageFormat::Png)).unwrap();
}

/// A named pipe at `p`, or `None` (after saying why) where mkfifo is unavailable.
fn mkfifo(p: &Path) -> Option<()> {
    let ok = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipping FIFO case: mkfifo failed");
    }
    ok.then_some(())
}

fn stderr_of(args: &[&OsStr], code: i32) -> (String, Vec<u8>) {
    let assert = kquant().args(args).assert().code(code);
    let out = assert.get_output();
    assert_terminal_safe("stderr", &out.stderr);
    assert_terminal_safe("stdout", &out.stdout);
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.stdout.clone(),
    )
}

#[test]
fn pipes_and_devices_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let opts = DecodeOptions::default();
    let fifo = d.join("pipe.png");
    if mkfifo(&fifo).is_some() {
        // Opening a FIFO for reading would wait for a writer forever.
        assert!(matches!(
            decode(&fifo, &opts),
            Err(DecodeError::NotRegularFile("a named pipe"))
        ));
        assert!(!sniff_image(&fifo));
    }
    symlink("/dev/zero", d.join("zero.png")).unwrap();
    symlink("/dev/null", d.join("null.jpg")).unwrap();
    for p in [
        d.join("zero.png"),
        d.join("null.jpg"),
        PathBuf::from("/dev/zero"),
    ] {
        let e = decode(&p, &opts).unwrap_err();
        assert_eq!(
            e.to_string(),
            "not a regular file (a character device)",
            "{}",
            p.display()
        );
        assert!(!sniff_image(&p));
    }
    fs::create_dir(d.join("folder.jpg")).unwrap();
    assert_eq!(
        decode(&d.join("folder.jpg"), &opts)
            .unwrap_err()
            .to_string(),
        "not a regular file (a folder)"
    );
}

#[test]
fn compress_survives_every_kind_of_odd_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_png(&d.join("good.png"));
    let have_fifo = mkfifo(&d.join("pipe.png")).is_some();
    symlink("/dev/zero", d.join("zero.png")).unwrap();
    symlink("loop-b.png", d.join("loop-a.png")).unwrap();
    symlink("loop-a.png", d.join("loop-b.png")).unwrap();
    symlink("nowhere.png", d.join("dangling.png")).unwrap();
    fs::create_dir(d.join("folder.jpg")).unwrap();
    write_png(&d.join("folder.jpg/inside.png"));

    // As a folder: links, pipes and devices are not files, so they are not listed at all.
    let out = tempfile::tempdir().unwrap();
    let (stderr, _) = stderr_of(
        &[
            OsStr::new("compress"),
            d.as_os_str(),
            OsStr::new("-k"),
            OsStr::new("4"),
            OsStr::new("-o"),
            out.path().as_os_str(),
        ],
        0,
    );
    assert_eq!(stderr, "");
    assert_eq!(
        files_under(out.path()),
        vec![
            PathBuf::from("folder.jpg/inside.png"),
            PathBuf::from("good.png")
        ]
    );

    // As arguments: each one gets its own line, the good file is still written.
    let out = tempfile::tempdir().unwrap();
    let mut args: Vec<PathBuf> = ["zero.png", "loop-a.png", "dangling.png", "good.png"]
        .iter()
        .map(|n| d.join(n))
        .collect();
    args.push(PathBuf::from("/dev/null"));
    if have_fifo {
        args.push(d.join("pipe.png"));
    }
    let assert = kquant()
        .args(["compress", "-k", "4", "-o"])
        .arg(out.path())
        .args(&args)
        .assert()
        .code(1);
    let o = assert.get_output();
    assert_terminal_safe("stderr", &o.stderr);
    let stderr = String::from_utf8_lossy(&o.stderr);
    let line = |name: &str| {
        stderr
            .lines()
            .find(|l| l.starts_with(&format!("{}: ", d.join(name).display())))
            .unwrap_or_else(|| panic!("no line for {name}: {stderr}"))
            .to_owned()
    };
    assert!(
        line("zero.png").ends_with(": not a regular file (a character device)"),
        "{stderr}"
    );
    assert!(line("loop-a.png").contains("cannot read: "), "{stderr}");
    assert!(line("loop-a.png").contains("symbolic links"), "{stderr}");
    assert!(
        line("dangling.png").contains("cannot read: No such file or directory"),
        "{stderr}"
    );
    assert!(
        stderr.contains("/dev/null: not a regular file (a character device)"),
        "{stderr}"
    );
    if have_fifo {
        assert!(
            line("pipe.png").ends_with(": not a regular file (a named pipe)"),
            "{stderr}"
        );
    }
    assert_eq!(files_under(out.path()), vec![PathBuf::from("good.png")]);
}

#[test]
fn files_that_change_between_listing_and_opening() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for n in [
        "deleted.png",
        "to-pipe.png",
        "to-folder.png",
        "to-text.png",
        "kept.png",
    ] {
        write_png(&d.join(n));
    }
    let out = tempfile::tempdir().unwrap();
    let plan = batch::plan(&[d.to_path_buf()], out.path());
    assert_eq!(plan.jobs.len(), 5);
    fs::remove_file(d.join("deleted.png")).unwrap();
    fs::remove_file(d.join("to-pipe.png")).unwrap();
    let pipe = mkfifo(&d.join("to-pipe.png")).is_some();
    fs::remove_file(d.join("to-folder.png")).unwrap();
    fs::create_dir(d.join("to-folder.png")).unwrap();
    fs::write(d.join("to-text.png"), "no longer an image").unwrap();
    let settings = batch::Settings {
        inputs: vec![d.to_path_buf()],
        out_dir: out.path().to_path_buf(),
        params: Params::new(4),
        decode: DecodeOptions::default(),
        effort: kquant::palette_png::Effort::Small,
    };
    let report = batch::run(&plan.jobs, &settings, &|_| {});
    assert_eq!(report.outcomes.len(), 1);
    assert_eq!(report.outcomes[0].input, d.join("kept.png"));
    let cause = |name: &str| {
        let f = report
            .failures
            .iter()
            .find(|f| f.path == d.join(name))
            .unwrap();
        (&f.error, f.error.to_string())
    };
    assert!(matches!(cause("deleted.png").0, FileError::Io(_)));
    assert!(matches!(
        cause("to-folder.png").0,
        FileError::Decode(DecodeError::NotRegularFile("a folder"))
    ));
    if pipe {
        assert_eq!(cause("to-pipe.png").1, "not a regular file (a named pipe)");
    }
    assert_eq!(
        cause("to-text.png").1,
        "not a supported image (unknown format)"
    );
    assert_eq!(files_under(out.path()), vec![PathBuf::from("kept.png")]);
}

#[test]
fn unreadable_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("locked.png");
    write_png(&p);
    fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::File::open(&p).is_ok() {
        eprintln!(
            "skipping unreadable-file assertion: running as root, chmod 000 does not stop reads"
        );
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let (stderr, _) = stderr_of(
        &[
            OsStr::new("compress"),
            p.as_os_str(),
            OsStr::new("-k"),
            OsStr::new("4"),
            OsStr::new("-o"),
            out.path().as_os_str(),
        ],
        1,
    );
    assert!(
        stderr.contains("locked.png: cannot read file: Permission denied"),
        "{stderr}"
    );
}

/// File names that try to reach the terminal: escape sequences, control characters, bidi
/// controls, invalid UTF-8.
fn hostile_names() -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = [
        "osc-\x1b]0;pwned\x07.png",
        "clear-\x1b[2J.png",
        "new\nline.png",
        "tab\there.png",
        "cr\rreturn.png",
        "del\x7f.png",
        "c1-\u{9b}31m.png",
        "rlo-\u{202E}gnp.exe.png",
        "isolates-\u{2066}\u{2067}\u{2068}\u{2069}.png",
        "marks-\u{200E}\u{200F}\u{061C}.png",
        "bell\x07.png",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    names.push(b"latin1-\xe9t\xe9.png".to_vec());
    names.push(b"\xff\xfe\x1b[31m.png".to_vec());
    names
}

fn run_hostile(json: bool) -> (tempfile::TempDir, tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Each hostile name twice: as a good image in good/, as a broken one in bad/.
    fs::create_dir(d.join("good")).unwrap();
    fs::create_dir(d.join("bad")).unwrap();
    for name in hostile_names() {
        let name = OsStr::from_bytes(&name);
        write_png(&d.join("good").join(name));
        fs::write(d.join("bad").join(name), b"\x89PNG\r\n\x1a\n broken").unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let mut cmd = kquant();
    cmd.arg("compress")
        .arg(d)
        .args(["-k", "4", "-o"])
        .arg(out.path());
    if json {
        cmd.arg("--json");
    }
    let output = cmd.assert().code(1).get_output().clone();
    (dir, out, output)
}

#[test]
fn hostile_names_never_reach_the_terminal_raw() {
    let (dir, out, output) = run_hostile(false);
    assert_terminal_safe("stderr", &output.stderr);
    assert_terminal_safe("stdout", &output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    // One line per broken file, names visibly escaped.
    assert_eq!(stderr.lines().count(), hostile_names().len(), "{stderr}");
    for escaped in [
        "osc-\\x1b]0;pwned\\x07.png: ",
        "clear-\\x1b[2J.png: ",
        "new\\x0aline.png: ",
        "rlo-\\u{202e}gnp.exe.png: ",
        "\u{FFFD}\u{FFFD}\\x1b[31m.png: ",
    ] {
        assert!(stderr.contains(escaped), "{escaped:?} not in {stderr}");
    }
    assert!(stdout.contains("tab\\x09here.png"), "{stdout}");
    // Every good file was written, under its own (unsanitised) name.
    let written = files_under(&out.path().join("good"));
    assert_eq!(written.len(), hostile_names().len(), "{written:?}");
    for name in hostile_names() {
        let mut png = Path::new(OsStr::from_bytes(&name)).with_extension("png");
        png = out.path().join("good").join(png);
        assert!(png.is_file(), "{}", png.display());
    }
    drop(dir);
}

#[test]
fn json_with_hostile_names_is_valid_and_escaped() {
    let (dir, _out, output) = run_hostile(true);
    assert_terminal_safe("stdout (--json)", &output.stdout);
    assert_terminal_safe("stderr", &output.stderr);
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let n = hostile_names().len();
    assert_eq!(doc["ok"], n);
    assert_eq!(doc["failed"], n);
    // Escaped on the wire, exact once parsed (lossy UTF-8 for names that are not UTF-8).
    let inputs: Vec<String> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["input"].as_str().unwrap().to_owned())
        .collect();
    for name in hostile_names() {
        let want = dir.path().join("good").join(OsStr::from_bytes(&name));
        assert!(
            inputs.contains(&want.to_string_lossy().into_owned()),
            "{want:?} not in {inputs:?}"
        );
    }
}

#[test]
fn long_names_and_leading_dashes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let long = format!("{}.jpg", "l".repeat(251));
    assert_eq!(long.len(), 255);
    fs::write(
        d.join(&long),
        inputs::encode(&inputs::rich(10, 8), ImageFormat::Jpeg),
    )
    .unwrap();
    write_png(&d.join("-weird.png"));
    write_png(&d.join("--k.png"));
    let out = tempfile::tempdir().unwrap();
    // A folder holding them.
    kquant()
        .arg("compress")
        .arg(d)
        .args(["-k", "4", "-o"])
        .arg(out.path())
        .assert()
        .success();
    let mut want = vec![
        PathBuf::from("--k.png"),
        PathBuf::from("-weird.png"),
        PathBuf::from(format!("{}.png", "l".repeat(251))),
    ];
    want.sort();
    assert_eq!(files_under(out.path()), want);
    // As arguments after `--`, run from inside the folder.
    let out2 = tempfile::tempdir().unwrap();
    kquant()
        .current_dir(d)
        .args(["compress", "-k", "4", "-o"])
        .arg(out2.path())
        .args(["--", "-weird.png", "--k.png"])
        .assert()
        .success();
    assert_eq!(
        files_under(out2.path()),
        vec![PathBuf::from("--k.png"), PathBuf::from("-weird.png")]
    );
    // Without `--` a leading dash is an option, so clap refuses it as a usage error.
    kquant()
        .current_dir(d)
        .args(["compress", "-k", "4", "-weird.png"])
        .assert()
        .code(2);
}

/// The TUI's folder scan shares the rules: pipes, devices, links, temp files and folders
/// named like photos are not listed, names are sanitised, and it finishes.
#[test]
fn scan_lists_only_regular_images() {
    use kquant::msg::Msg;
    use kquant::scan::{self, ScanOptions};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_png(&d.join("good.png"));
    write_png(&d.join("esc\x1b[2J\u{202E}.png"));
    write_png(&d.join("no-extension"));
    write_png(&d.join(".kquant-abc123.tmp"));
    mkfifo(&d.join("pipe.png"));
    mkfifo(&d.join("pipe-no-extension"));
    symlink("/dev/zero", d.join("zero.png")).unwrap();
    symlink("/dev/zero", d.join("zero")).unwrap();
    symlink("loop", d.join("loop")).unwrap();
    fs::create_dir(d.join("folder.jpg")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    scan::spawn(
        ScanOptions {
            root: d.to_path_buf(),
            max_depth: None,
        },
        tx,
    )
    .unwrap();
    let mut found = Vec::new();
    loop {
        match rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap() {
            Msg::Scan(batch) => {
                assert!(batch.errors.is_empty(), "{:?}", batch.errors);
                found.extend(batch.entries.into_iter().map(|e| e.display));
            }
            Msg::ScanDone => break,
            _ => panic!("unexpected message"),
        }
    }
    assert_eq!(
        found,
        vec!["esc\\x1b[2J\\u{202e}.png", "good.png", "no-extension"]
    );
}
