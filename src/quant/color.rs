//! Colour spaces the clustering runs in: 8-bit sRGB and Oklab.
//!
//! Points are `[f32; 3]`. Oklab coordinates are scaled by 255 so that one unit means roughly
//! the same amount of visible change in both spaces, and one convergence epsilon fits both.

use std::sync::OnceLock;

use super::ColorSpace;

/// Oklab coordinates are multiplied by this so that L spans 0..255 like an sRGB channel.
const OKLAB_SCALE: f32 = 255.0;

fn srgb_to_linear_table() -> &'static [f32; 256] {
    static TABLE: OnceLock<[f32; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0.0; 256];
        for (i, v) in t.iter_mut().enumerate() {
            let c = i as f32 / 255.0;
            *v = if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            };
        }
        t
    })
}

fn linear_to_srgb(c: f32) -> f32 {
    let c = c.clamp(0.0, 1.0);
    let v = if c <= 0.003_130_8 {
        12.92 * c
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    };
    v * 255.0
}

/// sRGB (8-bit) to scaled Oklab.
pub fn srgb_to_oklab(rgb: [u8; 3]) -> [f32; 3] {
    let t = srgb_to_linear_table();
    let [r, g, b] = rgb.map(|c| t[usize::from(c)]);
    oklab_from_linear([r, g, b])
}

/// Linear-light RGB (0..1) to scaled Oklab.
pub fn oklab_from_linear([r, g, b]: [f32; 3]) -> [f32; 3] {
    let l = 0.412_221_46 * r + 0.536_332_55 * g + 0.051_445_995 * b;
    let m = 0.211_903_5 * r + 0.680_699_5 * g + 0.107_396_96 * b;
    let s = 0.088_302_46 * r + 0.281_718_85 * g + 0.629_978_7 * b;
    let (l, m, s) = (l.cbrt(), m.cbrt(), s.cbrt());
    [
        OKLAB_SCALE * (0.210_454_26 * l + 0.793_617_8 * m - 0.004_072_047 * s),
        OKLAB_SCALE * (1.977_998_5 * l - 2.428_592_2 * m + 0.450_593_7 * s),
        OKLAB_SCALE * (0.025_904_037 * l + 0.782_771_77 * m - 0.808_675_77 * s),
    ]
}

/// Scaled Oklab to sRGB (0..255 floats, clamped to the gamut).
pub fn oklab_to_srgb_f32(p: [f32; 3]) -> [f32; 3] {
    let [lum, a, b] = p.map(|c| c / OKLAB_SCALE);
    let l = lum + 0.396_337_78 * a + 0.215_803_76 * b;
    let m = lum - 0.105_561_346 * a - 0.063_854_17 * b;
    let s = lum - 0.089_484_18 * a - 1.291_485_5 * b;
    let (l, m, s) = (l * l * l, m * m * m, s * s * s);
    [
        linear_to_srgb(4.076_741_7 * l - 3.307_711_6 * m + 0.230_969_94 * s),
        linear_to_srgb(-1.268_438 * l + 2.609_757_4 * m - 0.341_319_38 * s),
        linear_to_srgb(-0.004_196_086_3 * l - 0.703_418_6 * m + 1.707_614_7 * s),
    ]
}

fn round_channel(v: f32) -> u8 {
    // Clamped first, so the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let c = v.round().clamp(0.0, 255.0) as u8;
    c
}

impl ColorSpace {
    /// The clustering coordinates of an 8-bit sRGB colour.
    pub fn point(self, rgb: [u8; 3]) -> [f32; 3] {
        match self {
            ColorSpace::Srgb => rgb.map(f32::from),
            ColorSpace::Oklab => srgb_to_oklab(rgb),
        }
    }

    /// The clustering coordinates of an sRGB colour given as floats (0..255, may be out of range
    /// while dithering).
    pub fn point_f32(self, rgb: [f32; 3]) -> [f32; 3] {
        match self {
            ColorSpace::Srgb => rgb,
            ColorSpace::Oklab => {
                let lin = rgb.map(|c| {
                    let c = (c / 255.0).clamp(0.0, 1.0);
                    if c <= 0.040_45 {
                        c / 12.92
                    } else {
                        ((c + 0.055) / 1.055).powf(2.4)
                    }
                });
                oklab_from_linear(lin)
            }
        }
    }

    /// The nearest 8-bit sRGB colour of a point.
    pub fn rgb(self, p: [f32; 3]) -> [u8; 3] {
        match self {
            ColorSpace::Srgb => p.map(round_channel),
            ColorSpace::Oklab => oklab_to_srgb_f32(p).map(round_channel),
        }
    }
}

/// Squared Euclidean distance.
#[inline]
pub fn dist2(a: [f32; 3], b: [f32; 3]) -> f32 {
    let d0 = a[0] - b[0];
    let d1 = a[1] - b[1];
    let d2 = a[2] - b[2];
    d0 * d0 + d1 * d1 + d2 * d2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oklab_round_trips_every_grey_and_primaries() {
        for v in 0..=255u8 {
            let c = [v, v, v];
            assert_eq!(ColorSpace::Oklab.rgb(ColorSpace::Oklab.point(c)), c);
        }
        for c in [
            [255, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [255, 255, 0],
            [12, 200, 99],
        ] {
            assert_eq!(ColorSpace::Oklab.rgb(ColorSpace::Oklab.point(c)), c);
        }
    }

    #[test]
    fn oklab_white_is_l_255() {
        let p = ColorSpace::Oklab.point([255, 255, 255]);
        assert!((p[0] - 255.0).abs() < 0.1, "{p:?}");
        assert!(p[1].abs() < 0.1 && p[2].abs() < 0.1, "{p:?}");
    }
}
