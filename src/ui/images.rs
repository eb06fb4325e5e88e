//! The two picture panes, "original" and "k = N · compressed": the worker's ready-made
//! `Protocol` drawn with the stateless `Image` widget, or a placeholder saying what is being
//! computed, or the error for this photo. Never a stale picture of another photo.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui_image::Image;

use super::{Areas, theme};
use crate::app::{App, PaneState};

/// Draw both panes.
pub fn draw(frame: &mut Frame, areas: &Areas, app: &App) {
    let preview = &app.preview;
    let k = if preview.request.is_some() {
        preview.k
    } else {
        app.settings.k()
    };
    let mut compressed_title = format!(" k = {k} · compressed ");
    if let PaneState::Loading {
        previous: Some(previous),
        ..
    } = &preview.compressed
    {
        compressed_title = format!(" k = {} → {k} · quantizing… ", previous.k);
    }
    // Once known, the count of the file `s` would write: the preview of a photo with three
    // colours can hold seven, blended in by resampling.
    let used = match (&preview.full_stats, &preview.stats) {
        (Some(full), _) => Some(full.colours),
        (None, stats) => stats.as_ref().map(|s| s.colours),
    };
    if let Some(used) = used
        && used < usize::from(k)
    {
        compressed_title = format!(" k = {k} ({used} used) · compressed ");
    }
    let waiting_for_decode = preview.original.is_loading();
    pane(
        frame,
        areas.original,
        (" original ", original_footer(app, areas.original.width)),
        &preview.original,
        "decoding…".to_owned(),
        app,
    );
    let pending = if waiting_for_decode {
        "decoding…".to_owned()
    } else {
        format!("quantizing k={k}…")
    };
    // The status line has the full-resolution figures; these are the preview's own.
    let figures = preview.stats.as_ref().map(|s| {
        format!(
            " {}×{} preview · {} ",
            s.preview_size.0,
            s.preview_size.1,
            super::stats::psnr(s.psnr)
        )
    });
    pane(
        frame,
        areas.compressed,
        (&compressed_title, figures),
        &preview.compressed,
        pending,
        app,
    );
}

/// Sixel carries at most 256 colours, so the terminal protocol itself re-quantizes the
/// original; say so rather than let it pass for the real thing.
fn original_footer(app: &App, width: u16) -> Option<String> {
    let note = if width >= 38 {
        " sixel re-quantizes to ≤256 colours "
    } else {
        " ≤256 colours (sixel) "
    };
    app.status.requantizes.then(|| note.to_owned())
}

fn pane(
    frame: &mut Frame,
    area: Rect,
    (title, footer): (&str, Option<String>),
    state: &PaneState,
    pending: String,
    app: &App,
) {
    let mut block = Block::bordered()
        .border_style(theme::BORDER)
        .title(Span::styled(title.to_owned(), theme::TITLE));
    if let Some(footer) = footer {
        block = block.title_bottom(Span::styled(footer, theme::DIM));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    match state {
        PaneState::Ready { protocol, .. } => {
            // The help overlay covers the panes; graphics would shine through it.
            if !app.show_help {
                frame.render_widget(Image::new(protocol), centred(inner, protocol.size()));
            }
        }
        PaneState::Loading {
            previous: Some(previous),
            ..
        } => {
            if !app.show_help {
                let protocol = &previous.protocol;
                frame.render_widget(Image::new(protocol), centred(inner, protocol.size()));
            }
        }
        PaneState::Loading { previous: None, .. } => {
            frame.render_widget(Paragraph::new(Span::styled(pending, theme::PENDING)), inner);
        }
        PaneState::Failed { error, .. } => {
            let text = vec![
                Line::from(Span::styled("cannot show this photo:", theme::ERROR)),
                Line::from(Span::styled(super::safe(error).into_owned(), theme::ERROR)),
            ];
            frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), inner);
        }
        PaneState::Idle => {
            let text = if app.status.protocol.is_none() {
                "detecting terminal graphics…"
            } else if app.library.scanning {
                "waiting for the first photo…"
            } else {
                "no photo selected"
            };
            frame.render_widget(Paragraph::new(Span::styled(text, theme::DIM)), inner);
        }
    }
}

/// The part of `area` where a picture of `size` cells sits centred.
fn centred(area: Rect, size: ratatui::layout::Size) -> Rect {
    let width = size.width.min(area.width);
    let height = size.height.min(area.height);
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}
