//! Nothing is lost: writes are temp file + rename, a failed write (file-size limit standing in
//! for a full disk) leaves the old state and no temp file, SIGINT/SIGTERM cancel cleanly with
//! 128 + signal, a kill -9 leaves only complete PNGs or recognisable temp files (which later
//! runs ignore), a panic is one file's error, and inputs are never written.

#![cfg(unix)]

use std::fs;
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use image::ImageFormat;
use kquant::batch::{self, FileError, Job, Outcome};
use kquant::decode::DecodeOptions;
use kquant::palette_png::{SaveError, save_atomic};
use kquant::quant::Params;

use super::inputs;
use super::{files_under, is_temp, kquant};
use crate::util::read_png;

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("kquant")
}

#[test]
fn failed_write_leaves_old_file_and_no_temp() {
    // `ulimit -f` makes every write past 2 KiB fail with EFBIG, like a full disk; the signal
    // it would also raise is ignored (and stays ignored across exec).
    let input = tempfile::tempdir().unwrap();
    let d = input.path();
    fs::write(
        d.join("big.png"),
        inputs::encode(&inputs::rich(300, 200), ImageFormat::Png),
    )
    .unwrap();
    fs::write(
        d.join("tiny.png"),
        inputs::encode(&inputs::rich(4, 4), ImageFormat::Png),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("big.png"), b"the previous output").unwrap();
    let output = StdCommand::new("sh")
        .env("KQUANT", bin())
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 2 && exec "$KQUANT" "$@""#)
        .arg("sh")
        .args(["compress", "-k", "64", "-o"])
        .arg(out.path())
        .arg(d)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("big.png: cannot write output: File too large"),
        "{stderr}"
    );
    assert_eq!(
        files_under(out.path()),
        vec![PathBuf::from("big.png"), PathBuf::from("tiny.png")]
    );
    assert_eq!(
        fs::read(out.path().join("big.png")).unwrap(),
        b"the previous output"
    );
    assert_eq!(
        read_png(&fs::read(out.path().join("tiny.png")).unwrap()).width,
        4
    );
}

#[test]
fn save_atomic_cleans_up_when_the_rename_fails() {
    let dir = tempfile::tempdir().unwrap();
    // The destination is a non-empty folder: the rename cannot replace it.
    let dest = dir.path().join("out.png");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("keep"), b"x").unwrap();
    let e = save_atomic(b"\x89PNG...", dir.path(), &dest, &[]).unwrap_err();
    assert!(matches!(e, SaveError::Io(_)), "{e:?}");
    assert_eq!(files_under(dir.path()), vec![PathBuf::from("out.png/keep")]);
}

#[test]
fn leftover_temp_files_are_never_inputs() {
    // A run killed with -9 can leave `.kquant-XXXXXX.tmp` holding a partial PNG. Compressing
    // that folder again must not pick it up (nor its sibling output).
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let png = inputs::encode(&inputs::rich(20, 20), ImageFormat::Png);
    fs::write(d.join(".kquant-a1B2c3.tmp"), &png[..png.len() / 2]).unwrap();
    fs::write(d.join(".kquant-zz9.tmp"), &png).unwrap();
    fs::write(d.join("photo.png"), &png).unwrap();
    let out = tempfile::tempdir().unwrap();
    let plan = batch::plan(&[d.to_path_buf()], out.path());
    let inputs: Vec<&Path> = plan.jobs.iter().map(|j| j.input.as_path()).collect();
    assert_eq!(inputs, vec![d.join("photo.png")]);
    assert!(plan.failures.is_empty());
}

/// Ctrl-C while a big tree is still being walked stops the walk: the plan keeps what was
/// found so far instead of opening every remaining file first.
#[test]
fn an_interrupted_walk_stops_looking() {
    let dir = folder_of(50, 8, 8);
    let out = tempfile::tempdir().unwrap();
    let asked = std::cell::Cell::new(0);
    let cancelled = || {
        asked.set(asked.get() + 1);
        asked.get() > 10
    };
    let plan = batch::plan_cancellable(&[dir.path().to_path_buf()], out.path(), &cancelled);
    assert!(plan.jobs.len() < 10, "{} files planned", plan.jobs.len());
    let all = batch::plan(&[dir.path().to_path_buf()], out.path());
    assert_eq!(all.jobs.len(), 50);
}

/// A folder of `count` copies of one `width`×`height` PNG.
fn folder_of(count: usize, width: u32, height: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let png = inputs::encode(&inputs::rich(width, height), ImageFormat::Png);
    for i in 0..count {
        fs::write(dir.path().join(format!("p{i:03}.png")), &png).unwrap();
    }
    dir
}

/// 120 photo-sized inputs: long enough in a debug build to interrupt mid-run.
fn slow_folder() -> tempfile::TempDir {
    folder_of(120, 400, 300)
}

fn spawn(input: &Path, out: &Path) -> Child {
    StdCommand::new(bin())
        .args(["compress", "-k", "16", "-o"])
        .arg(out)
        .arg(input)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Polls until `cond` holds; panics after 60 s.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn pngs(out: &Path) -> usize {
    files_under(out).iter().filter(|p| !is_temp(p)).count()
}

/// Sends `signal` through the shell's `kill` builtin (the crate forbids `unsafe`, so no
/// `libc::kill`; the builtin needs no procps).
fn kill(child: &Child, signal: &str) {
    let ok = StdCommand::new("sh")
        .args(["-c", "kill \"$0\" \"$1\"", signal, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// Every file in `out` is a temp file or a complete PNG.
fn only_complete_pngs(out: &Path, temps_allowed: bool) -> usize {
    let mut complete = 0;
    for rel in files_under(out) {
        if is_temp(&rel) {
            assert!(temps_allowed, "temp file left behind: {}", rel.display());
            continue;
        }
        let info = read_png(&fs::read(out.join(&rel)).unwrap());
        assert_eq!((info.width, info.height), (400, 300), "{}", rel.display());
        complete += 1;
    }
    complete
}

#[test]
fn sigterm_and_sigint_cancel_cleanly() {
    let input = slow_folder();
    for (signal, code) in [("-TERM", 143), ("-INT", 130)] {
        let out = tempfile::tempdir().unwrap();
        let mut child = spawn(input.path(), out.path());
        wait_for("the first output", || pngs(out.path()) > 0);
        kill(&child, signal);
        let mut status = None;
        wait_for("exit", || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(status.unwrap().code(), Some(code), "{signal}: {stderr}");
        assert!(stderr.contains("kquant: interrupted; "), "{stderr}");
        let done = only_complete_pngs(out.path(), false);
        assert!(done > 0 && done < 120, "{done} files");
        // The table lists what was finished.
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(&format!("total: {done} ok, 0 failed")),
            "{stdout}"
        );
    }
}

#[test]
fn kill_9_leaves_only_complete_files_or_temp_files() {
    let input = slow_folder();
    let out = tempfile::tempdir().unwrap();
    let mut child = spawn(input.path(), out.path());
    wait_for("the first output", || pngs(out.path()) > 0);
    kill(&child, "-KILL");
    child.wait().unwrap();
    only_complete_pngs(out.path(), true);
}

fn settings(out: &Path) -> batch::Settings {
    batch::Settings {
        inputs: Vec::new(),
        out_dir: out.to_path_buf(),
        params: Params::new(4),
        decode: DecodeOptions::default(),
        effort: kquant::palette_png::Effort::Small,
    }
}

#[test]
fn a_panic_is_one_files_error_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let png = inputs::encode(&inputs::rich(10, 10), ImageFormat::Png);
    for n in ["a.png", "b.png", "c.png"] {
        fs::write(dir.path().join(n), &png).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let plan = batch::plan(&[dir.path().to_path_buf()], out.path());
    let s = settings(out.path());
    let protected: Vec<&Path> = plan.jobs.iter().map(|j| j.input.as_path()).collect();
    let calls = AtomicUsize::new(0);
    // The callback panics too (as printing to a closed stderr would): contained as well.
    let report = batch::run_with(
        &plan.jobs,
        &|| false,
        &|_| {
            calls.fetch_add(1, Ordering::SeqCst);
            panic!("progress callback failed");
        },
        &|job: &Job| -> Result<Outcome, FileError> {
            if job.input.ends_with("b.png") {
                panic!("engine bug on {}", job.input.display());
            }
            batch::compress_one(job, &s, &protected)
        },
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(report.outcomes.len(), 2);
    assert_eq!(report.failures.len(), 1);
    let f = &report.failures[0];
    assert!(f.path.ends_with("b.png"));
    assert!(
        f.error
            .to_string()
            .starts_with("internal error while compressing (panic): engine bug on "),
        "{}",
        f.error
    );
    assert_eq!(
        files_under(out.path()),
        vec![PathBuf::from("a.png"), PathBuf::from("c.png")]
    );
}

#[test]
fn cancelled_run_skips_the_rest_and_counts_it() {
    let dir = folder_of(6, 10, 10);
    let out = tempfile::tempdir().unwrap();
    let plan = batch::plan(&[dir.path().to_path_buf()], out.path());
    let interrupt = batch::Interrupt::default();
    interrupt.trigger(15);
    let report = batch::run_cancellable(
        &plan.jobs,
        &settings(out.path()),
        &|| interrupt.is_set(),
        &|_| {
            panic!("no file may be reported");
        },
    );
    assert_eq!(report.cancelled, 6);
    assert!(report.outcomes.is_empty() && report.failures.is_empty());
    assert_eq!(interrupt.exit_code(), Some(143));
    assert!(files_under(out.path()).is_empty());
}

/// Stderr of `kquant compress INPUT -k 4 -o OUT`, which must exit 1 (some file failed).
fn compress_with_failures(input: impl AsRef<Path>, out: impl AsRef<Path>) -> String {
    let assert = kquant()
        .arg("compress")
        .arg(input.as_ref())
        .args(["-k", "4", "-o"])
        .arg(out.as_ref())
        .assert()
        .code(1);
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

/// The whole file: a byte-for-byte comparison, stronger than comparing hashes.
fn contents(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap()
}

#[test]
fn inputs_are_never_written_even_through_links() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("in");
    fs::create_dir(&d).unwrap();
    let png = inputs::encode(&inputs::rich(16, 16), ImageFormat::Png);
    fs::write(d.join("a.png"), &png).unwrap();
    fs::write(
        d.join("b.jpg"),
        inputs::encode(&inputs::rich(16, 16), ImageFormat::Jpeg),
    )
    .unwrap();
    fs::set_permissions(d.join("a.png"), fs::Permissions::from_mode(0o444)).unwrap();
    let before = (contents(&d.join("a.png")), contents(&d.join("b.jpg")));

    // 1. -o is a symlink to the input folder: a.png → a.png is refused, b.jpg → b.png is fine.
    let link = dir.path().join("out-link");
    symlink(&d, &link).unwrap();
    let stderr = compress_with_failures(&d, &link);
    assert!(
        stderr.contains("a.png: output ")
            && stderr.contains("is an input file; choose another -o folder"),
        "{stderr}"
    );
    assert!(d.join("b.png").is_file());
    fs::remove_file(d.join("b.png")).unwrap();

    // 2. The output folder holds a symlink (and a hard link) named like the output, pointing
    //    at the input.
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    symlink(d.join("a.png"), out.join("a.png")).unwrap();
    fs::hard_link(d.join("b.jpg"), out.join("b.png")).unwrap();
    let stderr = compress_with_failures(&d, &out);
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    assert!(stderr.contains("a.png: output "), "{stderr}");
    assert!(stderr.contains("b.jpg: "), "{stderr}");
    assert_eq!(
        (contents(&d.join("a.png")), contents(&d.join("b.jpg"))),
        before
    );
    // 3. save_atomic itself refuses the same, whatever the plan said.
    let e = save_atomic(b"x", &out, &out.join("a.png"), &[&d.join("a.png")]).unwrap_err();
    assert!(matches!(e, SaveError::WouldOverwriteInput(_)));
    let e = save_atomic(b"x", &out, &out.join("b.png"), &[&d.join("b.jpg")]).unwrap_err();
    assert!(matches!(e, SaveError::WouldOverwriteInput(_)));
    assert_eq!(
        (contents(&d.join("a.png")), contents(&d.join("b.jpg"))),
        before
    );
    assert_eq!(
        fs::metadata(d.join("a.png")).unwrap().permissions().mode() & 0o777,
        0o444
    );
}

#[test]
fn nothing_is_written_outside_the_output_folder_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("in");
    for sub in ["away", "near", "deep/er"] {
        fs::create_dir_all(d.join(sub)).unwrap();
        fs::write(
            d.join(sub).join("p.png"),
            inputs::encode(&inputs::rich(16, 16), ImageFormat::Png),
        )
        .unwrap();
    }
    // The output folder mirrors `away` and `deep` through links leading out of it, and `near`
    // through one that stays inside.
    let out = dir.path().join("out");
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir_all(out.join("inside")).unwrap();
    fs::create_dir(&elsewhere).unwrap();
    symlink(&elsewhere, out.join("away")).unwrap();
    symlink(&elsewhere, out.join("deep")).unwrap();
    symlink(out.join("inside"), out.join("near")).unwrap();
    let stderr = compress_with_failures(&d, &out);
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    for sub in ["away", "deep/er"] {
        assert!(
            stderr.contains(&format!("{sub}/p.png: output folder ")),
            "{stderr}"
        );
    }
    assert!(stderr.contains("leads outside"), "{stderr}");
    // Not a file, nor the folder `deep/er`, was made at the links' target.
    assert!(files_under(&elsewhere).is_empty());
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    assert_eq!(
        files_under(&out.join("inside")),
        vec![PathBuf::from("p.png")]
    );

    // save_atomic itself refuses a destination that climbs out of the root, or is not in it.
    let e = save_atomic(b"x", &out, &out.join("inside/../../x.png"), &[]).unwrap_err();
    assert!(matches!(e, SaveError::OutsideRoot { .. }), "{e:?}");
    let e = save_atomic(b"x", &out.join("inside"), &elsewhere.join("x.png"), &[]).unwrap_err();
    assert!(matches!(e, SaveError::OutsideRoot { .. }), "{e:?}");
    assert!(!dir.path().join("x.png").exists());
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn closed_stderr_and_output_folder_that_is_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(
        d.join("a.png"),
        inputs::encode(&inputs::rich(8, 8), ImageFormat::Png),
    )
    .unwrap();
    fs::write(d.join("not-a-folder"), b"x").unwrap();
    // `-o` names a file: one clear line per input.
    let stderr = compress_with_failures(d.join("a.png"), d.join("not-a-folder"));
    assert!(
        stderr.contains("a.png: cannot create output folder ")
            && stderr.contains("not-a-folder: File exists"),
        "{stderr}"
    );
    // stderr is a pipe whose reading end is already closed (`2>&1 | head` once head has
    // quit): the failure lines cannot be written, the run goes on.
    let out = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = StdCommand::new(bin())
        .args(["compress", "-k", "4", "-o"])
        .arg(out.path())
        .arg(d.join("missing.png"))
        .arg(d.join("a.png"))
        .stdout(Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    assert_eq!(files_under(out.path()), vec![PathBuf::from("a.png")]);

    // stdout is closed the same way: the summary is not wanted, the run succeeds. On a full
    // disk (/dev/full) it is lost, which must be said, and the run fails.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let compress_to = |stdout: Stdio| {
        StdCommand::new(bin())
            .args(["compress", "--json", "-k", "4", "-o"])
            .arg(out.path())
            .arg(d.join("a.png"))
            .stdout(stdout)
            .output()
            .unwrap()
    };
    let closed = compress_to(writer.into());
    assert_eq!(closed.status.code(), Some(0), "{closed:?}");
    assert!(closed.stderr.is_empty(), "{closed:?}");
    match fs::OpenOptions::new().write(true).open("/dev/full") {
        Ok(full) => {
            let lost = compress_to(full.into());
            assert_eq!(lost.status.code(), Some(1), "{lost:?}");
            let stderr = String::from_utf8_lossy(&lost.stderr);
            assert!(
                stderr.contains("cannot write the summary: No space left on device"),
                "{stderr}"
            );
        }
        Err(e) => eprintln!("skipped the full-disk case: /dev/full: {e}"),
    }
}
