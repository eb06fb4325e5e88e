//! Timing and a look at the colour-space chart without the TUI: decodes a photo, builds the
//! sample and colour cloud as the worker would, bins every projection, then measures a full
//! turn of the RGB cube (re-bin + centroids + render into a `Buffer`, the per-frame work of a
//! rotation). `--show` prints the charts with ANSI colours.
//!
//! `cargo run --release --example chart -- [--show] [--size COLSxROWS] [-k K] IMAGE`

// A developer tool: a bad argument or file ends it with a panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kquant::chart::{
    self, ColourCloud, K_LADDER, PaletteStrip, Projection, PsnrCurve, SAMPLE_SEED, SAMPLE_SIZE,
    Scatter,
};
use kquant::decode::{DecodeOptions, decode};
use kquant::quant::{Control, Params, Pixels, quantize};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::widgets::Widget;

fn main() {
    let mut show = false;
    let (mut cols, mut rows) = (160u16, 48u16);
    let mut k = 16u16;
    let mut path = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--show" => show = true,
            "--size" => {
                let v = args.next().unwrap();
                let (c, r) = v.split_once('x').unwrap();
                (cols, rows) = (c.parse().unwrap(), r.parse().unwrap());
            }
            "-k" => k = args.next().unwrap().parse().unwrap(),
            _ => path = Some(PathBuf::from(a)),
        }
    }
    let path = path.expect("usage: chart [--show] [--size COLSxROWS] [-k K] IMAGE");

    let t = Instant::now();
    let image = decode(&path, &DecodeOptions::default()).unwrap();
    println!(
        "decode: {:?} ({}x{})",
        t.elapsed(),
        image.width(),
        image.height()
    );

    // The worker's per-photo cost: sample the decoded photo + bin the sample.
    let t = Instant::now();
    let colours = chart::sample_image(&image, SAMPLE_SIZE, SAMPLE_SEED);
    let cloud = ColourCloud::from_colours(&colours);
    let per_photo = t.elapsed();
    println!(
        "sample + cloud: {per_photo:?} ({} points, {} occupied bins)",
        colours.len(),
        cloud.bins.len()
    );

    let area = Rect::new(0, 0, cols, rows);
    let plot = Scatter::plot_area(area);
    let mut p = Projection::Rg;
    for _ in 0..5 {
        let t = Instant::now();
        let cells = chart::bin(&cloud, p, plot.width, plot.height);
        println!("bin {:>10} at {cols}x{rows}: {:?}", p.name(), t.elapsed());
        if show {
            let mut buf = Buffer::empty(area);
            Scatter::new(&cells)
                .subtitle("original")
                .truecolour(true)
                .render(area, &mut buf);
            print!("{}", ansi(&buf));
        }
        p = p.next();
    }

    let px = Pixels::from_dynamic(&image);
    drop(image);
    let t = Instant::now();
    let q = quantize(&px, &Params::new(k), &Control::none()).unwrap();
    println!("quantize k = {k}: {:?}, {:.2} dB", t.elapsed(), q.psnr);

    // A full turn of the cube, as `>` pressed 24 times: everything the UI thread would do.
    let cube = Projection::OklabAb.next();
    let mut frames = Vec::new();
    let mut buf = Buffer::empty(area);
    for step in 0..24 * 10 {
        let t = Instant::now();
        let p = cube.rotate(step);
        let cells = chart::bin(&cloud, p, plot.width, plot.height);
        let marks = chart::project_marks(p, plot.width, plot.height, &q.palette);
        buf.reset();
        Scatter::new(&cells)
            .centroids(&marks)
            .truecolour(true)
            .render(area, &mut buf);
        frames.push(t.elapsed());
    }
    frames.sort();
    let median = frames[frames.len() / 2];
    let max = frames.last().copied().unwrap_or(Duration::ZERO);
    println!(
        "rotation frame (bin + marks + render) at {cols}x{rows}: median {median:?}, max {max:?} over {} frames",
        frames.len()
    );

    if show {
        let compressed =
            ColourCloud::from_weighted(q.palette.iter().copied().zip(q.counts.iter().copied()));
        let p = cube.rotate(2);
        let cells = chart::bin(&compressed, p, plot.width, plot.height);
        let marks = chart::project_marks(p, plot.width, plot.height, &q.palette);
        let mut buf = Buffer::empty(area);
        let sub = format!("compressed · k = {k}");
        Scatter::new(&cells)
            .centroids(&marks)
            .subtitle(&sub)
            .truecolour(true)
            .render(area, &mut buf);
        print!("{}", ansi(&buf));
        let strip = Rect::new(0, 0, cols, 3);
        let mut buf = Buffer::empty(strip);
        PaletteStrip::new(&q.palette, &q.counts)
            .truecolour(true)
            .render(strip, &mut buf);
        print!("{}", ansi(&buf));
        let small = thumbnail(&px, 800);
        let curve: Vec<(u16, f64)> = K_LADDER
            .iter()
            .map(|&k| {
                (
                    k,
                    quantize(&small, &Params::new(k), &Control::none())
                        .unwrap()
                        .psnr,
                )
            })
            .collect();
        let area = Rect::new(0, 0, 60, 12);
        let mut buf = Buffer::empty(area);
        PsnrCurve::new(&curve, k).render(area, &mut buf);
        print!("{}", ansi(&buf));
    }
}

/// Every `step`-th pixel in both directions, to keep the curve quick.
fn thumbnail(px: &Pixels, max_side: u32) -> Pixels {
    let step = (px.width.max(px.height) / max_side).max(1);
    let (w, h) = (px.width.div_ceil(step), px.height.div_ceil(step));
    let mut rgb = Vec::new();
    for y in (0..px.height).step_by(step as usize) {
        for x in (0..px.width).step_by(step as usize) {
            rgb.push(px.rgb[(y * px.width + x) as usize]);
        }
    }
    Pixels {
        width: w,
        height: h,
        rgb: rgb.into(),
        alpha: None,
    }
}

/// The buffer as text with 24-bit SGR colours.
fn ansi(buf: &Buffer) -> String {
    let sgr = |c: Color, fg: bool| -> String {
        let base = if fg { 38 } else { 48 };
        match c {
            Color::Rgb(r, g, b) => format!("\x1b[{base};2;{r};{g};{b}m"),
            Color::Indexed(i) => format!("\x1b[{base};5;{i}m"),
            Color::Black => format!("\x1b[{base};5;0m"),
            Color::Gray => format!("\x1b[{base};5;7m"),
            Color::White => format!("\x1b[{base};5;15m"),
            Color::DarkGray => format!("\x1b[{base};5;8m"),
            Color::Cyan => format!("\x1b[{base};5;6m"),
            Color::Yellow => format!("\x1b[{base};5;3m"),
            _ => format!("\x1b[{}m", if fg { 39 } else { 49 }),
        }
    };
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let c = &buf[(x, y)];
            let _ = write!(out, "{}{}{}", sgr(c.fg, true), sgr(c.bg, false), c.symbol());
        }
        out.push_str("\x1b[0m\n");
    }
    out
}
