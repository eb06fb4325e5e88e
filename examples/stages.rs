//! Wall time of each stage of `kquant compress` on one file: decode, histogram, clustering +
//! remap, indexed-PNG encode; and decode + histogram as `compress` runs them, overlapped
//! (`banded`; the total counts that, not the two apart). Medians of `--runs` runs.
//!
//! `cargo run --release --example stages -- PHOTO [K ...] [--runs N]`
use std::path::PathBuf;
use std::time::Instant;

use kquant::decode::{self, DecodeOptions};
use kquant::palette_png::{self, Effort};
use kquant::quant::{self, Control, Histogram, HistogramBuilder, Params};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut photo = None;
    let mut ks = Vec::new();
    let mut runs = 5;
    while let Some(a) = args.next() {
        if a == "--runs" {
            runs = args
                .next()
                .ok_or_else(|| anyhow::anyhow!("--runs N"))?
                .parse()?;
        } else if photo.is_none() {
            photo = Some(PathBuf::from(a));
        } else {
            ks.push(a.parse::<u16>()?);
        }
    }
    let photo = photo.ok_or_else(|| anyhow::anyhow!("usage: stages PHOTO [K ...] [--runs N]"))?;
    if ks.is_empty() {
        ks = vec![16, 64, 256];
    }
    let opts = DecodeOptions::default();
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    println!(
        "{:>4} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "k", "decode", "hist", "banded", "quant", "encode", "total"
    );
    for &k in &ks {
        let (mut d, mut h, mut b, mut q, mut e) = (vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..runs {
            let t = Instant::now();
            let pixels = decode::decode_pixels(&photo, &opts)?;
            d.push(ms(t));
            let t = Instant::now();
            let hist = Histogram::new(&pixels);
            h.push(ms(t));
            let t = Instant::now();
            let builder = HistogramBuilder::default();
            let banded = decode::decode_pixels_banded(&photo, &opts, &|band| builder.add(band))?;
            std::hint::black_box((banded, builder.finish()));
            b.push(ms(t));
            let t = Instant::now();
            let out = quant::quantize_with(&pixels, &hist, &Params::new(k), &Control::none())
                .map_err(|_| anyhow::anyhow!("cancelled"))?;
            q.push(ms(t));
            let t = Instant::now();
            let png = palette_png::encode_with(&out, pixels.alpha.as_deref(), Effort::Small)?;
            e.push(ms(t));
            std::hint::black_box(png);
        }
        let (d, h, b, q, e) = (median(d), median(h), median(b), median(q), median(e));
        println!(
            "{k:>4} {d:>8.1} {h:>8.1} {b:>8.1} {q:>8.1} {e:>8.1} {:>8.1}",
            b + q + e
        );
    }
    Ok(())
}
