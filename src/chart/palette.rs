//! The `PaletteStrip` widget: the k palette colours as swatches whose widths are proportional to
//! their pixel share, and a legend with the hex code and share of the largest few. Pure: palette
//! and counts in, cells out.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::Widget;

use super::colour::term_colour;

/// How many of the largest colours the legend names (as many as fit).
const LABELLED: usize = 4;

/// The palette as proportional swatches.
#[derive(Clone, Copy, Debug)]
pub struct PaletteStrip<'a> {
    palette: &'a [[u8; 3]],
    counts: &'a [u64],
    truecolour: bool,
}

impl<'a> PaletteStrip<'a> {
    /// `palette[i]` covers `counts[i]` pixels (extra entries of either are ignored).
    pub fn new(palette: &'a [[u8; 3]], counts: &'a [u64]) -> PaletteStrip<'a> {
        PaletteStrip {
            palette,
            counts,
            truecolour: false,
        }
    }

    /// Use 24-bit colours (else the nearest of the 256-colour palette).
    #[must_use]
    pub fn truecolour(mut self, truecolour: bool) -> PaletteStrip<'a> {
        self.truecolour = truecolour;
        self
    }
}

/// Splits `width` columns in proportion to `counts` (largest-remainder rounding, so the widths
/// add up to `width` exactly whenever some count is non-zero). Small entries may get 0.
pub fn swatch_widths(counts: &[u64], width: u16) -> Vec<u16> {
    let total: u128 = counts.iter().map(|&c| u128::from(c)).sum();
    if total == 0 {
        return vec![0; counts.len()];
    }
    let scaled: Vec<u128> = counts
        .iter()
        .map(|&c| u128::from(c) * u128::from(width))
        .collect();
    let mut widths: Vec<u16> = scaled
        .iter()
        .map(|&s| u16::try_from(s / total).unwrap_or(width))
        .collect();
    let used: u32 = widths.iter().map(|&w| u32::from(w)).sum();
    let mut left = u32::from(width).saturating_sub(used);
    // The leftover columns go to the largest remainders; ties to the earlier (larger) entry.
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(scaled[i] % total));
    for i in order {
        if left == 0 {
            break;
        }
        widths[i] += 1;
        left -= 1;
    }
    widths
}

impl Widget for PaletteStrip<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        (&self).render(area, buf);
    }
}

impl Widget for &PaletteStrip<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let area = area.intersection(buf.area);
        if area.is_empty() {
            return;
        }
        let n = self.palette.len().min(self.counts.len());
        let counts = &self.counts[..n];
        let total: u64 = counts.iter().sum();
        let widths = swatch_widths(counts, area.width);
        let mut largest: Vec<usize> = (0..n).collect();
        largest.sort_by_key(|&i| std::cmp::Reverse(counts[i]));
        largest.truncate(LABELLED);
        // With room for it, the last row is a legend: hex and share of the largest few
        // (swatches of a 16-colour palette are too narrow to carry a label themselves).
        let legend = area.height >= 2;
        let swatch_rows = if legend { area.height - 1 } else { area.height };
        let mut x = area.x;
        for (&rgb, &w) in self.palette.iter().zip(&widths) {
            if w == 0 {
                continue;
            }
            let swatch = Rect::new(x, area.y, w, swatch_rows).intersection(area);
            x = x.saturating_add(w);
            buf.set_style(swatch, Style::new().bg(term_colour(rgb, self.truecolour)));
            for y in swatch.top()..swatch.bottom() {
                for sx in swatch.left()..swatch.right() {
                    buf[(sx, y)].set_char(' ');
                }
            }
        }
        if !legend {
            return;
        }
        let y = area.bottom() - 1;
        let mut x = area.x;
        for &i in &largest {
            let rgb = self.palette[i];
            #[allow(clippy::cast_precision_loss)] // a percentage
            let share = 100.0 * counts[i] as f64 / total.max(1) as f64;
            let text = format!(" #{:02x}{:02x}{:02x} {share:.0}%  ", rgb[0], rgb[1], rgb[2]);
            let len = u16::try_from(text.chars().count() + 1).unwrap_or(u16::MAX);
            if x.saturating_add(len) > area.right() + 2 {
                break;
            }
            buf.set_stringn(
                x,
                y,
                "■",
                1,
                Style::new().fg(term_colour(rgb, self.truecolour)),
            );
            buf.set_stringn(
                x + 1,
                y,
                &text,
                usize::from(area.right().saturating_sub(x + 1)),
                Style::new(),
            );
            x = x.saturating_add(len);
        }
    }
}

#[cfg(test)]
mod tests {
    use ratatui::style::Color;

    use super::*;

    #[test]
    fn widths_are_proportional_and_exact() {
        assert_eq!(swatch_widths(&[3, 1], 8), [6, 2]);
        assert_eq!(swatch_widths(&[1, 1, 1], 10), [4, 3, 3]);
        assert_eq!(swatch_widths(&[50, 30, 20], 10), [5, 3, 2]);
        assert_eq!(swatch_widths(&[1000, 1, 1], 10), [10, 0, 0]);
        assert_eq!(swatch_widths(&[0, 0], 10), [0, 0]);
        assert_eq!(swatch_widths(&[], 10), Vec::<u16>::new());
        assert_eq!(
            swatch_widths(&[u64::MAX, u64::MAX], u16::MAX)
                .iter()
                .map(|&w| u32::from(w))
                .sum::<u32>(),
            65_535
        );
    }

    #[test]
    fn renders_swatches_and_legend() {
        let palette = [[255, 0, 0], [0, 0, 255]];
        let counts = [3, 1];
        let area = Rect::new(0, 0, 40, 3);
        let mut buf = Buffer::empty(area);
        PaletteStrip::new(&palette, &counts)
            .truecolour(true)
            .render(area, &mut buf);
        for y in 0..2 {
            let bgs: Vec<Color> = (0..40).map(|x| buf[(x, y)].bg).collect();
            assert_eq!(
                bgs.iter().filter(|&&c| c == Color::Rgb(255, 0, 0)).count(),
                30
            );
            assert_eq!(
                bgs.iter().filter(|&&c| c == Color::Rgb(0, 0, 255)).count(),
                10
            );
        }
        let legend: String = (0..40).map(|x| buf[(x, 2)].symbol().to_string()).collect();
        assert!(
            legend.starts_with("■ #ff0000 75%  ■ #0000ff 25%"),
            "{legend}"
        );
        assert_eq!(buf[(0, 2)].fg, Color::Rgb(255, 0, 0));
        assert_eq!(buf[(15, 2)].fg, Color::Rgb(0, 0, 255));
        // One row: swatches only.
        let area = Rect::new(0, 0, 8, 1);
        let mut buf = Buffer::empty(area);
        PaletteStrip::new(&palette, &counts).render(area, &mut buf);
        assert_eq!(buf[(7, 0)].bg, Color::Indexed(21));
    }

    #[test]
    fn empty_and_zero_size() {
        for area in [
            Rect::new(0, 0, 0, 0),
            Rect::new(0, 0, 1, 1),
            Rect::new(2, 0, 30, 4),
        ] {
            let mut buf = Buffer::empty(Rect::new(0, 0, 20, 2));
            PaletteStrip::new(&[], &[]).render(area, &mut buf);
            PaletteStrip::new(&[[1, 2, 3], [4, 5, 6]], &[5]).render(area, &mut buf);
        }
    }
}
