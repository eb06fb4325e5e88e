//! The reference the issue measured kquant against: decode, quantette k-means (its default
//! options, no dithering), indexed PNG written with the png crate's fast compression.
//!
//! `cargo run --release --example quantette_cli -- IN.png K OUT.png`

// A developer tool: a bad argument or file ends it with a panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use quantette::deps::palette::Srgb;
use quantette::{ImageRef, PaletteSize, Pipeline, QuantizeMethod};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (input, k, output) = (&args[1], args[2].parse::<u16>().unwrap(), &args[3]);
    quantette_cli(Path::new(input), k, Path::new(output));
}

/// Decode, quantize with quantette's k-means, write with png's fast compression. Also used
/// by the `compress` benchmark group.
pub fn quantette_cli(input: &Path, k: u16, output: &Path) {
    let img = image::open(input).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let px: Vec<Srgb<u8>> = img.pixels().map(|p| Srgb::new(p[0], p[1], p[2])).collect();
    let out = Pipeline::new()
        .palette_size(PaletteSize::try_from(k).unwrap())
        .quantize_method(QuantizeMethod::kmeans())
        .ditherer(None)
        .parallel(true)
        .input_image(ImageRef::new(w, h, px.as_slice()).unwrap())
        .output_srgb8_indexed_image();
    let palette: Vec<u8> = out
        .palette()
        .iter()
        .flat_map(|c| [c.red, c.green, c.blue])
        .collect();
    let file = std::io::BufWriter::new(std::fs::File::create(output).unwrap());
    let mut enc = png::Encoder::new(file, w, h);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(palette);
    enc.set_compression(png::Compression::Fast);
    let mut wr = enc.write_header().unwrap();
    wr.write_image_data(out.indices()).unwrap();
}
