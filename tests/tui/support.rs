//! Helpers shared by the TUI tests: an `App` with a few photos, key messages, and pictures
//! encoded with a half-blocks picker (no terminal needed).

use std::path::{Path, PathBuf};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use image::{DynamicImage, Rgb, RgbImage};
use kquant::app::{App, Settings};
use kquant::msg::{Effect, Entry, Msg, PreviewRequest, ScanBatch};
use kquant::quant::ColorSpace;
use ratatui::layout::Size;
use ratatui_image::Resize;
use ratatui_image::picker::Picker;
use ratatui_image::protocol::Protocol;

pub const SCREEN: Size = Size::new(100, 30);

pub fn entries(names: &[&str]) -> Vec<Entry> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| Entry {
            path: PathBuf::from("/photos").join(name),
            display: (*name).to_owned(),
            bytes: 1_500_000 + 1000 * i as u64,
        })
        .collect()
}

/// An app that has detected graphics and received one scan batch.
pub fn app_with(names: &[&str]) -> (App, Vec<Effect>) {
    let mut app = App::new(
        Settings::new(16, ColorSpace::Srgb, PathBuf::from("out")),
        SCREEN,
    );
    let mut effects = app.update(Msg::GraphicsReady {
        protocol: "half-blocks".into(),
        requantizes: false,
    });
    assert!(effects.is_empty(), "no photo yet, nothing to compute");
    effects.extend(app.update(Msg::Scan(ScanBatch {
        entries: entries(names),
        errors: Vec::new(),
    })));
    (app, effects)
}

pub fn press(code: KeyCode) -> Msg {
    Msg::Input(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

pub fn only_preview(effects: &[Effect]) -> &PreviewRequest {
    match effects {
        [Effect::Preview(request)] => request,
        other => panic!("expected one preview request, got {other:?}"),
    }
}

/// A test picture: blue on the left, orange on the right, with horizontal stripes so that
/// half-block cells show their glyphs (a flat cell renders as a blank).
pub fn picture(width: u32, height: u32) -> DynamicImage {
    let stripe = (height / 12).max(1);
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        let dark = (y / stripe).is_multiple_of(2);
        match (x < width / 2, dark) {
            (true, true) => Rgb([20, 40, 120]),
            (true, false) => Rgb([90, 140, 220]),
            (false, true) => Rgb([240, 140, 20]),
            (false, false) => Rgb([120, 60, 10]),
        }
    }))
}

pub fn protocol(cells: Size) -> Box<Protocol> {
    let picker = Picker::halfblocks();
    let font = picker.font_size();
    let image = picture(
        u32::from(cells.width) * u32::from(font.width),
        u32::from(cells.height) * u32::from(font.height) / 2,
    );
    Box::new(
        picker
            .new_protocol(image, cells, Resize::Fit(None))
            .expect("half-blocks encoding of a small picture"),
    )
}

/// The chart data the worker would send for [`picture`]: its binned pixel sample, and a
/// four-colour palette with the same sample recoloured.
pub fn chart_data() -> (
    std::sync::Arc<kquant::chart::ColourCloud>,
    std::sync::Arc<kquant::msg::PaletteData>,
) {
    use kquant::chart::{ColourCloud, SAMPLE_SEED, SAMPLE_SIZE, sample};
    let pixels = kquant::quant::Pixels::from_dynamic(&picture(64, 48));
    let colours = sample(&pixels, SAMPLE_SIZE, SAMPLE_SEED);
    let palette = vec![[240, 140, 20], [20, 40, 120], [90, 140, 220], [120, 60, 10]];
    let counts = vec![800, 800, 700, 700];
    let cloud = ColourCloud::from_weighted(palette.iter().copied().zip(counts.iter().copied()));
    (
        std::sync::Arc::new(ColourCloud::from_colours(&colours)),
        std::sync::Arc::new(kquant::msg::PaletteData {
            palette,
            counts,
            cloud,
        }),
    )
}

/// A folder `photos` in `scratch` with three generated photos, for the real-binary tests.
pub fn three_photos(scratch: &Path) -> PathBuf {
    let dir = scratch.join("photos");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, name) in ["alpha.png", "beta.png", "gamma.png"].iter().enumerate() {
        picture(320 + 40 * i as u32, 240)
            .save(dir.join(name))
            .unwrap();
    }
    dir
}

/// The list entry carrying the selection marker: from the marker to the list's right border,
/// so a picture drawn on the same screen line cannot make it look changed.
pub fn selected_row(screen: &vt100::Screen) -> Option<String> {
    let contents = screen.contents();
    let line = contents.lines().find(|l| l.contains('▸'))?;
    let entry = &line[line.find('▸')?..];
    Some(entry.split('│').next().unwrap_or(entry).to_owned())
}
