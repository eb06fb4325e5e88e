//! Engine invariants users rely on: palette bounds, valid indices, determinism, monotone error,
//! lossless when k covers every colour, cancellation.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use kquant::quant::{
    Cancelled, ColorSpace, Control, Histogram, Params, Pixels, Progress, quantize, quantize_with,
};
use proptest::prelude::*;

fn pixels(width: u32, height: u32, rgb: Vec<[u8; 3]>) -> Pixels {
    Pixels {
        width,
        height,
        rgb: rgb.into(),
        alpha: None,
    }
}

/// A noisy gradient with tens of thousands of distinct colours, so the coarse levels run.
fn photo_like(width: u32, height: u32, seed: u64) -> Pixels {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut noise = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) % 24) as u8
    };
    let rgb = (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .map(|(x, y)| {
            let r = (x * 255 / width.max(1)) as u8;
            let g = (y * 255 / height.max(1)) as u8;
            let b = ((x + y) * 127 / (width + height).max(1)) as u8;
            [
                r.saturating_add(noise()),
                g.saturating_add(noise()),
                b.saturating_add(noise()),
            ]
        })
        .collect();
    pixels(width, height, rgb)
}

fn distinct(px: &Pixels) -> usize {
    px.rgb.iter().collect::<HashSet<_>>().len()
}

fn check_output(px: &Pixels, params: &Params) {
    let q = quantize(px, params, &Control::none()).unwrap();
    let d = distinct(px);
    assert!(
        q.palette.len() <= usize::from(params.k.max(1)),
        "palette > k"
    );
    assert!(q.palette.len() <= d, "palette > distinct colours");
    assert_eq!(q.indices.len(), px.len());
    assert!(q.indices.iter().all(|&i| usize::from(i) < q.palette.len()));
    assert_eq!(q.counts.iter().sum::<u64>(), px.len() as u64);
    assert!(
        q.counts.windows(2).all(|w| w[0] >= w[1]),
        "palette not sorted by share"
    );
    if usize::from(params.k) >= d {
        assert_eq!(q.mse, 0.0, "k >= distinct colours must be lossless");
        assert!(q.psnr.is_infinite());
        let got: HashSet<_> = q.palette.iter().collect();
        let want: HashSet<_> = px.rgb.iter().collect();
        assert_eq!(got, want);
    }
    // Re-derive the MSE from the output to check the reported metric.
    let sq: u64 = px
        .rgb
        .iter()
        .zip(&q.indices)
        .map(|(c, &i)| {
            let p = q.palette[usize::from(i)];
            (0..3)
                .map(|ch| u64::from(c[ch].abs_diff(p[ch])).pow(2))
                .sum::<u64>()
        })
        .sum();
    let mse = sq as f64 / (3.0 * px.len().max(1) as f64);
    assert!(
        (mse - q.mse).abs() <= 1e-9 * mse.max(1.0),
        "{mse} vs {}",
        q.mse
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn palette_and_indices_are_valid(
        w in 1u32..24, h in 1u32..24, k in 1u16..=40, seed in any::<u64>(),
        oklab in any::<bool>(), dither in any::<bool>(),
        colours in prop::collection::vec(any::<[u8; 3]>(), 1..12),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 576),
    ) {
        let rgb = (0..(w * h) as usize).map(|i| colours[picks[i].index(colours.len())]).collect();
        let px = pixels(w, h, rgb);
        let space = if oklab { ColorSpace::Oklab } else { ColorSpace::Srgb };
        check_output(&px, &Params { k, seed, space, dither, ..Params::default() });
    }

    #[test]
    fn arbitrary_colours_stay_within_bounds(
        w in 1u32..40, h in 1u32..40, k in 1u16..=256, seed in any::<u64>(),
        data in prop::collection::vec(any::<[u8; 3]>(), 1600),
    ) {
        let px = pixels(w, h, data[..(w * h) as usize].to_vec());
        check_output(&px, &Params { k, seed, ..Params::default() });
    }

    #[test]
    fn same_seed_same_output(seed in any::<u64>(), k in 2u16..=64, oklab in any::<bool>()) {
        let px = photo_like(64, 48, seed);
        let space = if oklab { ColorSpace::Oklab } else { ColorSpace::Srgb };
        let params = Params { k, seed, space, ..Params::default() };
        let a = quantize(&px, &params, &Control::none()).unwrap();
        let b = quantize(&px, &params, &Control::none()).unwrap();
        prop_assert_eq!(a, b);
    }
}

/// Records the inertia reported after every iteration.
fn inertia_trace(px: &Pixels, params: &Params) -> Vec<f64> {
    let trace = Mutex::new(Vec::new());
    let never = || false;
    let record = |p: &Progress<'_>| trace.lock().unwrap().push(p.inertia);
    let control = Control::new(&never, &record);
    quantize(px, params, &control).unwrap();
    trace.into_inner().unwrap()
}

#[test]
fn weighted_error_never_increases_between_iterations() {
    // 300x200 noisy gradient: > 16k distinct colours, so the binned levels and the exact level
    // all run and the trace crosses both level changes.
    let px = photo_like(300, 200, 1);
    assert!(distinct(&px) > 16_384);
    for space in [ColorSpace::Srgb, ColorSpace::Oklab] {
        for k in [2u16, 16, 64] {
            let trace = inertia_trace(
                &px,
                &Params {
                    k,
                    space,
                    ..Params::default()
                },
            );
            assert!(
                trace.len() >= 2,
                "expected several iterations, got {trace:?}"
            );
            for w in trace.windows(2) {
                assert!(
                    w[1] <= w[0] * (1.0 + 1e-9),
                    "{space} k={k}: {} then {}",
                    w[0],
                    w[1]
                );
            }
        }
    }
}

#[test]
fn deterministic_on_the_coarse_path_and_seed_matters() {
    let px = photo_like(300, 200, 2);
    let p = Params::new(32);
    let a = quantize(&px, &p, &Control::none()).unwrap();
    let b = quantize(&px, &p, &Control::none()).unwrap();
    assert_eq!(a, b);
    let h = Histogram::new(&px);
    let c = quantize_with(&px, &h, &p, &Control::none()).unwrap();
    assert_eq!(a, c, "a reused histogram must give the same result");
    check_output(&px, &p);
}

#[test]
fn large_images_remap_through_the_colour_table_too() {
    // Remapping switches from a binary search to a 16 MB table at 2^19 pixels; both must
    // give every pixel the entry the reported error was computed with.
    let px = photo_like(1024, 520, 5);
    assert!(px.len() >= 1 << 19);
    check_output(&px, &Params::new(64));
}

#[test]
fn more_colours_never_hurt_much() {
    // Not strictly monotone for k-means, but a bigger palette must not be clearly worse.
    let px = photo_like(200, 150, 3);
    let mut last = 0.0;
    for k in [2u16, 4, 8, 16, 32, 64, 128, 256] {
        let q = quantize(&px, &Params::new(k), &Control::none()).unwrap();
        assert!(q.psnr >= last - 0.05, "k={k}: {} after {last}", q.psnr);
        last = q.psnr;
    }
}

#[test]
fn cancellation_stops_between_iterations() {
    let px = photo_like(300, 200, 4);
    let calls = AtomicU32::new(0);
    let cancel = || calls.fetch_add(1, Ordering::Relaxed) >= 3;
    let got = quantize(&px, &Params::new(64), &Control::cancel_only(&cancel));
    assert_eq!(got, Err(Cancelled));
}

#[test]
fn one_colour_and_empty_images() {
    let px = pixels(3, 2, vec![[7, 8, 9]; 6]);
    let q = quantize(&px, &Params::new(16), &Control::none()).unwrap();
    assert_eq!(q.palette, vec![[7, 8, 9]]);
    assert!(q.psnr.is_infinite());

    let empty = pixels(0, 0, Vec::new());
    let q = quantize(&empty, &Params::new(16), &Control::none()).unwrap();
    assert!(q.palette.is_empty() && q.indices.is_empty());
}

#[test]
fn k_one_is_the_mean_colour() {
    let px = pixels(2, 1, vec![[0, 0, 0], [200, 100, 50]]);
    let q = quantize(&px, &Params::new(1), &Control::none()).unwrap();
    assert_eq!(q.palette, vec![[100, 50, 25]]);
}

#[test]
fn two_clear_clusters_are_found() {
    let mut rgb = vec![[250, 10, 10]; 50];
    rgb.extend(vec![[252, 12, 8]; 50]);
    rgb.extend(vec![[10, 10, 240]; 100]);
    let px = pixels(20, 10, rgb);
    let q = quantize(&px, &Params::new(2), &Control::none()).unwrap();
    assert_eq!(q.palette, vec![[10, 10, 240], [251, 11, 9]]);
}

#[test]
fn dithering_keeps_the_average_colour() {
    // A flat colour between two palette entries: dithering mixes them, plain remap cannot.
    let mut rgb = vec![[0, 0, 0]; 10];
    rgb.extend(vec![[255, 255, 255]; 10]);
    rgb.extend(vec![[100, 100, 100]; 380]);
    let px = pixels(20, 20, rgb);
    // k = 2 puts one entry near 100 grey; force the question with an image that needs mixing.
    let q = quantize(
        &px,
        &Params {
            k: 2,
            dither: true,
            ..Params::default()
        },
        &Control::none(),
    )
    .unwrap();
    assert!(q.indices.iter().all(|&i| usize::from(i) < q.palette.len()));
    let mean: f64 = q
        .indices
        .iter()
        .map(|&i| f64::from(q.palette[usize::from(i)][0]))
        .sum::<f64>()
        / 400.0;
    let want: f64 = px.rgb.iter().map(|c| f64::from(c[0])).sum::<f64>() / 400.0;
    assert!((mean - want).abs() < 3.0, "dithered mean {mean} vs {want}");
}

#[test]
fn transparent_pixels_take_no_part_in_the_palette() {
    // A photo with every seventh pixel fully transparent, hiding colours of its own.
    let mut px = photo_like(120, 90, 5);
    let hide = |i: usize| i % 7 == 3;
    let mut alpha = vec![255u8; px.len()];
    let mut rgb: Vec<[u8; 3]> = px.rgb.to_vec();
    for (i, (c, a)) in rgb.iter_mut().zip(&mut alpha).enumerate() {
        if hide(i) {
            *a = 0;
            *c = [(i * 37) as u8, 250, (i * 11) as u8];
        }
    }
    let shown: Vec<[u8; 3]> = (0..rgb.len())
        .filter(|&i| !hide(i))
        .map(|i| rgb[i])
        .collect();
    px.rgb = rgb.into();
    px.alpha = Some(alpha);
    for k in [4u16, 17, 64] {
        // One entry is the transparent one: k − 1 colours, as the visible pixels alone give.
        let with_hidden = quantize(&px, &Params::new(k), &Control::none()).unwrap();
        let alone = pixels(shown.len() as u32, 1, shown.clone());
        let visible = quantize(&alone, &Params::new(k - 1), &Control::none()).unwrap();
        assert_eq!(with_hidden.palette, visible.palette, "k {k}");
        assert_eq!(with_hidden.counts, visible.counts, "k {k}");
        // The error is the visible pixels' too.
        assert_eq!(with_hidden.mse, visible.mse, "k {k}");
        // Hidden pixels still get their nearest entry (the RGB planes are shown as they are).
        let dist = |a: [u8; 3], b: [u8; 3]| -> u32 {
            (0..3).map(|c| u32::from(a[c].abs_diff(b[c])).pow(2)).sum()
        };
        for (i, (&c, &e)) in px.rgb.iter().zip(&*with_hidden.indices).enumerate() {
            if hide(i) {
                let best = with_hidden.palette.iter().map(|&p| dist(c, p)).min();
                assert_eq!(Some(dist(c, with_hidden.palette[usize::from(e)])), best);
            }
        }
    }
}

#[test]
fn dithering_ignores_what_transparent_pixels_hide() {
    // A gradient with a transparent band down the middle: whatever RGB the band hides, no
    // visible pixel may change (its error must not spread into what is seen).
    let (w, h) = (48u32, 24u32);
    let hidden = |i: usize| (16..32).contains(&(i % w as usize));
    let image = |fill: [u8; 3]| {
        let rgb: Vec<[u8; 3]> = (0..(w * h) as usize)
            .map(|i| {
                if hidden(i) {
                    fill
                } else {
                    let (x, y) = ((i % w as usize) as u8, (i / w as usize) as u8);
                    [x * 5, y * 10, 128]
                }
            })
            .collect();
        let alpha = (0..rgb.len())
            .map(|i| if hidden(i) { 0 } else { 255 })
            .collect();
        Pixels {
            alpha: Some(alpha),
            ..pixels(w, h, rgb)
        }
    };
    let params = Params {
        dither: true,
        ..Params::new(8)
    };
    let dark = quantize(&image([0, 0, 0]), &params, &Control::none()).unwrap();
    let light = quantize(&image([255, 255, 255]), &params, &Control::none()).unwrap();
    assert_eq!(dark.palette, light.palette);
    let seen = |q: &kquant::quant::Quantized| -> Vec<u8> {
        (0..q.indices.len())
            .filter(|&i| !hidden(i))
            .map(|i| q.indices[i])
            .collect()
    };
    assert_eq!(seen(&dark), seen(&light));
    assert_eq!(dark.mse, light.mse);
}
