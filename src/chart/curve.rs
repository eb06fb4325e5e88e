//! The `PsnrCurve` widget: PSNR against k over the k ladder on a log-k axis, drawn in braille,
//! with the current k marked. Points arrive one by one (the worker fills the ladder in the
//! background), so any subset of the ladder may be known; the widget draws what it has.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::Widget;

/// The ks the curve is computed for: roughly ×1.5 steps, dense where the curve bends.
pub const K_LADDER: [u16; 15] = [2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256];
/// Columns left of the plot for the dB labels.
const GUTTER: u16 = 4;
const CURVE: Style = Style::new().fg(Color::Cyan);
const CURRENT: Style = Style::new().fg(Color::Yellow);
const FAINT: Style = Style::new().fg(Color::DarkGray);
/// x-axis ticks by priority, written where they fit.
const TICKS: [u16; 8] = [2, 256, 16, 4, 64, 8, 32, 128];
/// Braille dot bits by (column, row from the top), as in the scatter.
const DOT_BITS: [[u8; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];

/// PSNR (dB) against k, with the current k marked.
#[derive(Clone, Copy, Debug)]
pub struct PsnrCurve<'a> {
    points: &'a [(u16, f64)],
    current: u16,
}

impl<'a> PsnrCurve<'a> {
    /// `points`: the (k, PSNR) pairs known so far, in any order; infinite PSNR (lossless) is
    /// drawn at the top edge.
    pub fn new(points: &'a [(u16, f64)], current: u16) -> PsnrCurve<'a> {
        PsnrCurve { points, current }
    }
}

/// x in 0..1 of a k on the log axis from 2 to 256.
fn log_x(k: u16) -> f64 {
    let k = f64::from(k.clamp(2, 256));
    (k.log2() - 1.0) / 7.0
}

impl Widget for PsnrCurve<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        (&self).render(area, buf);
    }
}

impl Widget for &PsnrCurve<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let area = area.intersection(buf.area);
        if area.is_empty() {
            return;
        }
        let mut points: Vec<(u16, f64)> = self
            .points
            .iter()
            .copied()
            .filter(|(k, p)| (2..=256).contains(k) && !p.is_nan())
            .collect();
        points.sort_by_key(|&(k, _)| k);
        points.dedup_by_key(|p| p.0);
        let finite = points.iter().map(|p| p.1).filter(|p| p.is_finite());
        let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p), hi.max(p))
        });
        // Whole dB bounds with some headroom; a single point gets a 2 dB window.
        let (lo, hi) = if lo.is_finite() {
            ((lo - 0.5).floor(), (hi + 0.5).ceil().max(lo.floor() + 2.0))
        } else {
            (0.0, 1.0)
        };
        let current = points.iter().find(|p| p.0 == self.current).map(|p| p.1);
        let mut title = format!("PSNR vs k · k = {}", self.current);
        match current {
            Some(p) if p.is_finite() => title.push_str(&format!(" · {p:.1} dB")),
            Some(_) => title.push_str(" · lossless"),
            None => {}
        }
        if points.len() < K_LADDER.len() {
            title.push_str(&format!(" · {}/{}", points.len(), K_LADDER.len()));
        }
        buf.set_stringn(
            area.x,
            area.y,
            &title,
            usize::from(area.width),
            Style::new().add_modifier(Modifier::BOLD),
        );
        let plot = Rect {
            x: area.x.saturating_add(GUTTER.min(area.width)),
            y: area.y.saturating_add(1.min(area.height)),
            width: area.width.saturating_sub(GUTTER),
            height: area.height.saturating_sub(2),
        };
        if plot.is_empty() {
            return;
        }
        let (w, h) = (u32::from(plot.width) * 2, u32::from(plot.height) * 4);
        let dot = |k: u16, p: f64| -> (u32, u32) {
            let fx = log_x(k) * f64::from(w - 1);
            let p = if p.is_finite() { p.clamp(lo, hi) } else { hi };
            let fy = (hi - p) / (hi - lo) * f64::from(h - 1);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // in 0..w, 0..h
            (fx.round() as u32, fy.round() as u32)
        };
        let mut grid = vec![0u8; usize::from(plot.width) * usize::from(plot.height)];
        let mut set = |x: u32, y: u32| {
            let i = (y / 4) as usize * usize::from(plot.width) + (x / 2) as usize;
            if let Some(g) = grid.get_mut(i) {
                *g |= DOT_BITS[(x % 2) as usize][(y % 4) as usize];
            }
        };
        // Segments between consecutive known points, one dot per column.
        for pair in points.windows(2) {
            let ((x0, y0), (x1, y1)) = (dot(pair[0].0, pair[0].1), dot(pair[1].0, pair[1].1));
            for x in x0..=x1 {
                let t = if x1 > x0 {
                    f64::from(x - x0) / f64::from(x1 - x0)
                } else {
                    0.0
                };
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let y = (f64::from(y0) + t * (f64::from(y1) - f64::from(y0))).round() as u32;
                set(x, y);
            }
        }
        if let [(k, p)] = points.as_slice() {
            let (x, y) = dot(*k, *p);
            set(x, y);
        }
        for row in 0..plot.height {
            for col in 0..plot.width {
                let pattern = grid[usize::from(row) * usize::from(plot.width) + usize::from(col)];
                if pattern != 0 {
                    let symbol = char::from_u32(0x2800 + u32::from(pattern)).unwrap_or(' ');
                    buf[(plot.x + col, plot.y + row)]
                        .set_char(symbol)
                        .set_style(CURVE);
                }
            }
        }
        // The current k: a faint column where its PSNR is unknown yet, a marker where it is.
        let (cx, cy) = dot(self.current, current.unwrap_or(lo));
        let col = plot.x + u16::try_from(cx / 2).unwrap_or(0).min(plot.width - 1);
        if current.is_some() {
            let row = plot.y + u16::try_from(cy / 4).unwrap_or(0).min(plot.height - 1);
            buf[(col, row)].set_char('●').set_style(CURRENT);
        } else {
            for row in plot.y..plot.y + plot.height {
                buf[(col, row)].set_char('│').set_style(FAINT);
            }
        }
        // Labels: dB range on the left, k ticks below.
        if plot.x - area.x >= 3 && !points.is_empty() {
            let label = |v: f64| format!("{v:>3.0}");
            buf.set_stringn(area.x, plot.y, label(hi), 3, FAINT);
            if plot.height > 1 {
                buf.set_stringn(area.x, plot.y + plot.height - 1, label(lo), 3, FAINT);
            }
        }
        let below = plot.y + plot.height;
        if below < area.y + area.height {
            // Placed by priority (the current k, then the ends, then the middle), each only
            // where it overlaps none placed before, with a column between neighbours.
            let mut placed: Vec<(u16, u16)> = Vec::new();
            for k in std::iter::once(self.current).chain(TICKS) {
                let is_current = k == self.current;
                let (x, _) = dot(k, lo);
                let text = k.to_string();
                let len = u16::try_from(text.len()).unwrap_or(3);
                let start = (plot.x + u16::try_from(x / 2).unwrap_or(0)).saturating_sub(len / 2);
                let start = start.min((plot.x + plot.width).saturating_sub(len));
                let end = start + len;
                if placed.iter().any(|&(a, b)| start <= b && a <= end) {
                    continue;
                }
                placed.push((start, end));
                let style = if is_current { CURRENT } else { FAINT };
                buf.set_stringn(start, below, &text, usize::from(len), style);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_row(buf: &Buffer, y: u16) -> String {
        (buf.area.x..buf.area.x + buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_string())
            .collect()
    }

    fn ladder() -> Vec<(u16, f64)> {
        K_LADDER
            .iter()
            .map(|&k| (k, 20.0 + 4.0 * f64::from(k).log2()))
            .collect()
    }

    #[test]
    fn marks_current_k() {
        let area = Rect::new(0, 0, 40, 8);
        let mut buf = Buffer::empty(area);
        PsnrCurve::new(&ladder(), 16).render(area, &mut buf);
        assert!(
            text_row(&buf, 0).starts_with("PSNR vs k · k = 16 · 36.0 dB"),
            "{}",
            text_row(&buf, 0)
        );
        // 72 dots across, log2(16) − 1 = 3 of 7 → dot 30 → column 15 of the plot.
        let marker: Vec<(u16, u16)> = (0..8)
            .flat_map(|y| (0..40).map(move |x| (x, y)))
            .filter(|&(x, y)| buf[(x, y)].symbol() == "●")
            .collect();
        assert_eq!(marker.len(), 1);
        assert_eq!(marker[0].0, 4 + 15);
        assert_eq!(buf[marker[0]].fg, Color::Yellow);
        // The current k's tick is highlighted.
        let bottom = text_row(&buf, 7);
        assert!(bottom.contains("16"), "{bottom}");
        let at = bottom.find("16").unwrap_or(0);
        let x = u16::try_from(bottom[..at].chars().count()).unwrap_or(0);
        assert_eq!(buf[(x, 7)].fg, Color::Yellow);
        // A curve was drawn.
        let braille = buf.content().iter().filter(|c| c.fg == Color::Cyan).count();
        assert!(braille > 20, "{braille}");
    }

    #[test]
    fn unknown_current_k_is_a_faint_column() {
        let area = Rect::new(0, 0, 40, 8);
        let mut buf = Buffer::empty(area);
        let some: Vec<_> = ladder().into_iter().take(3).collect();
        PsnrCurve::new(&some, 100).render(area, &mut buf);
        assert!(text_row(&buf, 0).contains("3/15"));
        let bars = buf.content().iter().filter(|c| c.symbol() == "│").count();
        assert_eq!(bars, 6);
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let odd = [
            (2, f64::INFINITY),
            (1, 3.0),
            (999, 4.0),
            (8, f64::NAN),
            (8, 30.0),
            (8, 31.0),
        ];
        for area in [
            Rect::new(0, 0, 0, 0),
            Rect::new(0, 0, 1, 1),
            Rect::new(0, 0, 6, 3),
            Rect::new(0, 0, 50, 10),
        ] {
            for pts in [&[][..], &odd[..], &[(16, 30.0)][..]] {
                let mut buf = Buffer::empty(Rect::new(0, 0, 50, 10));
                PsnrCurve::new(pts, 0).render(area, &mut buf);
                PsnrCurve::new(pts, 16).render(area, &mut buf);
            }
        }
    }
}
