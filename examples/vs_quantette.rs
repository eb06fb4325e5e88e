//! Engine comparison table: kquant vs quantette's k-means on the same decoded pixels (no I/O),
//! interleaved repeated runs, median time and PSNR over the 8-bit RGB channels.
//!
//! `cargo run --release --example vs_quantette -- [--runs N] [-k 16,64] [--kquant-only] IMAGE...`
//!
//! `--kquant-only` skips quantette (its columns read 0): for profiling kquant alone.

// A developer tool: a bad argument or file ends it with a panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use kquant::quant::{self, ColorSpace, Control, Params, Pixels};
use quantette::{ImageRef, PaletteSize, Pipeline, QuantizeMethod};

fn psnr_of(px: &Pixels, palette: &[[u8; 3]], indices: &[u8]) -> f64 {
    let mut sq = 0u64;
    for (c, &i) in px.rgb.iter().zip(indices) {
        let p = palette[usize::from(i)];
        for ch in 0..3 {
            sq += u64::from(c[ch].abs_diff(p[ch])).pow(2);
        }
    }
    quant::psnr(sq as f64 / (3.0 * px.len() as f64))
}

fn run_quantette(px: &Pixels, k: u16) -> (Duration, f64) {
    let srgb: Vec<quantette::deps::palette::Srgb<u8>> = px
        .rgb
        .iter()
        .map(|c| quantette::deps::palette::Srgb::new(c[0], c[1], c[2]))
        .collect();
    let t = Instant::now();
    let img = ImageRef::new(px.width, px.height, srgb.as_slice()).expect("dimensions");
    let out = Pipeline::new()
        .palette_size(PaletteSize::try_from(k).expect("k"))
        .quantize_method(QuantizeMethod::kmeans())
        .ditherer(None)
        .parallel(true)
        .input_image(img)
        .output_srgb8_indexed_image();
    let el = t.elapsed();
    let palette: Vec<[u8; 3]> = out
        .palette()
        .iter()
        .map(|c| [c.red, c.green, c.blue])
        .collect();
    (el, psnr_of(px, &palette, out.indices()))
}

fn run_kquant(px: &Pixels, k: u16, space: ColorSpace) -> (Duration, f64, u32) {
    let t = Instant::now();
    let q = quant::quantize(
        px,
        &Params {
            space,
            ..Params::new(k)
        },
        &Control::none(),
    )
    .expect("not cancelled");
    (t.elapsed(), q.psnr, q.iterations)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut runs = 5;
    let mut ks: Vec<u16> = vec![16, 64, 256];
    let mut files = Vec::new();
    let mut with_quantette = true;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).unwrap_or(5),
            "-k" => {
                ks = args
                    .next()
                    .map(|v| v.split(',').filter_map(|s| s.parse().ok()).collect())
                    .unwrap_or_default()
            }
            "--kquant-only" => with_quantette = false,
            _ => files.push(a),
        }
    }
    println!("| image | MP | k | kquant sRGB ms | dB | iters | quantette ms | dB | time ratio |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for f in files {
        let img = image::open(&f).expect("decode");
        let px = Pixels::from_dynamic(&img);
        let name = std::path::Path::new(&f)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        for &k in &ks {
            let (mut tk, mut tq) = (Vec::new(), Vec::new());
            let (mut pk, mut pq, mut it) = (0.0, 0.0, 0);
            for _ in 0..runs {
                let (t, p, i) = run_kquant(&px, k, ColorSpace::Srgb);
                tk.push(t);
                (pk, it) = (p, i);
                if with_quantette {
                    let (t, p) = run_quantette(&px, k);
                    tq.push(t);
                    pq = p;
                } else {
                    tq.push(Duration::ZERO);
                }
            }
            let (mk, mq) = (median(tk), median(tq));
            println!(
                "| {name} | {:.2} | {k} | {:.0} | {pk:.2} | {it} | {:.0} | {pq:.2} | {:.2} |",
                px.len() as f64 / 1e6,
                mk.as_secs_f64() * 1e3,
                mq.as_secs_f64() * 1e3,
                mk.as_secs_f64() / mq.as_secs_f64()
            );
        }
    }
}
