//! Cutting one piece of work into parts the cores can share.
//!
//! By the sizes alone, never by the core count, so nothing a part's boundaries can change (a
//! written file's bytes) depends on the machine.

/// A small image still goes to the cores in up to [`MIN_PIXEL_PARTS`] parts of at least
/// [`MIN_PIXELS`] pixels: the decode's bands and the histogram's chunks make the same cut.
pub(crate) const MIN_PIXELS: usize = 1 << 16;
pub(crate) const MIN_PIXEL_PARTS: usize = 4;

/// How many parts to cut `len` units into: parts of at most `max` units, and at least
/// `min_parts` parts of at least `min` units where `len` has room for them; at least one.
fn parts(len: usize, max: usize, min: usize, min_parts: usize) -> usize {
    len.div_ceil(max.max(1))
        .max((len / min.max(1)).min(min_parts))
        .max(1)
}

/// [`parts`] for `rows` whole rows of `row_len` units each: the rows in each part (the last
/// may have fewer), at least one.
pub(crate) fn rows_per_part(
    rows: usize,
    row_len: usize,
    max: usize,
    min: usize,
    min_parts: usize,
) -> usize {
    rows.div_ceil(parts(rows * row_len, max, min, min_parts))
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_work_goes_in_parts_of_at_most_max_small_work_in_a_few_even_parts() {
        // 1 MiB in 256 KiB parts.
        assert_eq!(parts(1 << 20, 1 << 18, 1 << 15, 4), 4);
        assert_eq!(parts((1 << 20) + 1, 1 << 18, 1 << 15, 4), 5);
        // 137 KB: four parts of ≥ 32 KiB, not one of 256 KiB.
        assert_eq!(parts(137_000, 1 << 18, 1 << 15, 4), 4);
        // Room for only two parts of the minimum; nothing at all still makes one part.
        assert_eq!(parts(70_000, 1 << 18, 1 << 15, 4), 2);
        assert_eq!(parts(100, 1 << 18, 1 << 15, 4), 1);
        assert_eq!(parts(0, 1 << 18, 1 << 15, 4), 1);
        // 427 rows of 320 bytes (137 KB): four parts of 107 rows.
        assert_eq!(rows_per_part(427, 320, 1 << 18, 1 << 15, 4), 107);
        assert_eq!(rows_per_part(0, 320, 1 << 18, 1 << 15, 4), 1);
    }
}
