//! The `kquant compress` command end to end, through the built binary.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

use crate::util::{corpus_or_skip, expected_depth, read_png, rich_rgb};

fn kquant() -> Command {
    Command::cargo_bin("kquant").unwrap()
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), fs::read(e.path()).unwrap()))
        .collect()
}

/// A folder with two good images (one in a subfolder), a corrupt one, one whose name carries
/// an escape sequence, and a text file that is not an image.
fn mixed_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    rich_rgb(40, 30).save(d.join("good.png")).unwrap();
    fs::create_dir(d.join("sub")).unwrap();
    image::DynamicImage::ImageRgb8(rich_rgb(33, 17))
        .to_rgb8()
        .save(d.join("sub/photo.jpg"))
        .unwrap();
    fs::write(d.join("corrupt.jpg"), b"\xff\xd8\xff garbage").unwrap();
    fs::write(d.join("bad\x1b[31m.jpg"), b"not a jpeg at all").unwrap();
    fs::write(d.join("notes.txt"), b"ignored").unwrap();
    // Symlinks inside a walked folder are not followed, even to a good image.
    #[cfg(unix)]
    std::os::unix::fs::symlink(d.join("good.png"), d.join("link.png")).unwrap();
    dir
}

#[test]
fn good_files_written_bad_files_reported_inputs_untouched() {
    let input = mixed_folder();
    let out = tempfile::tempdir().unwrap();
    let before = snapshot(input.path());
    let assert = kquant()
        .arg("compress")
        .arg(input.path())
        .args(["-k", "16", "-o"])
        .arg(out.path())
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(snapshot(input.path()), before);

    let corrupt = input.path().join("corrupt.jpg");
    assert!(
        stderr.contains(&format!("{}: ", corrupt.display())),
        "{stderr}"
    );
    assert!(!stderr.contains('\x1b'), "raw ESC on stderr: {stderr:?}");
    assert!(stderr.contains("bad\\x1b[31m.jpg: "), "{stderr}");
    assert!(!stderr.contains("notes.txt"), "{stderr}");

    let written: Vec<PathBuf> = snapshot(out.path()).into_keys().collect();
    assert_eq!(
        written,
        vec![
            out.path().join("good.png"),
            out.path().join("sub/photo.png")
        ]
    );
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(
        stdout.contains("PSNR") && stdout.contains("good.png"),
        "{stdout}"
    );
}

#[test]
fn bit_depth_follows_k() {
    let input = tempfile::tempdir().unwrap();
    let img = input.path().join("rich.png");
    rich_rgb(64, 48).save(&img).unwrap();
    for (k, depth) in [
        (2, png::BitDepth::One),
        (4, png::BitDepth::Two),
        (16, png::BitDepth::Four),
        (17, png::BitDepth::Eight),
        (256, png::BitDepth::Eight),
    ] {
        let out = tempfile::tempdir().unwrap();
        kquant()
            .arg("compress")
            .arg(&img)
            .args(["-k", &k.to_string(), "--seed", "7", "-o"])
            .arg(out.path())
            .assert()
            .success();
        let png = read_png(&fs::read(out.path().join("rich.png")).unwrap());
        assert_eq!(png.color_type, png::ColorType::Indexed, "k={k}");
        assert!(
            png.palette.len() <= k,
            "k={k}: {} entries",
            png.palette.len()
        );
        assert_eq!(png.bit_depth, expected_depth(png.palette.len()), "k={k}");
        assert_eq!(png.bit_depth, depth, "k={k}: {} entries", png.palette.len());
    }
}

#[test]
fn fast_writes_the_same_picture() {
    let input = tempfile::tempdir().unwrap();
    let img = input.path().join("rich.png");
    rich_rgb(64, 48).save(&img).unwrap();
    let run = |extra: &[&str]| {
        let out = tempfile::tempdir().unwrap();
        kquant()
            .arg("compress")
            .arg(&img)
            .args(["-k", "16", "-o"])
            .arg(out.path())
            .args(extra)
            .assert()
            .success();
        read_png(&fs::read(out.path().join("rich.png")).unwrap())
    };
    let (small, fast) = (run(&[]), run(&["--fast"]));
    assert_eq!(fast.color_type, png::ColorType::Indexed);
    assert_eq!(fast.bit_depth, small.bit_depth);
    assert_eq!(fast.palette, small.palette);
    assert_eq!(fast.rgba, small.rgba);
}

#[test]
fn usage_errors_exit_2() {
    kquant().assert().code(2);
    kquant().args(["compress", "x.png"]).assert().code(2); // no -k
    kquant()
        .args(["compress", "x.png", "-k", "0"])
        .assert()
        .code(2);
    kquant()
        .args(["compress", "x.png", "-k", "257"])
        .assert()
        .code(2);
    kquant().args(["compress", "-k", "8"]).assert().code(2); // no path
    kquant()
        .args(["compress", "x.png", "-k", "8", "--space", "hsv"])
        .assert()
        .code(2);
    kquant()
        .args(["compress", "x.png", "-k", "8", "--bogus"])
        .assert()
        .code(2);
    kquant().arg("--help").assert().code(0);
}

#[test]
fn output_into_input_folder_never_overwrites_an_input() {
    let input = tempfile::tempdir().unwrap();
    let d = input.path();
    rich_rgb(20, 20).save(d.join("a.png")).unwrap();
    rich_rgb(21, 20).save(d.join("b.jpg")).unwrap();
    let before = snapshot(d);
    let assert = kquant()
        .arg("compress")
        .arg(d)
        .args(["-k", "8", "-o"])
        .arg(d)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("a.png: "), "{stderr}");
    let after = snapshot(d);
    for (path, bytes) in &before {
        assert_eq!(&after[path], bytes, "{} changed", path.display());
    }
    // b.jpg → b.png was fine to write.
    assert!(read_png(&after[&d.join("b.png")]).color_type == png::ColorType::Indexed);
    assert_eq!(after.len(), 3);
}

/// `kquant compress INPUT -k 4` into a new folder, which must succeed: the folder and the
/// files written in it.
fn compress_at_k4(input: &Path) -> (tempfile::TempDir, Vec<PathBuf>) {
    let out = tempfile::tempdir().unwrap();
    kquant()
        .arg("compress")
        .arg(input)
        .args(["-k", "4", "-o"])
        .arg(out.path())
        .assert()
        .success();
    let names = snapshot(out.path()).into_keys().collect();
    (out, names)
}

#[test]
fn same_stem_is_disambiguated_not_clobbered() {
    let input = tempfile::tempdir().unwrap();
    rich_rgb(10, 10).save(input.path().join("x.png")).unwrap();
    rich_rgb(12, 10).save(input.path().join("x.jpg")).unwrap();
    let (out, names) = compress_at_k4(input.path());
    assert_eq!(
        names,
        vec![out.path().join("x.jpg.png"), out.path().join("x.png.png")]
    );
}

#[test]
fn names_at_the_filesystem_limit_still_get_an_output() {
    // 255 bytes, the most a name can have: no extension to swap for `.png`, so the output
    // name is cut to fit (on a character boundary: `é` is two bytes).
    let input = tempfile::tempdir().unwrap();
    let long = format!("{}{}", "é".repeat(100), "x".repeat(55));
    assert_eq!(long.len(), 255);
    rich_rgb(10, 10)
        .save_with_format(input.path().join(&long), image::ImageFormat::Png)
        .unwrap();
    let (out, names) = compress_at_k4(input.path());
    let expected = format!("{}.png", &long[..251]);
    assert_eq!(names, vec![out.path().join(&expected)]);
    let png = read_png(&fs::read(out.path().join(expected)).unwrap());
    assert!(png.palette.len() <= 4);
}

#[test]
fn json_is_one_document() {
    let input = mixed_folder();
    let out = tempfile::tempdir().unwrap();
    let assert = kquant()
        .arg("compress")
        .arg(input.path())
        .args(["-k", "5", "--json", "-o"])
        .arg(out.path())
        .assert()
        .code(1);
    let doc: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(doc["ok"], 2);
    assert_eq!(doc["failed"], 2);
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    for f in files {
        assert_eq!(f["k"], 5);
        assert!(f["output_bytes"].as_u64().unwrap() > 0);
        assert!(f["colours"].as_u64().unwrap() <= 5);
    }
    // Raw control characters are escaped by JSON itself, never emitted raw.
    let errors = doc["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["path"].as_str().unwrap().ends_with("bad\x1b[31m.jpg"))
    );
    assert!(!assert.get_output().stdout.contains(&0x1b));
}

#[test]
fn corpus_bad_sample_folder() {
    let corpus = corpus_or_skip!();
    let out = tempfile::tempdir().unwrap();
    let assert = kquant()
        .arg("compress")
        .arg(corpus.join("bad-sample"))
        .args(["-k", "16", "-o"])
        .arg(out.path())
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("zero_byte.jpg: empty file"), "{stderr}");
    assert!(
        stderr.contains("not_an_image.png: not a supported image"),
        "{stderr}"
    );
    assert!(!stderr.contains("panick"), "{stderr}");
    let one = read_png(&fs::read(out.path().join("one_colour.png")).unwrap());
    assert_eq!(one.palette.len(), 1);
    let three = read_png(&fs::read(out.path().join("three_colours.png")).unwrap());
    assert_eq!(three.palette.len(), 3);
    assert_eq!(three.bit_depth, png::BitDepth::Two);
}
