//! An 8-bit RGB or RGBA PNG decoded on two threads, handing finished bands of rows to the pool.
//!
//! A PNG is one serial stream, but it is read in two halves that pass rows from one to the
//! other: inflating the image data (about 55% of the time on a 13 MP photo) and undoing each
//! row's filter (about 45%). The png crate does both on one thread. Here a helper thread runs
//! the png crate's `StreamingDecoder` (chunk parsing, CRCs, inflating) and sends blocks of
//! whole filtered rows; the caller's thread unfilters them and hands each finished band of
//! rows to `on_band` on the rayon pool.
//!
//! This path only has to be right when it succeeds. It drives the `StreamingDecoder` as
//! `png::Reader` does: image data inflated into a buffer never larger than what the image
//! still needs, then the rest of the IDAT chunks read without inflating; so it fails wherever
//! the png crate would. Any failure ends in [`Stopped`] and the caller decodes the file again
//! the ordinary way, which gives the error in its usual words.

use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::sync::mpsc;

use png::{Decoded, StreamingDecoder, UnfilterBuf, UnfilterRegion};

use crate::buffer::Buffer;
use crate::quant::Pixels;

/// Filtered bytes per block sent from the inflating thread (whole rows, at least one).
const BLOCK_BYTES: usize = 1 << 18;
/// Deflate's window: the inflated bytes that must stay in place behind the newest.
const LOOKBACK: usize = 1 << 15;
/// The most the png crate inflates in one call.
const GROWTH: usize = 8 << 10;
/// Blocks in flight between the threads.
const QUEUE: usize = 4;

/// The image a PNG's header promised, already checked: 8-bit RGB (or RGBA with `alpha`), not
/// interlaced, no tRNS, within the pixel budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Layout {
    pub width: u32,
    pub height: u32,
    pub alpha: bool,
}

impl Layout {
    fn bytes_per_pixel(self) -> usize {
        if self.alpha { 4 } else { 3 }
    }

    /// Bytes of one filtered row: the filter type, then the pixels.
    fn stride(self) -> usize {
        1 + self.bytes_per_pixel() * self.width as usize
    }
}

/// The two-thread decode gave up; `bands_handed` bands (the first ones) went to `on_band`.
#[derive(Debug)]
pub(super) struct Stopped {
    pub bands_handed: usize,
}

/// Decodes the PNG in `file` (read from its first byte) as `layout` says, handing every band of
/// `band_len` pixels (whole rows) to `on_band` once, in order, from rayon tasks.
pub(super) fn read(
    file: BufReader<File>,
    layout: Layout,
    band_len: usize,
    on_band: &(dyn Fn(&[[u8; 3]]) + Sync),
) -> Result<Pixels, Stopped> {
    let rows_per_block = (BLOCK_BYTES / layout.stride()).max(1);
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(QUEUE);
    let (back_tx, back_rx) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|threads| {
        let inflating = std::thread::Builder::new()
            .name("kquant-inflate".into())
            .spawn_scoped(threads, move || {
                inflate(file, layout, rows_per_block, &tx, &back_rx).is_some()
            });
        let Ok(inflating) = inflating else {
            return Err(Stopped { bands_handed: 0 });
        };
        let (pixels, bands_handed) = unfilter_rows(rx, back_tx, layout, band_len, on_band);
        // A panic in the png crate is a failure like any other here.
        let inflated = inflating.join().unwrap_or(false);
        match pixels {
            Some(pixels) if inflated => Ok(pixels),
            _ => Err(Stopped { bands_handed }),
        }
    })
}

/// The inflating thread: parses the PNG up to its image data, then sends the inflated rows in
/// blocks of `rows_per_block`, then reads the rest of the image data as `png::Reader` does.
/// `None` on any error, or when the receiver has gone.
fn inflate(
    mut file: BufReader<File>,
    layout: Layout,
    rows_per_block: usize,
    tx: &mpsc::SyncSender<Vec<u8>>,
    recycled: &mpsc::Receiver<Vec<u8>>,
) -> Option<()> {
    let mut decoder = StreamingDecoder::new();
    // Everything before the image data was read and checked once already, with image-rs's
    // settings and memory cap; this pass skips text and colour profiles instead of inflating
    // them again.
    decoder.set_ignore_text_chunk(true);
    decoder.set_ignore_iccp_chunk(true);
    let mut next = |decoder: &mut StreamingDecoder, out: Option<&mut UnfilterBuf<'_>>| {
        let data = file.fill_buf().ok()?;
        if data.is_empty() {
            return None;
        }
        let (used, event) = decoder.update(data, out).ok()?;
        file.consume(used);
        Some(event)
    };
    loop {
        match next(&mut decoder, None)? {
            Decoded::ChunkBegin(_, png::chunk::IDAT) => break,
            Decoded::ChunkComplete(png::chunk::IEND) => return None,
            _ => {}
        }
    }
    // This pass reads the file again from its first byte: it must still be the image checked
    // before (another process may have written it in between).
    let info = decoder.info()?;
    let same = info.width == layout.width
        && info.height == layout.height
        && info.bit_depth == png::BitDepth::Eight
        && info.color_type
            == if layout.alpha {
                png::ColorType::Rgba
            } else {
                png::ColorType::Rgb
            }
        && !info.interlaced
        && info.trns.is_none()
        && info.animation_control.is_none();
    if !same {
        return None;
    }

    let stride = layout.stride();
    let total = stride.checked_mul(layout.height as usize)?;
    // Room for the look-back window, a block and a row not yet sent, and a call's output.
    let cap = total.min(LOOKBACK + (rows_per_block + 1) * stride + 2 * GROWTH);
    let mut buf = vec![0u8; cap];
    let mut region = UnfilterRegion::default();
    // Bytes shifted out of the front of `buf` so far, and the first byte in `buf` not yet sent.
    let (mut base, mut start) = (0usize, 0usize);
    let mut flushed = false;
    loop {
        let complete = (region.filled - start) / stride;
        let all_in = base + region.filled == total;
        if complete >= rows_per_block || (all_in && complete > 0) {
            let bytes = complete.min(rows_per_block) * stride;
            let mut block = recycled.try_recv().unwrap_or_default();
            block.clear();
            block.extend_from_slice(&buf[start..start + bytes]);
            tx.send(block).ok()?;
            start += bytes;
            continue;
        }
        if all_in {
            break;
        }
        if flushed {
            // The image data ended before the last row.
            return None;
        }
        if region.filled + GROWTH > buf.len() && base + buf.len() < total {
            // Shift out what was sent and is no longer in the look-back window.
            let discard = region.available.min(start);
            if discard == 0 {
                return None;
            }
            buf.copy_within(discard..region.filled, 0);
            base += discard;
            start -= discard;
            region.available -= discard;
            region.filled -= discard;
            // Never room for more than the image holds: like png's own buffer, so that data
            // past the last row is left alone exactly as the png crate leaves it.
            buf.resize(cap.min(total - base), 0);
        }
        if matches!(
            next(&mut decoder, Some(&mut region.as_buf(&mut buf)))?,
            Decoded::ImageDataFlushed
        ) {
            flushed = true;
        }
    }
    // Past the last row: the rest of the image data is read and checked, as a whole-image
    // decode does.
    while !flushed {
        flushed = matches!(next(&mut decoder, None)?, Decoded::ImageDataFlushed);
    }
    Some(())
}

/// The caller's side: unfilters the rows arriving on `rx` into the image, handing each band of
/// `band_len` pixels to `on_band` as it completes. Returns the pixels (`None` if the rows
/// stopped early or a row's filter type is unknown) and how many bands were handed over.
fn unfilter_rows(
    rx: mpsc::Receiver<Vec<u8>>,
    recycle: mpsc::Sender<Vec<u8>>,
    layout: Layout,
    band_len: usize,
    on_band: &(dyn Fn(&[[u8; 3]]) + Sync),
) -> (Option<Pixels>, usize) {
    let w = layout.width as usize;
    let n = w * layout.height as usize;
    let bpp = layout.bytes_per_pixel();
    let stride = layout.stride();
    let mut rgb = Buffer::<[u8; 3]>::zeroed(n);
    let mut alpha = vec![0u8; if layout.alpha { n } else { 0 }];
    let rgb_bands = rgb.chunks_mut(band_len);
    let mut alpha_bands = alpha.chunks_mut(band_len);
    // In place: the unfiltering stays on this thread; only the bands go to the pool. `rx` is
    // moved in so it closes, stopping the inflating thread, as soon as this stops reading.
    let (complete, handed) = rayon::in_place_scope(move |s| {
        let mut handed = 0;
        let mut prev = vec![0u8; bpp * w];
        let mut cur = vec![0u8; bpp * w];
        let mut block = Vec::new();
        let mut at = 0;
        for band in rgb_bands {
            let mut alpha_band = alpha_bands.next();
            for (y, row) in band.chunks_mut(w).enumerate() {
                if at == block.len() {
                    let Ok(next) = rx.recv() else {
                        return (false, handed);
                    };
                    // The other side may have stopped; then the block is just dropped.
                    let _ = recycle.send(std::mem::replace(&mut block, next));
                    at = 0;
                }
                // Blocks hold whole rows.
                let filtered = &block[at..at + stride];
                at += stride;
                let known = if bpp == 4 {
                    unfilter::<4>(filtered[0], &filtered[1..], &prev, &mut cur)
                } else {
                    unfilter::<3>(filtered[0], &filtered[1..], &prev, &mut cur)
                };
                if !known {
                    return (false, handed);
                }
                match alpha_band.as_deref_mut() {
                    Some(a) => {
                        let a = &mut a[y * w..(y + 1) * w];
                        for ((px, a), src) in row.iter_mut().zip(a).zip(cur.chunks_exact(4)) {
                            *px = [src[0], src[1], src[2]];
                            *a = src[3];
                        }
                    }
                    None => bytemuck::cast_slice_mut(row).copy_from_slice(&cur),
                }
                std::mem::swap(&mut prev, &mut cur);
            }
            let band: &[[u8; 3]] = band;
            s.spawn(move |_| on_band(band));
            handed += 1;
        }
        (true, handed)
    });
    if !complete {
        return (None, handed);
    }
    let alpha = (layout.alpha && alpha.iter().any(|&a| a != 255)).then_some(alpha);
    let pixels = Pixels {
        width: layout.width,
        height: layout.height,
        rgb,
        alpha,
    };
    (Some(pixels), handed)
}

/// Undoes PNG row filter `filter` for `BPP` bytes a pixel: `out` gets the row that `filtered`
/// was made from, given the row above it (`prev`; zeros for the first row). False for a filter
/// type PNG does not define.
fn unfilter<const BPP: usize>(filter: u8, filtered: &[u8], prev: &[u8], out: &mut [u8]) -> bool {
    let pixels = out
        .chunks_exact_mut(BPP)
        .zip(filtered.chunks_exact(BPP))
        .zip(prev.chunks_exact(BPP));
    // Left and upper-left neighbours start as zeros: PNG treats bytes before a row as 0.
    let mut left = [0u8; BPP];
    let mut up_left = [0u8; BPP];
    match filter {
        0 => out.copy_from_slice(filtered),
        1 => {
            for ((o, f), _) in pixels {
                for i in 0..BPP {
                    left[i] = f[i].wrapping_add(left[i]);
                    o[i] = left[i];
                }
            }
        }
        2 => {
            for ((o, &f), &p) in out.iter_mut().zip(filtered).zip(prev) {
                *o = f.wrapping_add(p);
            }
        }
        3 => {
            for ((o, f), p) in pixels {
                for i in 0..BPP {
                    let average = (u16::from(left[i]) + u16::from(p[i])) / 2;
                    // The average of two bytes fits in a byte.
                    #[allow(clippy::cast_possible_truncation)]
                    let average = average as u8;
                    left[i] = f[i].wrapping_add(average);
                    o[i] = left[i];
                }
            }
        }
        4 => {
            for ((o, f), p) in pixels {
                for i in 0..BPP {
                    left[i] = f[i].wrapping_add(paeth(left[i], p[i], up_left[i]));
                    up_left[i] = p[i];
                    o[i] = left[i];
                }
            }
        }
        _ => return false,
    }
    true
}

/// PNG's Paeth predictor: whichever of left `a`, up `b` and upper-left `c` is nearest to
/// a + b − c, ties going to `a`, then `b`. Computed without branches, as stb_image does: with
/// t = 3c − (a + b), the answer is max(a, b) when t ≤ min(a, b), else min(a, b) when
/// max(a, b) ≤ t, else c. (The test checks every input against the spec's definition.)
fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let (a, b, c) = (i16::from(a), i16::from(b), i16::from(c));
    let t = 3 * c - (a + b);
    let (lo, hi) = (a.min(b), a.max(b));
    let p = if t <= lo {
        hi
    } else if hi <= t {
        lo
    } else {
        c
    };
    // One of the three bytes.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let p = p as u8;
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Filters `row` with filter `kind` as the PNG spec defines it (the encoder's side).
    fn filter_row(kind: u8, bpp: usize, row: &[u8], prev: &[u8]) -> Vec<u8> {
        (0..row.len())
            .map(|i| {
                let a = if i >= bpp { row[i - bpp] } else { 0 };
                let b = prev[i];
                let c = if i >= bpp { prev[i - bpp] } else { 0 };
                let predicted = match kind {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                    _ => paeth_spec(a, b, c),
                };
                row[i].wrapping_sub(predicted)
            })
            .collect()
    }

    #[test]
    fn every_filter_round_trips() {
        let mut seed = 7u32;
        let mut byte = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 16) as u8
        };
        for bpp in [3, 4] {
            let w = 37;
            let prev: Vec<u8> = (0..w * bpp).map(|_| byte()).collect();
            let row: Vec<u8> = (0..w * bpp).map(|_| byte()).collect();
            for kind in 0..5 {
                let filtered = filter_row(kind, bpp, &row, &prev);
                let mut out = vec![0; row.len()];
                let known = if bpp == 4 {
                    unfilter::<4>(kind, &filtered, &prev, &mut out)
                } else {
                    unfilter::<3>(kind, &filtered, &prev, &mut out)
                };
                assert!(known);
                assert_eq!(out, row, "filter {kind}, {bpp} bytes a pixel");
            }
            let mut out = vec![0; row.len()];
            assert!(!unfilter::<3>(5, &row, &prev, &mut out));
        }
    }

    /// The PNG specification's Paeth predictor, as written there.
    fn paeth_spec(a: u8, b: u8, c: u8) -> u8 {
        let p = i16::from(a) + i16::from(b) - i16::from(c);
        let pa = (p - i16::from(a)).abs();
        let pb = (p - i16::from(b)).abs();
        let pc = (p - i16::from(c)).abs();
        if pa <= pb && pa <= pc {
            a
        } else if pb <= pc {
            b
        } else {
            c
        }
    }

    #[test]
    fn paeth_matches_the_spec_on_every_input() {
        for a in 0..=255 {
            for b in 0..=255 {
                for c in 0..=255 {
                    assert_eq!(paeth(a, b, c), paeth_spec(a, b, c), "{a} {b} {c}");
                }
            }
        }
    }

    #[test]
    fn paeth_prefers_left_then_up() {
        // a + b - c = 10: all three equally near.
        assert_eq!(paeth(10, 10, 10), 10);
        // p = 5 + 9 - 7 = 7: |7-5| = 2, |7-9| = 2, |7-7| = 0 → c.
        assert_eq!(paeth(5, 9, 7), 7);
        // p = 20 + 10 - 10 = 20: a exact.
        assert_eq!(paeth(20, 10, 10), 20);
        // p = 10 + 20 - 10 = 20: b exact.
        assert_eq!(paeth(10, 20, 10), 20);
        // p = 10 + 4 - 6 = 8: a and c both 2 away; a wins.
        assert_eq!(paeth(10, 4, 6), 10);
        // p = 12 + 6 - 10 = 8: b and c both 2 away; b wins.
        assert_eq!(paeth(12, 6, 10), 6);
    }
}
