//! Command-line parsing: clap derive types (raw) converted to validated domain settings.
//!
//! The doc comments on [`Cli`] and [`CompressArgs`] are the `--help` text. Nothing outside this
//! module and `main.rs` imports clap; the rest of the crate sees [`Command`] and
//! [`batch::Settings`](crate::batch::Settings).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::batch;
use crate::decode::DecodeOptions;
use crate::palette_png::Effort;
use crate::quant::{ColorSpace, Params};
use crate::runtime;
use crate::term::ProtocolChoice;

/// Browse a folder of photos in the terminal and compress each one by k-means colour
/// quantization (`kquant [DIR]`), or compress files in one go (`kquant compress`).
#[derive(Debug, Parser)]
#[command(
    name = "kquant",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<CliCommand>,
    #[command(flatten)]
    tui: TuiArgs,
}

/// Arguments of the default mode, the terminal browser.
#[derive(Debug, clap::Args)]
struct TuiArgs {
    /// Folder to browse (walked recursively; hidden files and symlinks are skipped).
    #[arg(value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// How many folder levels to descend (1 = only DIR's own files).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    depth: Option<u64>,
    /// Terminal graphics protocol; `auto` asks the terminal.
    #[arg(long, value_enum, default_value_t = Protocol::Auto)]
    protocol: Protocol,
    /// Folder where `s` saves indexed PNGs.
    #[arg(short, long, value_name = "DIR", default_value = "kquant-out")]
    output: PathBuf,
    /// Initial number of colours (snapped to the ladder 2, 3, 4, 6, 8, … 256).
    #[arg(short, value_name = "K", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(2..=256))]
    k: u16,
    /// Initial colour space for clustering (`c` toggles it).
    #[arg(long, value_enum, default_value_t = Space::Srgb)]
    space: Space,
    /// Memory for cached previews (decoded working copies and compressed pictures), in MB;
    /// the current photo's full-resolution copy comes on top.
    #[arg(long, value_name = "MB", default_value_t = 192,
          value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    cache_mb: u64,
}

/// `--protocol` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Protocol {
    /// Ask the terminal (kitty, sixel, iTerm2; half blocks if none answers).
    Auto,
    /// Kitty graphics protocol.
    Kitty,
    /// DEC sixel (xterm -ti vt340, foot, mlterm, …).
    Sixel,
    /// iTerm2 inline images (iTerm2, WezTerm, mlterm).
    Iterm2,
    /// Unicode half blocks: any terminal, lowest resolution.
    Halfblocks,
}

impl From<Protocol> for ProtocolChoice {
    fn from(p: Protocol) -> ProtocolChoice {
        match p {
            Protocol::Auto => ProtocolChoice::Auto,
            Protocol::Kitty => ProtocolChoice::Kitty,
            Protocol::Sixel => ProtocolChoice::Sixel,
            Protocol::Iterm2 => ProtocolChoice::Iterm2,
            Protocol::Halfblocks => ProtocolChoice::Halfblocks,
        }
    }
}

#[derive(Debug, Subcommand)]
enum CliCommand {
    /// Compress image files and folders into palette PNGs.
    Compress(CompressArgs),
}

/// Colour space the clustering measures distances in.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Space {
    /// Plain 8-bit sRGB values.
    Srgb,
    /// Perceptual Oklab.
    Oklab,
}

impl From<Space> for ColorSpace {
    fn from(s: Space) -> ColorSpace {
        match s {
            Space::Srgb => ColorSpace::Srgb,
            Space::Oklab => ColorSpace::Oklab,
        }
    }
}

/// Arguments of `kquant compress`.
#[derive(Debug, clap::Args)]
struct CompressArgs {
    /// Image files or folders (folders are walked recursively; symlinks are not followed).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Number of colours in each output palette (1..=256).
    #[arg(short, value_name = "K", value_parser = clap::value_parser!(u16).range(1..=256))]
    k: u16,
    /// Output folder; relative paths below folder arguments are mirrored inside it.
    #[arg(short, long, value_name = "DIR", default_value = "kquant-out")]
    output: PathBuf,
    /// Colour space for clustering.
    #[arg(long, value_enum, default_value_t = Space::Srgb)]
    space: Space,
    /// Floyd–Steinberg dithering when mapping pixels to the palette.
    #[arg(long)]
    dither: bool,
    /// Seed for k-means++ initialisation (same seed, same output).
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// Write the PNGs quickly (zlib level 2) instead of small (level 5): about half the time
    /// writing, files 17–24% larger.
    #[arg(long)]
    fast: bool,
    /// Print one JSON document on stdout instead of the summary table.
    #[arg(long)]
    json: bool,
    /// Refuse images with more pixels than this (decompression-bomb guard).
    #[arg(long, value_name = "N", default_value_t = DecodeOptions::DEFAULT_MAX_PIXELS,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_pixels: u64,
}

/// What to do, validated.
#[derive(Debug)]
pub enum Command {
    /// `kquant compress`.
    Compress {
        /// Batch settings.
        settings: batch::Settings,
        /// JSON on stdout instead of the table.
        json: bool,
    },
    /// No subcommand: browse a folder in the terminal.
    Tui(runtime::Options),
}

impl Cli {
    /// Converts parsed arguments into domain settings.
    pub fn into_command(self) -> Command {
        match self.command {
            None => {
                let t = self.tui;
                Command::Tui(runtime::Options {
                    root: t.dir,
                    max_depth: t.depth.map(|d| usize::try_from(d).unwrap_or(usize::MAX)),
                    protocol: t.protocol.into(),
                    out_dir: t.output,
                    k: t.k,
                    space: t.space.into(),
                    cache_bytes: usize::try_from(t.cache_mb << 20).unwrap_or(usize::MAX),
                })
            }
            Some(CliCommand::Compress(a)) => {
                let mut params = Params::new(a.k);
                params.space = a.space.into();
                params.dither = a.dither;
                params.seed = a.seed;
                Command::Compress {
                    settings: batch::Settings {
                        inputs: a.paths,
                        out_dir: a.output,
                        params,
                        decode: DecodeOptions {
                            max_pixels: a.max_pixels,
                        },
                        effort: if a.fast { Effort::Fast } else { Effort::Small },
                    },
                    json: a.json,
                }
            }
        }
    }
}
