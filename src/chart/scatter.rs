//! The `Scatter` widget: draws a [`ScatterCells`] (already projected and binned) as coloured
//! braille, with axis labels, a title naming the projection, the cube's edges and corners as
//! faint guides, and the centroids on top. A pure function of its inputs: it projects nothing
//! but the label positions.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::Widget;

use super::colour::{luma, term_colour};
use super::project::{Geometry, Mark, Projection, ScatterCells};

/// Columns left of the plot for the y-axis labels ("255" and a space).
const GUTTER: u16 = 4;
/// Guides and labels: visible, but quieter than the data.
const FAINT: Style = Style::new().fg(Color::DarkGray);
/// The centroid marker: a filled disc, unlike any braille pattern.
pub const CENTROID: char = '●';

/// A colour-space scatter of a photo's pixels with the k centroids on top.
#[derive(Clone, Copy, Debug)]
pub struct Scatter<'a> {
    cells: &'a ScatterCells,
    centroids: &'a [Mark],
    subtitle: &'a str,
    truecolour: bool,
}

impl<'a> Scatter<'a> {
    /// The scatter of `cells`, without centroids or subtitle, in 256 colours.
    pub fn new(cells: &'a ScatterCells) -> Scatter<'a> {
        Scatter {
            cells,
            centroids: &[],
            subtitle: "",
            truecolour: false,
        }
    }

    /// Centroids to overlay, projected with the same projection and size as the cells.
    #[must_use]
    pub fn centroids(mut self, centroids: &'a [Mark]) -> Scatter<'a> {
        self.centroids = centroids;
        self
    }

    /// Shown after the projection name, e.g. "original" or "k = 16".
    #[must_use]
    pub fn subtitle(mut self, subtitle: &'a str) -> Scatter<'a> {
        self.subtitle = subtitle;
        self
    }

    /// Use 24-bit colours (else the nearest of the 256-colour palette).
    #[must_use]
    pub fn truecolour(mut self, truecolour: bool) -> Scatter<'a> {
        self.truecolour = truecolour;
        self
    }

    /// The part of `area` the dots occupy: the size to bin the cloud for. Independent of the
    /// projection, so cycling projections never changes the size the worker bins for.
    pub fn plot_area(area: Rect) -> Rect {
        Rect {
            x: area.x.saturating_add(GUTTER.min(area.width)),
            y: area.y.saturating_add(1.min(area.height)),
            width: area.width.saturating_sub(GUTTER),
            height: area.height.saturating_sub(2),
        }
    }
}

impl Widget for Scatter<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        (&self).render(area, buf);
    }
}

impl Widget for &Scatter<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let area = area.intersection(buf.area);
        if area.is_empty() {
            return;
        }
        self.title(area, buf);
        let plot = Scatter::plot_area(area);
        if plot.is_empty() {
            return;
        }
        self.axes(area, plot, buf);
        let cells = self.cells;
        // The cells may be for a slightly different size while a resize is in flight: draw the
        // overlap, anchored top-left.
        for row in 0..plot.height.min(cells.rows) {
            for col in 0..plot.width.min(cells.cols) {
                let (pattern, style) = match cells.cell(col, row) {
                    Some(c) if c.pattern != 0 => (
                        c.pattern,
                        Style::new().fg(term_colour(c.colour, self.truecolour)),
                    ),
                    _ => (cells.guide(col, row), FAINT),
                };
                if pattern == 0 {
                    continue;
                }
                let symbol = char::from_u32(0x2800 + u32::from(pattern)).unwrap_or(' ');
                buf[(plot.x + col, plot.y + row)]
                    .set_char(symbol)
                    .set_style(style);
            }
        }
        let inside =
            |m: &Mark| m.col < plot.width.min(cells.cols) && m.row < plot.height.min(cells.rows);
        for m in cells.labels.iter().filter(|m| inside(m)) {
            buf[(plot.x + m.col, plot.y + m.row)]
                .set_char(m.symbol)
                .set_style(
                    Style::new()
                        .fg(term_colour(m.colour, self.truecolour))
                        .add_modifier(Modifier::BOLD),
                );
        }
        // Centroids last, so they are on top of the dots and the guides.
        for m in self.centroids.iter().filter(|m| inside(m)) {
            let bg = if luma(m.colour) > 60 {
                Color::Black
            } else {
                Color::Gray
            };
            buf[(plot.x + m.col, plot.y + m.row)]
                .set_char(CENTROID)
                .set_style(
                    Style::new()
                        .fg(term_colour(m.colour, self.truecolour))
                        .bg(bg),
                );
        }
    }
}

impl Scatter<'_> {
    fn title(&self, area: Rect, buf: &mut Buffer) {
        let mut title = self.cells.projection.name().to_string();
        if !self.subtitle.is_empty() {
            title.push_str(" · ");
            title.push_str(self.subtitle);
        }
        title.push_str(&format!(" · {} px", self.cells.points));
        buf.set_stringn(
            area.x,
            area.y,
            &title,
            usize::from(area.width),
            Style::new().add_modifier(Modifier::BOLD),
        );
    }

    fn axes(&self, area: Rect, plot: Rect, buf: &mut Buffer) {
        let bottom = plot.y + plot.height;
        let Some(axes) = self.cells.projection.axes() else {
            if let Projection::Cube { yaw, .. } = self.cells.projection {
                let text = format!("yaw {:.0}°", yaw.to_degrees());
                right_aligned(buf, area.x + area.width, bottom, &text, area.width, FAINT);
            }
            return;
        };
        let geometry = Geometry::new(
            self.cells.projection,
            plot.width.min(self.cells.cols),
            plot.height.min(self.cells.rows),
        );
        let ((c0, c1), (r0, r1)) = geometry.span_cells();
        let (lo, hi) = axes.range;
        let number = |v: f32| {
            if lo < 0.0 && v > 0.0 {
                format!("+{v:.0}")
            } else {
                format!("{v:.0}")
            }
        };
        let gutter = plot.x - area.x;
        if gutter >= 3 {
            right_aligned(buf, plot.x - 1, plot.y + r0, &number(hi), gutter, FAINT);
            right_aligned(buf, plot.x - 1, plot.y + r1, &number(lo), gutter, FAINT);
            if r1 > r0 + 1 {
                right_aligned(
                    buf,
                    plot.x - 1,
                    plot.y + (r0 + r1) / 2,
                    axes.y,
                    gutter,
                    FAINT,
                );
            }
        }
        if bottom < area.y + area.height {
            let lo_text = number(lo);
            buf.set_stringn(
                plot.x + c0,
                bottom,
                &lo_text,
                usize::from(plot.width - c0),
                FAINT,
            );
            let hi_text = number(hi);
            right_aligned(buf, plot.x + c1 + 1, bottom, &hi_text, plot.width, FAINT);
            let mid = plot.x + (c0 + c1) / 2;
            if c1 > c0 + 8 {
                buf.set_stringn(mid, bottom, axes.x, 1, FAINT);
            }
        }
    }
}

/// Writes `text` so that it ends just before column `end`, using at most `room` columns.
fn right_aligned(buf: &mut Buffer, end: u16, y: u16, text: &str, room: u16, style: Style) {
    let len = u16::try_from(text.chars().count())
        .unwrap_or(u16::MAX)
        .min(room);
    let x = end.saturating_sub(len);
    buf.set_stringn(x, y, text, usize::from(len), style);
}

#[cfg(test)]
mod tests {
    use ratatui::layout::Position;

    use super::super::{ColourCloud, bin, project_marks};
    use super::*;

    fn render(s: &Scatter<'_>, area: Rect) -> Buffer {
        let mut buf = Buffer::empty(area);
        s.render(area, &mut buf);
        buf
    }

    /// Cells (relative to the plot) that hold a braille pattern, with their foreground.
    fn dots(buf: &Buffer, plot: Rect) -> Vec<(u16, u16, Color)> {
        let mut out = Vec::new();
        for row in 0..plot.height {
            for col in 0..plot.width {
                let cell = &buf[Position::new(plot.x + col, plot.y + row)];
                let ch = cell.symbol().chars().next().unwrap_or(' ');
                if ('\u{2801}'..='\u{28ff}').contains(&ch) {
                    out.push((col, row, cell.fg));
                }
            }
        }
        out
    }

    #[test]
    fn two_colours_give_two_clusters_in_rg() {
        // A synthetic two-colour image: dark red and light green, half each.
        let mut colours = vec![[200u8, 40, 30]; 500];
        colours.extend(vec![[40u8, 220, 60]; 500]);
        let area = Rect::new(0, 0, 36, 10);
        let plot = Scatter::plot_area(area);
        let cloud = ColourCloud::from_colours(&colours);
        let cells = bin(&cloud, Projection::Rg, plot.width, plot.height);
        let buf = render(&Scatter::new(&cells).truecolour(true), area);
        let lit = dots(&buf, plot);
        assert_eq!(lit.len(), 2, "{lit:?}");
        // 32 cells = 64 dots across R, 8 rows = 32 dots up G.
        // R 200 → dot 50 → col 25; G 40 → dot 5 up → 26 from the top → row 6.
        assert_eq!(lit[1], (25, 6, Color::Rgb(200, 40, 30)));
        // R 40 → dot 10 → col 5; G 220 → dot 27 up → 4 from the top → row 1.
        assert_eq!(lit[0], (5, 1, Color::Rgb(40, 220, 60)));
        // Title and axis labels.
        let top: String = (0..area.width)
            .map(|x| buf[(x, 0)].symbol().to_string())
            .collect();
        assert!(top.starts_with("R–G · 1000 px"), "{top}");
        assert_eq!(buf[(2, 1)].symbol(), "5");
        assert_eq!(buf[(2, 8)].symbol(), "0");
        assert_eq!(buf[(4, 9)].symbol(), "0");
        assert_eq!(buf[(35, 9)].symbol(), "5");
    }

    #[test]
    fn centroids_are_drawn_on_top() {
        let colours = vec![[200u8, 40, 30]; 10];
        let area = Rect::new(0, 0, 36, 10);
        let plot = Scatter::plot_area(area);
        let cells = bin(
            &ColourCloud::from_colours(&colours),
            Projection::Rg,
            plot.width,
            plot.height,
        );
        let marks = project_marks(
            Projection::Rg,
            plot.width,
            plot.height,
            &[[200, 40, 30], [0, 0, 0]],
        );
        let buf = render(
            &Scatter::new(&cells).centroids(&marks).truecolour(true),
            area,
        );
        // The centroid replaced the dots of its own cluster.
        assert!(dots(&buf, plot).is_empty());
        let cell = &buf[(plot.x + 25, plot.y + 6)];
        assert_eq!(cell.symbol(), "●");
        assert_eq!(cell.fg, Color::Rgb(200, 40, 30));
        assert_eq!(cell.bg, Color::Black);
        // A dark centroid gets a light background, so it is seen on a dark terminal.
        let black = &buf[(plot.x, plot.y + plot.height - 1)];
        assert_eq!((black.symbol(), black.bg), ("●", Color::Gray));
    }

    #[test]
    fn empty_and_tiny_areas_do_not_panic() {
        let empty = bin(&ColourCloud::default(), Projection::Rg, 0, 0);
        let cube = Projection::OklabAb.next();
        let full = bin(&ColourCloud::from_colours(&[[1, 2, 3]]), cube, 50, 20);
        let marks = project_marks(cube, 50, 20, &[[9, 9, 9]]);
        for area in [
            Rect::new(0, 0, 0, 0),
            Rect::new(0, 0, 1, 1),
            Rect::new(0, 0, 5, 2),
            Rect::new(3, 2, 7, 3),
            Rect::new(0, 0, 80, 30),
        ] {
            for cells in [&empty, &full] {
                let s = Scatter::new(cells).centroids(&marks).subtitle("compressed");
                let mut buf = Buffer::empty(Rect::new(0, 0, 90, 40));
                s.render(area, &mut buf);
            }
        }
        // An area partly outside the buffer is clipped.
        let mut buf = Buffer::empty(Rect::new(0, 0, 10, 5));
        Scatter::new(&full).render(Rect::new(5, 2, 60, 30), &mut buf);
    }

    #[test]
    fn cube_draws_edges_corners_and_yaw() {
        let area = Rect::new(0, 0, 60, 22);
        let plot = Scatter::plot_area(area);
        let cube = Projection::OklabAb.next();
        let cells = bin(&ColourCloud::default(), cube, plot.width, plot.height);
        let buf = render(&Scatter::new(&cells), area);
        let faint = dots(&buf, plot)
            .iter()
            .filter(|d| d.2 == Color::DarkGray)
            .count();
        assert!(faint > 40, "{faint}");
        // Only the plot: the title ("RGB cube") would match R, G and B by itself.
        let text: String = (plot.top()..plot.bottom())
            .flat_map(|y| (plot.left()..plot.right()).map(move |x| (x, y)))
            .map(|p| buf[p].symbol().to_string())
            .collect();
        for corner in ["K", "R", "G", "B", "C", "M", "Y", "W"] {
            assert!(text.contains(corner), "{corner}");
        }
        let bottom: String = (0..area.width)
            .map(|x| buf[(x, area.bottom() - 1)].symbol().to_string())
            .collect();
        assert!(bottom.ends_with("yaw 30°"), "{bottom}");
    }
}
