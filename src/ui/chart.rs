//! The colour-space chart band: the scatter (original or compressed pixels, centroids on
//! top), the palette strip and the PSNR-vs-k curve, drawn from `App::chart` as `update` left
//! it. Nothing is computed here beyond strings.

use ratatui::Frame;
use ratatui::text::Span;
use ratatui::widgets::{Block, Paragraph};

use super::{ChartAreas, theme};
use crate::app::App;
use crate::chart::{PaletteStrip, PsnrCurve, Scatter};

/// Draw the band.
pub fn draw(frame: &mut Frame, areas: &ChartAreas, app: &App) {
    let chart = &app.chart;
    frame.render_widget(
        Block::bordered()
            .border_style(theme::BORDER)
            .title(Span::styled(" colour space ", theme::TITLE))
            .title(Span::styled(
                " p projection · v original/compressed · < > turn · g hide ",
                theme::DIM,
            )),
        areas.block,
    );
    let subtitle = match (&chart.live, chart.show_compressed) {
        (Some((iteration, _)), _) => format!("k-means iteration {iteration}"),
        (None, true) => format!("compressed k={}", app.preview.k),
        (None, false) => "original".to_owned(),
    };
    frame.render_widget(
        Scatter::new(&chart.cells)
            .centroids(&chart.marks)
            .subtitle(&subtitle)
            .truecolour(chart.truecolour),
        areas.scatter,
    );
    match &chart.palette {
        Some(palette) => frame.render_widget(
            PaletteStrip::new(&palette.palette, &palette.counts).truecolour(chart.truecolour),
            areas.palette,
        ),
        None => frame.render_widget(
            Paragraph::new(Span::styled("palette: quantizing…", theme::PENDING)),
            areas.palette,
        ),
    }
    frame.render_widget(PsnrCurve::new(&chart.curve, app.settings.k()), areas.curve);
}
