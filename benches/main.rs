//! Criterion benchmarks, one binary (ratatui style).
//!
//! - `engine/<photo>/<tool>/<k>`: kquant vs quantette's k-means on the same decoded pixels, no
//!   I/O, sRGB, no dithering, at k = 4, 16, 64, 256. The PSNR of each is printed once, since
//!   a faster engine that loses quality is no win.
//! - `histogram/<photo>`: building the colour histogram alone.
//! - `compress/<tool>/<k>`: end to end on a PNG copy of the 13.4 MP Dragonfly photo: decode,
//!   quantize, write the indexed PNG. kquant is `batch::compress_one` (what `kquant compress`
//!   runs per file); the reference decodes the same way, runs quantette's k-means and writes
//!   with the png crate's fast compression (the quantette CLI).
//! - `chart/<photo>/…`: the colour-space view (issue 4): `cloud` is the worker's per-photo cost
//!   (sample + 32³ binning); `rotate_160x48` one frame of a cube rotation at a 160×48 chart
//!   (re-bin the cloud, project 16 centroids, render the scatter into a `Buffer`).
//!
//! Photos come from `../shared/corpus/photos`; without it the benches print why and do nothing.
//! `cargo bench -- engine/Dragonfly` runs one photo; `examples/vs_quantette.rs` prints a table.

// A benchmark harness: a failure is a panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kquant::quant::{self, Control, Histogram, Params, Pixels};
use quantette::deps::palette::Srgb;
use quantette::{ImageRef, PaletteSize, Pipeline, QuantizeMethod};

const PHOTOS: [&str; 4] = [
    "china.jpg",
    "flower.jpg",
    "Dragonfly_by_Bolly.jpg",
    "Kleiber_by_Lukas_Baubkus.jpg",
];
const KS: [u16; 4] = [4, 16, 64, 256];

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/photos");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping benches: {} not found", dir.display());
        None
    }
}

fn psnr(px: &Pixels, palette: &[[u8; 3]], indices: &[u8]) -> f64 {
    let sq: u64 = px
        .rgb
        .iter()
        .zip(indices)
        .map(|(c, &i)| {
            let p = palette[usize::from(i)];
            (0..3)
                .map(|ch| u64::from(c[ch].abs_diff(p[ch])).pow(2))
                .sum::<u64>()
        })
        .sum();
    quant::psnr(sq as f64 / (3.0 * px.len() as f64))
}

fn quantette(px: &Pixels, srgb: &[Srgb<u8>], k: u16) -> f64 {
    let img = ImageRef::new(px.width, px.height, srgb).unwrap();
    let out = Pipeline::new()
        .palette_size(PaletteSize::try_from(k).unwrap())
        .quantize_method(QuantizeMethod::kmeans())
        .ditherer(None)
        .parallel(true)
        .input_image(img)
        .output_srgb8_indexed_image();
    let palette: Vec<[u8; 3]> = out
        .palette()
        .iter()
        .map(|c| [c.red, c.green, c.blue])
        .collect();
    psnr(px, &palette, out.indices())
}

fn engine(c: &mut Criterion) {
    let Some(dir) = corpus() else { return };
    let mut group = c.benchmark_group("engine");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    for name in PHOTOS {
        let px = Pixels::from_dynamic(&image::open(dir.join(name)).unwrap());
        let srgb: Vec<Srgb<u8>> = px.rgb.iter().map(|c| Srgb::new(c[0], c[1], c[2])).collect();
        for k in KS {
            let ours = quant::quantize(&px, &Params::new(k), &Control::none())
                .unwrap()
                .psnr;
            let theirs = quantette(&px, &srgb, k);
            eprintln!("PSNR {name} k={k}: kquant {ours:.2} dB, quantette {theirs:.2} dB");
            group.bench_with_input(
                BenchmarkId::new(format!("{name}/kquant"), k),
                &k,
                |b, &k| {
                    b.iter(|| quant::quantize(&px, &Params::new(k), &Control::none()).unwrap());
                },
            );
            group.bench_with_input(
                BenchmarkId::new(format!("{name}/quantette"), k),
                &k,
                |b, &k| {
                    b.iter(|| quantette(&px, &srgb, k));
                },
            );
        }
    }
    group.finish();
}

fn histogram(c: &mut Criterion) {
    let Some(dir) = corpus() else { return };
    let mut group = c.benchmark_group("histogram");
    group.sample_size(10);
    for name in PHOTOS {
        let px = Pixels::from_dynamic(&image::open(dir.join(name)).unwrap());
        group.bench_function(name, |b| b.iter(|| Histogram::new(&px)));
    }
    group.finish();
}

fn compress(c: &mut Criterion) {
    use kquant::batch::{Job, Settings, compress_one};
    use kquant::decode::DecodeOptions;
    use kquant::palette_png::Effort;
    let Some(dir) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("dragonfly.png");
    image::open(dir.join("Dragonfly_by_Bolly.jpg"))
        .unwrap()
        .save(&input)
        .unwrap();
    let mut group = c.benchmark_group("compress");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    for k in [16u16, 64, 256] {
        let job = Job {
            input: input.clone(),
            output: tmp.path().join("out/kquant.png"),
        };
        for (name, effort) in [("kquant", Effort::Small), ("kquant-fast", Effort::Fast)] {
            let settings = Settings {
                inputs: vec![input.clone()],
                out_dir: tmp.path().join("out"),
                params: Params::new(k),
                decode: DecodeOptions::default(),
                effort,
            };
            group.bench_with_input(BenchmarkId::new(name, k), &k, |b, _| {
                b.iter(|| compress_one(&job, &settings, &[input.as_path()]).unwrap());
            });
        }
        let out = tmp.path().join("quantette.png");
        group.bench_with_input(BenchmarkId::new("quantette", k), &k, |b, &k| {
            b.iter(|| quantette_cli(&input, k, &out));
        });
    }
    group.finish();
}

fn chart(c: &mut Criterion) {
    use kquant::chart::{self, ColourCloud, Projection, SAMPLE_SEED, SAMPLE_SIZE, Scatter};
    use ratatui::{buffer::Buffer, layout::Rect, widgets::Widget};

    let Some(dir) = corpus() else { return };
    let mut group = c.benchmark_group("chart");
    for name in ["Dragonfly_by_Bolly.jpg", "china.jpg"] {
        let image = image::open(dir.join(name)).unwrap();
        // What the worker does once per photo, on the decoded full-resolution image.
        group.bench_function(BenchmarkId::new(name, "cloud"), |b| {
            b.iter(|| {
                ColourCloud::from_colours(&chart::sample_image(&image, SAMPLE_SIZE, SAMPLE_SEED))
            });
        });
        let cloud =
            ColourCloud::from_colours(&chart::sample_image(&image, SAMPLE_SIZE, SAMPLE_SEED));
        let px = Pixels::from_dynamic(&image);
        let palette = quant::quantize(&px, &Params::new(16), &Control::none())
            .unwrap()
            .palette;
        let area = Rect::new(0, 0, 160, 48);
        let plot = Scatter::plot_area(area);
        let cube = Projection::OklabAb.next();
        let mut buf = Buffer::empty(area);
        let mut step = 0;
        group.bench_function(BenchmarkId::new(name, "rotate_160x48"), |b| {
            b.iter(|| {
                step += 1;
                let p = cube.rotate(step);
                let cells = chart::bin(&cloud, p, plot.width, plot.height);
                let marks = chart::project_marks(p, plot.width, plot.height, &palette);
                buf.reset();
                Scatter::new(&cells)
                    .centroids(&marks)
                    .truecolour(true)
                    .render(area, &mut buf);
            });
        });
    }
    group.finish();
}

// The reference CLI of the measurements; its `main` is unused here.
#[allow(dead_code)]
#[path = "../examples/quantette_cli.rs"]
mod quantette_cli;
use quantette_cli::quantette_cli;

criterion_group!(benches, engine, histogram, compress, chart);
criterion_main!(benches);
