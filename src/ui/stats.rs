//! The two status lines: protocol, image size, k, colour space, PSNR and original vs indexed
//! PNG bytes on the first; save progress, the sixel caveat or the key hint on the second.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::file_list::human_bytes;
use super::theme;
use crate::app::App;
use crate::msg::SaveEvent;

/// Draw the status lines into `area` (two rows).
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    frame.render_widget(Paragraph::new(vec![figures(app), second_line(app)]), area);
}

fn figures(app: &App) -> Line<'static> {
    let sep = || Span::styled(" · ", theme::DIM);
    let mut spans = vec![Span::raw(
        app.status
            .protocol
            .clone()
            .unwrap_or_else(|| "detecting…".into()),
    )];
    if let Some((w, h)) = app.preview.full_size {
        spans.extend([sep(), Span::raw(format!("{w}×{h}"))]);
    }
    spans.extend([
        sep(),
        Span::raw(format!("k={}", app.settings.k())),
        sep(),
        Span::raw(app.settings.space.to_string()),
        sep(),
        Span::raw(if app.settings.dither {
            "dither"
        } else {
            "no dither"
        }),
    ]);
    if let Some(stats) = &app.preview.stats {
        let psnr = if stats.psnr.is_finite() {
            format!("PSNR {:.1} dB", stats.psnr)
        } else {
            "PSNR ∞ (exact)".to_owned()
        };
        let file = app
            .library
            .current()
            .map_or_else(|| "?".into(), |e| human_bytes(e.bytes));
        spans.extend([
            sep(),
            Span::raw(psnr),
            sep(),
            Span::raw(format!(
                "{file} → {} indexed PNG",
                human_bytes(stats.png_bytes as u64)
            )),
        ]);
    }
    Line::from(spans)
}

fn second_line(app: &App) -> Line<'static> {
    match &app.status.save {
        Some(SaveEvent::Progress(text)) => return Line::styled(text.clone(), theme::PENDING),
        Some(SaveEvent::Done { dest, bytes, psnr }) => {
            return Line::styled(
                format!(
                    "saved {dest} ({}, full-resolution PSNR {psnr:.1} dB)",
                    human_bytes(*bytes)
                ),
                theme::OK,
            );
        }
        Some(SaveEvent::Failed(error)) => {
            return Line::styled(format!("save failed: {error}"), theme::ERROR);
        }
        None => {}
    }
    Line::styled(
        "? help  ↑↓ photo  +/- k  d dither  c space  s save  q quit",
        theme::DIM,
    )
}
