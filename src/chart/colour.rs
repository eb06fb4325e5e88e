//! Terminal colours for the chart: a 24-bit colour as `Color::Rgb` on truecolour terminals, else
//! the nearest entry of the xterm 256-colour palette. Pure functions; the caller decides once
//! (from `COLORTERM`) which kind the terminal gets.

use ratatui::style::Color;

/// The six levels of each channel in the xterm 6×6×6 colour cube (indices 16..=231).
const CUBE_LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];

/// True when a `COLORTERM` value announces 24-bit colour.
pub fn truecolour_from_env(colorterm: Option<&str>) -> bool {
    colorterm.is_some_and(|v| {
        let v = v.trim();
        v.eq_ignore_ascii_case("truecolor") || v.eq_ignore_ascii_case("24bit")
    })
}

/// `rgb` as a terminal colour: itself when `truecolour`, else the nearest xterm-256 index.
pub fn term_colour(rgb: [u8; 3], truecolour: bool) -> Color {
    if truecolour {
        Color::Rgb(rgb[0], rgb[1], rgb[2])
    } else {
        Color::Indexed(xterm256(rgb))
    }
}

/// Nearest xterm-256 index among the colour cube and the grey ramp (232..=255). The 16 system
/// colours are skipped because terminals theme them, so their RGB value is unknown.
pub fn xterm256(rgb: [u8; 3]) -> u8 {
    let level = |c: u8| -> usize {
        // The nearest cube level; ties go to the lower one, which is as near.
        let mut best = 0;
        for (i, &l) in CUBE_LEVELS.iter().enumerate() {
            if c.abs_diff(l) < c.abs_diff(CUBE_LEVELS[best]) {
                best = i;
            }
        }
        best
    };
    let [r, g, b] = [level(rgb[0]), level(rgb[1]), level(rgb[2])];
    let cube = [CUBE_LEVELS[r], CUBE_LEVELS[g], CUBE_LEVELS[b]];
    // The grey ramp runs 8, 18, .., 238.
    let mean = (u32::from(rgb[0]) + u32::from(rgb[1]) + u32::from(rgb[2])) / 3;
    let step = (mean.saturating_sub(3) / 10).min(23);
    let grey_level = 8 + 10 * step;
    let grey_level = u8::try_from(grey_level).unwrap_or(238);
    let grey = [grey_level; 3];
    let cube_index = 16 + 36 * r + 6 * g + b;
    if dist2(rgb, grey) < dist2(rgb, cube) {
        232 + u8::try_from(step).unwrap_or(23)
    } else {
        u8::try_from(cube_index).unwrap_or(231)
    }
}

/// Rec. 601 luma, 0..=255: decides whether a marker needs a dark or a light background.
pub fn luma(rgb: [u8; 3]) -> u8 {
    let y = 299 * u32::from(rgb[0]) + 587 * u32::from(rgb[1]) + 114 * u32::from(rgb[2]);
    u8::try_from(y / 1000).unwrap_or(u8::MAX)
}

fn dist2(a: [u8; 3], b: [u8; 3]) -> u32 {
    (0..3).map(|i| u32::from(a[i].abs_diff(b[i])).pow(2)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colorterm_values() {
        assert!(truecolour_from_env(Some("truecolor")));
        assert!(truecolour_from_env(Some("24bit")));
        assert!(truecolour_from_env(Some("TrueColor")));
        assert!(!truecolour_from_env(Some("256")));
        assert!(!truecolour_from_env(Some("")));
        assert!(!truecolour_from_env(None));
    }

    #[test]
    fn truecolour_is_identity() {
        assert_eq!(term_colour([1, 2, 3], true), Color::Rgb(1, 2, 3));
    }

    #[test]
    fn nearest_256() {
        assert_eq!(xterm256([255, 0, 0]), 196);
        assert_eq!(xterm256([0, 0, 0]), 16);
        assert_eq!(xterm256([255, 255, 255]), 231);
        assert_eq!(xterm256([128, 128, 128]), 244);
        assert_eq!(xterm256([95, 135, 175]), 16 + 36 + 2 * 6 + 3);
        assert_eq!(term_colour([255, 0, 0], false), Color::Indexed(196));
        // Every input maps into the cube or the ramp, never onto a themed system colour.
        for v in (0..=255u8).step_by(5) {
            assert!(xterm256([v, v / 2, 255 - v]) >= 16);
        }
    }
}
