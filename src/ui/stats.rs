//! The two status lines: protocol, image size, k, colour space, PSNR and original vs indexed
//! PNG bytes on the first; save progress, the sixel caveat or the key hint on the second.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::file_list::human_bytes;
use super::safe;
use super::theme;
use crate::app::App;
use crate::msg::SaveEvent;

/// Draw the status lines into `area` (two rows).
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    frame.render_widget(Paragraph::new(vec![figures(app), second_line(app)]), area);
}

/// Most important first, so a narrow terminal cuts the least important end.
fn figures(app: &App) -> Line<'static> {
    let sep = || Span::styled(" · ", theme::DIM);
    let mut spans = vec![Span::styled(
        format!("k={}", app.settings.k()),
        theme::TITLE,
    )];
    let preview = &app.preview;
    let file = app
        .library
        .current()
        .map_or_else(|| "?".into(), |e| human_bytes(e.bytes));
    if let Some(full) = &preview.full_stats {
        spans.extend([
            sep(),
            Span::raw(psnr(full.psnr)),
            sep(),
            Span::raw(format!(
                "{file} → {} PNG",
                human_bytes(full.png_bytes as u64)
            )),
        ]);
    } else if let Some(stats) = &preview.stats {
        spans.extend([
            sep(),
            Span::raw(format!("preview {}", psnr(stats.psnr))),
            sep(),
            Span::styled(
                format!("{file} → full-size PNG: computing…"),
                theme::PENDING,
            ),
        ]);
    }
    spans.extend([sep(), Span::raw(app.settings.space.to_string())]);
    if app.settings.dither {
        spans.extend([sep(), Span::raw("dither")]);
    }
    if let Some((w, h)) = preview.full_size {
        spans.extend([sep(), Span::raw(format!("{w}×{h}"))]);
    }
    spans.extend([
        sep(),
        Span::raw(
            app.status
                .protocol
                .as_deref()
                .map_or_else(|| "detecting graphics…".into(), |p| safe(p).into_owned()),
        ),
    ]);
    Line::from(spans)
}

/// "PSNR 31.2 dB", or "PSNR ∞ (exact)" when the photo has no more colours than k.
pub(super) fn psnr(db: f64) -> String {
    if db.is_finite() {
        format!("PSNR {db:.1} dB")
    } else {
        "PSNR ∞ (exact)".to_owned()
    }
}

fn second_line(app: &App) -> Line<'static> {
    match &app.status.save {
        Some(SaveEvent::Progress(text)) => {
            return Line::styled(safe(text).into_owned(), theme::PENDING);
        }
        Some(SaveEvent::Done { dest, bytes, psnr }) => {
            return Line::styled(
                format!(
                    "saved {} ({}, full-resolution PSNR {psnr:.1} dB)",
                    safe(dest),
                    human_bytes(*bytes)
                ),
                theme::OK,
            );
        }
        Some(SaveEvent::Failed(error)) => {
            return Line::styled(format!("save failed: {}", safe(error)), theme::ERROR);
        }
        None => {}
    }
    Line::styled(
        "? help  ↑↓ photo  +/- k  d dither  c space  g chart  s save  q quit",
        theme::DIM,
    )
}
