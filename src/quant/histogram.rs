//! The colour histogram: every distinct colour of an image with its pixel count. Clustering
//! works on this, so its cost grows with the variety of colours rather than with megapixels.
//! Build it once per image and reuse it for every k.
//!
//! Counting 16.7 million possible colours in one table is slow: 64 MB of counters thrash the
//! TLB and every page has to be faulted in and zeroed. Instead the pixels are bucketed by their
//! red value (a radix pass that writes green+blue as `u16`), and each bucket is counted in a
//! 256 KB table that stays in the L2 cache. Buckets are independent, so rayon spreads them
//! over the cores, and the colours come out sorted.

use std::sync::{Mutex, MutexGuard, PoisonError};

use rayon::prelude::*;

use super::Pixels;
use super::coarse::{BinSums, LEVEL_BITS, Slots};
use crate::buffer::Buffer;

/// Most pixels per parallel chunk of the bucketing pass.
const CHUNK: usize = 1 << 18;

/// Bands whose buckets one slab holds: 8 bands of 2^18 pixels make a 4 MiB slab, which
/// [`Buffer`] backs with huge pages. One allocation per band was one page fault per 4 KiB
/// of buckets, 27 MB of them for a 13 MP photo.
const BANDS_PER_SLAB: usize = 8;

/// Distinct colours with counts.
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    /// Sorted by packed RGB value.
    pub(crate) colours: Vec<[u8; 3]>,
    pub(crate) counts: Vec<u32>,
    pixels: usize,
    /// The sums of the colours' bins at each coarse level.
    pub(crate) bins: BinSums,
}

impl Histogram {
    /// Counts the distinct colours of `pixels`.
    pub fn new(pixels: &Pixels) -> Histogram {
        use crate::split::{MIN_PIXEL_PARTS, MIN_PIXELS, rows_per_part};
        // A small image in a few chunks, so the cores share it (rows of one pixel: any cut).
        let chunk = rows_per_part(pixels.rgb.len(), 1, CHUNK, MIN_PIXELS, MIN_PIXEL_PARTS);
        let builder = HistogramBuilder::default();
        pixels
            .rgb
            .par_chunks(chunk)
            .for_each(|band| builder.add(band));
        builder.finish()
    }

    /// Number of distinct colours.
    pub fn distinct(&self) -> usize {
        self.colours.len()
    }

    /// Number of pixels counted.
    pub fn pixels(&self) -> usize {
        self.pixels
    }

    /// The distinct colours (sorted by their packed RGB value) and their counts.
    pub fn colours(&self) -> impl Iterator<Item = ([u8; 3], u32)> + '_ {
        self.colours
            .iter()
            .copied()
            .zip(self.counts.iter().copied())
    }
}

/// Builds a [`Histogram`] from bands of pixels handed over one by one, from any thread and in
/// any order (as [`crate::decode::decode_pixels_banded`] produces them), so counting can
/// start before the whole image is decoded. Bands of up to a few hundred thousand pixels.
///
/// Each band is bucketed by red (a radix pass writing green+blue as `u16`) into a stretch of
/// a shared slab: a band takes a slab with room out of the list, fills its stretch without
/// holding the lock, and puts it back; when every slab is full or out, it starts a new one.
#[derive(Default)]
pub struct HistogramBuilder {
    state: Mutex<Slabs>,
}

#[derive(Default)]
struct Slabs {
    slabs: Vec<Slab>,
    bands: Vec<Band>,
    /// Counting scratch made ahead by [`HistogramBuilder::prepare`].
    counters: Vec<Counters>,
}

struct Slab {
    /// `None` while a band is writing into it.
    buffer: Option<Buffer<u16>>,
    /// Values reserved so far.
    used: usize,
    capacity: usize,
}

/// Where a band's buckets are: `slab[at + starts[r]..at + starts[r + 1]]` holds the
/// (green, blue) pairs of its pixels with red `r`.
struct Band {
    slab: usize,
    at: usize,
    starts: [usize; 257],
}

impl HistogramBuilder {
    /// Takes in one band of pixels.
    pub fn add(&self, band: &[[u8; 3]]) {
        let n = band.len();
        let (slab, mut buffer, at) = {
            let mut state = self.lock();
            let free = state.slabs.iter_mut().enumerate().find_map(|(i, slab)| {
                if slab.used + n > slab.capacity {
                    return None;
                }
                let buffer = slab.buffer.take()?;
                slab.used += n;
                Some((i, buffer, slab.used - n))
            });
            free.unwrap_or_else(|| {
                let buffer = Buffer::zeroed_at_least(n * BANDS_PER_SLAB);
                state.slabs.push(Slab {
                    buffer: None,
                    used: n,
                    capacity: buffer.len(),
                });
                (state.slabs.len() - 1, buffer, 0)
            })
        };
        let starts = bucket(band, &mut buffer[at..at + n]);
        let mut state = self.lock();
        state.slabs[slab].buffer = Some(buffer);
        state.bands.push(Band { slab, at, starts });
    }

    /// Makes the scratch that counting needs, one set per core: on a core that would
    /// otherwise wait while the pixels decode, it takes that work and its page faults (about
    /// 140, 0.3 ms of CPU, for each 0.27 MP photo) off the way to the histogram.
    pub fn prepare(&self) {
        let have = self.lock().counters.len();
        let made: Vec<Counters> = (have..rayon::current_num_threads())
            .map(|_| Counters::new())
            .collect();
        self.lock().counters.extend(made);
    }

    /// The histogram of every pixel added; the same as [`Histogram::new`] on them.
    pub fn finish(self) -> Histogram {
        let state = self
            .state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        count(state.slabs, &state.bands, state.counters)
    }

    // A panic elsewhere cannot leave the lists half-updated: each change is one push or take.
    fn lock(&self) -> MutexGuard<'_, Slabs> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One radix pass: the (g, b) pairs of `px` into `out`, grouped by red value; returns where
/// each red's group starts (and where the last ends).
fn bucket(px: &[[u8; 3]], out: &mut [u16]) -> [usize; 257] {
    let mut starts = [0usize; 257];
    for c in px {
        starts[usize::from(c[0]) + 1] += 1;
    }
    for r in 0..256 {
        starts[r + 1] += starts[r];
    }
    let mut next = starts;
    for c in px {
        let r = usize::from(c[0]);
        out[next[r]] = u16::from_be_bytes([c[1], c[2]]);
        next[r] += 1;
    }
    starts
}

/// Counts bucketed pixels. Counts add up in any band order, and the colours come out sorted.
fn count(slabs: Vec<Slab>, bands: &[Band], counters: Vec<Counters>) -> Histogram {
    // Every band put its slab back before it was listed.
    let bucketed = |band: &Band| slabs[band.slab].buffer.as_deref();
    let pixels = bands
        .iter()
        .filter(|b| bucketed(b).is_some())
        .map(|b| b.starts[256])
        .sum();
    // Count each red bucket in a cache-resident table, marking the slots used in a bitmap:
    // reading the colours off its set bits gives them in order without scanning all 65 536
    // counters or sorting the slots used (either dominated small images), and marking is
    // branch-free where testing a counter for its first use was a mispredicted jump. A part
    // holds the reds of one coarsest bin, so its bins are summed from its colours alone.
    let reds_per_part = 1usize << (8 - LEVEL_BITS[0]);
    let pool = Mutex::new(counters);
    // The colours of each run of reds, sorted, with their counts.
    let parts: Vec<(Vec<[u8; 3]>, Vec<u32>)> = (0..256 / reds_per_part)
        .into_par_iter()
        // Tasks of at least 16 reds, not 8: a photo's colours crowd into a few reds, and with
        // the bin sums made here too, tasks of 32 reds left one core waiting (0.27 MP photos
        // 5-7% slower end to end).
        .with_min_len(16 / reds_per_part)
        .map_init(
            || Lent::from(&pool),
            |lent, part| {
                let Counters { table, used, .. } = lent.counters.get_or_insert_with(Counters::new);
                let reds = part * reds_per_part..(part + 1) * reds_per_part;
                // Room for as many colours as there are pixels: no copying as the lists grow,
                // and the pages never written are never faulted in.
                let most: usize = bands
                    .iter()
                    .map(|b| b.starts[reds.end] - b.starts[reds.start])
                    .sum();
                let mut colours = Vec::with_capacity(most);
                let mut counts = Vec::with_capacity(most);
                for r in reds {
                    for band in bands {
                        let from = band.at + band.starts[r];
                        let to = band.at + band.starts[r + 1];
                        let gbs = bucketed(band).and_then(|slab| slab.get(from..to));
                        for &gb in gbs.unwrap_or_default() {
                            let gb = usize::from(gb);
                            table[gb] += 1;
                            used[gb >> 6] |= 1 << (gb & 63);
                        }
                    }
                    // r < 256.
                    #[allow(clippy::cast_possible_truncation)]
                    let r = r as u8;
                    // Eight words (512 greens and blues) tested at once: most are empty,
                    // and all are for an image with few colours.
                    for (at, words) in used.chunks_exact_mut(8).enumerate() {
                        if words.iter().fold(0, |any, w| any | w) == 0 {
                            continue;
                        }
                        for (i, word) in words.iter_mut().enumerate() {
                            let mut bits = std::mem::take(word);
                            while bits != 0 {
                                let gb = (at << 9) | (i << 6) | bits.trailing_zeros() as usize;
                                bits &= bits - 1;
                                // gb < 2^16.
                                #[allow(clippy::cast_possible_truncation)]
                                let [g, b] = (gb as u16).to_be_bytes();
                                colours.push([r, g, b]);
                                counts.push(std::mem::take(&mut table[gb]));
                            }
                        }
                    }
                }
                (colours, counts)
            },
        )
        .collect();
    // Freed before the colours are gathered, lowering the peak.
    drop(slabs);
    // Each part's colours are copied into place and summed into bins by one task: the copy
    // (0.7 MB of fresh pages for a 0.27 MP photo) is no longer one core's work after the rest.
    let total: usize = parts.iter().map(|p| p.0.len()).sum();
    let mut colours = vec![[0u8; 3]; total];
    let mut counts = vec![0u32; total];
    let mut places = Vec::with_capacity(parts.len());
    let (mut colours_left, mut counts_left) = (&mut colours[..], &mut counts[..]);
    for (part, _) in &parts {
        let (c, rest) = std::mem::take(&mut colours_left).split_at_mut(part.len());
        colours_left = rest;
        let (n, rest) = std::mem::take(&mut counts_left).split_at_mut(part.len());
        counts_left = rest;
        places.push((c, n));
    }
    let sums: Vec<BinSums> = places
        .into_par_iter()
        // Each part freed as soon as it is in place, lowering the peak.
        .zip(parts)
        .map_init(
            || Lent::from(&pool),
            |lent, ((c, n), (part_colours, part_counts))| {
                c.copy_from_slice(&part_colours);
                n.copy_from_slice(&part_counts);
                let slots = &mut lent.counters.get_or_insert_with(Counters::new).slots;
                BinSums::of(&part_colours, &part_counts, slots)
            },
        )
        .collect();
    let mut bins = BinSums::default();
    for s in sums {
        bins.push(s);
    }
    Histogram {
        colours,
        counts,
        pixels,
        bins,
    }
}

/// What counting a part needs: a counter per (green, blue), the bitmap of those used, and
/// the bins' slots. All are back to zero when a part is done, ready for the next.
struct Counters {
    table: Buffer<u32>,
    used: Buffer<u64>,
    slots: Slots,
}

impl Counters {
    fn new() -> Counters {
        // Counting reads a counter before writing it: a fresh page read first is mapped to
        // the zero page, then faulted again (and flushed from the other core's TLB) on the
        // first write. Prefaulted pages are written once.
        Counters {
            table: Buffer::prefaulted(1 << 16),
            used: Buffer::prefaulted(1 << 10),
            slots: Slots::new(),
        }
    }
}

/// Counters a counting task takes from a pool, made on first use, and gives back when it
/// ends: the tasks rayon splits off (up to 16) reuse the few already zeroed, where each
/// zeroed its own 256 KiB table before.
struct Lent<'p> {
    counters: Option<Counters>,
    pool: &'p Mutex<Vec<Counters>>,
}

impl<'p> From<&'p Mutex<Vec<Counters>>> for Lent<'p> {
    fn from(pool: &'p Mutex<Vec<Counters>>) -> Lent<'p> {
        let counters = pool.lock().unwrap_or_else(PoisonError::into_inner).pop();
        Lent { counters, pool }
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        // A task that panicked may have left counts behind; the count is lost anyway.
        if std::thread::panicking() {
            return;
        }
        if let Some(counters) = self.counters.take() {
            let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
            pool.push(counters);
        }
    }
}

/// Where each colour sits in a [`Histogram`]'s sorted colours, for remapping pixels: for each
/// (red, green) pair present, the set of its blues as 256 bits and where its colours start, so
/// a colour's position is that start plus the blues below it, one population count (no search,
/// no jump). About 1 MB for a photo's ~25 000 pairs, where a table of every 24-bit colour is
/// 16 MB of pages to fault in. It replaced a binary search among each pair's blues: 40–55% less
/// time remapping a 0.27 MP photo.
pub(crate) struct Positions {
    /// For each (red, green) pair, its entry in `cells`; `u32::MAX` where no colour has it.
    cell_of: Vec<u32>,
    cells: Vec<Cell>,
}

/// The colours of one (red, green) pair.
#[derive(Clone, Copy, Default)]
struct Cell {
    /// Bit `b` is set when blue `b` is present.
    blues: [u64; 4],
    /// Position of the pair's first colour.
    first: u32,
    /// Colours in the words of `blues` before each word (at most 192).
    before: [u8; 4],
}

impl Positions {
    /// The position of `c` among the histogram's colours, if it is one of them.
    #[inline]
    pub fn find(&self, c: [u8; 3]) -> Option<usize> {
        let rg = (usize::from(c[0]) << 8) | usize::from(c[1]);
        let cell = self.cells.get(*self.cell_of.get(rg)? as usize)?;
        let word = usize::from(c[2] >> 6);
        let bit = 1u64 << (c[2] & 63);
        let blues = cell.blues[word];
        if blues & bit == 0 {
            return None;
        }
        Some(
            cell.first as usize
                + usize::from(cell.before[word])
                + (blues & (bit - 1)).count_ones() as usize,
        )
    }
}

impl Histogram {
    /// For each colour, how many of the pixels of `rgb` (the pixels this histogram counted)
    /// that have it are visible: their `alpha` is not zero. `at` is [`Histogram::positions`].
    pub(crate) fn visible_counts(&self, at: &Positions, rgb: &[[u8; 3]], alpha: &[u8]) -> Vec<u32> {
        let mut counts = self.counts.clone();
        for (&c, _) in rgb.iter().zip(alpha).filter(|&(_, &a)| a == 0) {
            if let Some(n) = at.find(c).and_then(|i| counts.get_mut(i)) {
                *n = n.saturating_sub(1);
            }
        }
        counts
    }

    /// The colours with a non-zero count in `counts` (one per colour), with those counts.
    pub(crate) fn recounted(&self, counts: &[u32]) -> Histogram {
        let (colours, counts): (Vec<[u8; 3]>, Vec<u32>) = self
            .colours
            .iter()
            .zip(counts)
            .filter(|&(_, &n)| n > 0)
            .map(|(&c, &n)| (c, n))
            .unzip();
        let pixels = counts.iter().map(|&n| n as usize).sum();
        let bins = BinSums::of_sorted(&colours, &counts);
        Histogram {
            colours,
            counts,
            pixels,
            bins,
        }
    }

    /// See [`Positions`].
    pub(crate) fn positions(&self) -> Positions {
        let mut cell_of = vec![u32::MAX; 1 << 16];
        let mut cells: Vec<Cell> = Vec::with_capacity(self.colours.len().min(1 << 16));
        // Sorted colours: each pair's colours are one run, so its cell is the last one made.
        let mut last = usize::MAX;
        for (i, &c) in self.colours.iter().enumerate() {
            let rg = key(c) >> 8;
            if rg != last {
                last = rg;
                // Fewer than 2^24 distinct colours and 2^16 pairs: both fit u32.
                cell_of[rg] = u32::try_from(cells.len()).unwrap_or(u32::MAX);
                cells.push(Cell {
                    first: u32::try_from(i).unwrap_or(u32::MAX),
                    ..Cell::default()
                });
            }
            if let Some(cell) = cells.last_mut() {
                cell.blues[usize::from(c[2] >> 6)] |= 1 << (c[2] & 63);
            }
        }
        for cell in &mut cells {
            let mut before = 0u32;
            for (b, word) in cell.before.iter_mut().zip(cell.blues) {
                // At most 192 before the last word.
                *b = u8::try_from(before).unwrap_or(u8::MAX);
                before += word.count_ones();
            }
        }
        Positions { cell_of, cells }
    }
}

/// Where each of `runs` runs of `colours` starts, plus one entry closing the last. `colours`
/// are sorted by packed RGB value and `run_of` is a prefix of that value (the red, or red and
/// green, or their top bits), so each run is one contiguous stretch.
pub(crate) fn run_starts(
    colours: &[[u8; 3]],
    runs: usize,
    run_of: impl Fn([u8; 3]) -> usize,
) -> Vec<usize> {
    let mut starts = vec![0usize; runs + 1];
    for &c in colours {
        starts[run_of(c) + 1] += 1;
    }
    for r in 0..runs {
        starts[r + 1] += starts[r];
    }
    starts
}

/// Packed 24-bit key of a colour.
#[inline]
pub(crate) fn key(c: [u8; 3]) -> usize {
    (usize::from(c[0]) << 16) | (usize::from(c[1]) << 8) | usize::from(c[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_distinct_colour_sorted() {
        let px = Pixels {
            width: 5,
            height: 1,
            rgb: vec![[9, 9, 9], [1, 2, 3], [9, 9, 9], [0, 0, 0], [1, 2, 4]].into(),
            alpha: None,
        };
        let h = Histogram::new(&px);
        assert_eq!(h.distinct(), 4);
        assert_eq!(h.pixels(), 5);
        let got: Vec<_> = h.colours().collect();
        assert_eq!(
            got,
            vec![
                ([0, 0, 0], 1),
                ([1, 2, 3], 1),
                ([1, 2, 4], 1),
                ([9, 9, 9], 2)
            ]
        );
    }

    #[test]
    fn dense_and_sparse_buckets_agree() {
        // Red 7 holds every (g, b) pair, twice for g < 3: the dense path. Red 9 holds a few:
        // the sparse path.
        let mut rgb: Vec<[u8; 3]> = (0..=255u8)
            .flat_map(|g| (0..=255u8).map(move |b| [7, g, b]))
            .collect();
        rgb.extend((0..3u8).flat_map(|g| (0..=255u8).map(move |b| [7, g, b])));
        rgb.extend([[9, 1, 1], [9, 0, 5], [9, 1, 1]]);
        let n = rgb.len() as u32;
        let h = Histogram::new(&Pixels {
            width: n,
            height: 1,
            rgb: rgb.into(),
            alpha: None,
        });
        assert_eq!(h.distinct(), 65_536 + 2);
        assert_eq!(h.colours[0], [7, 0, 0]);
        assert_eq!(h.counts[0], 2);
        assert_eq!(h.counts[3 * 256], 1);
        assert_eq!(&h.colours[65_536..], &[[9, 0, 5], [9, 1, 1]]);
        assert_eq!(&h.counts[65_536..], &[1, 2]);
        assert!(h.colours.windows(2).all(|w| key(w[0]) < key(w[1])));
        let at = h.positions();
        for (i, &c) in h.colours.iter().enumerate() {
            assert_eq!(at.find(c), Some(i));
        }
        assert_eq!(at.find([9, 1, 2]), None);
        // Bands handed over in any order count the same.
        let px = Pixels {
            width: h.pixels() as u32,
            height: 1,
            rgb: (0..h.pixels())
                .map(|i| h.colours[i % h.distinct()])
                .collect(),
            alpha: None,
        };
        let whole = Histogram::new(&px);
        let builder = HistogramBuilder::default();
        for band in px.rgb.chunks(1000).rev() {
            builder.add(band);
        }
        let banded = builder.finish();
        assert_eq!(banded.colours, whole.colours);
        assert_eq!(banded.counts, whole.counts);
        assert_eq!(banded.pixels(), whole.pixels());
        // So do they with the counting scratch made ahead (as `compress` makes it while the
        // image decodes), asked for twice.
        let builder = HistogramBuilder::default();
        builder.prepare();
        for band in px.rgb.chunks(1000) {
            builder.add(band);
        }
        builder.prepare();
        let prepared = builder.finish();
        assert_eq!(prepared.colours, whole.colours);
        assert_eq!(prepared.counts, whole.counts);
        assert_eq!(at.find([255, 255, 255]), None);
    }
}
