//! `Buffer`: an array of plain values that, when large, lives in its own anonymous memory
//! map with transparent huge pages requested (Linux `madvise(MADV_HUGEPAGE)`).
//!
//! Why: a fresh process touching a 13 MP photo's buffers (pixels, histogram buckets, indices,
//! the remap table; over 100 MB) took ~29 000 page faults, about 50 ms of a 300 ms
//! `compress`. With the first three in 2 MiB pages it takes ~11 000 (the remap table stays
//! on the heap: see `quant`). Only the big buffers get a map of their own, and it is unmapped when
//! dropped, so memory goes back at once (an allocator that keeps huge pages around, such as
//! mimalloc, raised the browser's peak RSS by a third).

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use bytemuck::Pod;

/// A transparent huge page.
const HUGE_PAGE: usize = 2 << 20;
/// From this many bytes on, a buffer gets its own map.
const MAP_FROM_BYTES: usize = HUGE_PAGE;

/// `len` values of `T`, zeroed when made; derefs to `[T]`.
pub struct Buffer<T: Pod> {
    store: Store<T>,
    len: usize,
}

enum Store<T> {
    Heap(Vec<T>),
    /// Page-aligned, so any `T` is aligned; at least `len * size_of::<T>()` bytes, a whole
    /// number of huge pages (Linux aligns such maps to huge pages; a map of another length
    /// may start mid-page and lose a huge page at either end).
    Mapped(memmap2::MmapMut, PhantomData<T>),
}

impl<T: Pod> Buffer<T> {
    /// `len` zero values; a large buffer in its own huge-page map where the system has one.
    pub fn zeroed(len: usize) -> Buffer<T> {
        Buffer::zeroed_with(len, false)
    }

    /// At least `len` zero values: when mapped, as many as its whole huge pages hold, so that
    /// a caller filling it bit by bit leaves none of that memory idle (a huge page is
    /// resident whole once touched).
    pub fn zeroed_at_least(len: usize) -> Buffer<T> {
        Buffer::zeroed_with(len, true)
    }

    fn zeroed_with(len: usize, fill_pages: bool) -> Buffer<T> {
        let bytes = len.saturating_mul(size_of::<T>());
        if cfg!(target_os = "linux")
            && bytes >= MAP_FROM_BYTES
            && let Some(map_len) = bytes.checked_next_multiple_of(HUGE_PAGE)
            && let Ok(map) = memmap2::MmapOptions::new().len(map_len).map_anon()
        {
            // Only a hint: without THP the map still works, in small pages.
            #[cfg(target_os = "linux")]
            let _ = map.advise(memmap2::Advice::HugePage);
            let len = if fill_pages {
                map.len() / size_of::<T>().max(1)
            } else {
                len
            };
            return Buffer {
                store: Store::Mapped(map, PhantomData),
                len,
            };
        }
        // No map (small, or the system refused one): the ordinary heap (whose own limits then
        // apply to a length no map could hold).
        Buffer {
            store: Store::Heap(vec![T::zeroed(); len]),
            len,
        }
    }

    /// [`Buffer::zeroed`] with every page already faulted in, so that whoever writes it later
    /// (other cores, in a hurry) does not stop to fault. One write a 4 KiB page: a huge page
    /// comes in whole at its first.
    pub fn prefaulted(len: usize) -> Buffer<T> {
        let mut buffer = Buffer::zeroed(len);
        let step = (4096 / size_of::<T>().max(1)).max(1);
        for at in (0..len).step_by(step) {
            buffer[at] = T::zeroed();
        }
        buffer
    }
}

impl<T: Pod> From<Vec<T>> for Buffer<T> {
    fn from(v: Vec<T>) -> Buffer<T> {
        Buffer {
            len: v.len(),
            store: Store::Heap(v),
        }
    }
}

impl<T: Pod> FromIterator<T> for Buffer<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Buffer<T> {
        iter.into_iter().collect::<Vec<T>>().into()
    }
}

impl<'a, T: Pod> IntoIterator for &'a Buffer<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: Pod> Deref for Buffer<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match &self.store {
            Store::Heap(v) => v,
            Store::Mapped(map, _) => bytemuck::cast_slice(&map[..self.len * size_of::<T>()]),
        }
    }
}

impl<T: Pod> DerefMut for Buffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.store {
            Store::Heap(v) => v,
            Store::Mapped(map, _) => {
                bytemuck::cast_slice_mut(&mut map[..self.len * size_of::<T>()])
            }
        }
    }
}

impl<T: Pod> Clone for Buffer<T> {
    fn clone(&self) -> Buffer<T> {
        let mut copy = Buffer::zeroed(self.len());
        copy.copy_from_slice(self);
        copy
    }
}

impl<T: Pod + PartialEq> PartialEq for Buffer<T> {
    fn eq(&self, other: &Buffer<T>) -> bool {
        **self == **other
    }
}

impl<T: Pod + Eq> Eq for Buffer<T> {}

impl<T: Pod + fmt::Debug> fmt::Debug for Buffer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped<T: Pod>(b: &Buffer<T>) -> bool {
        matches!(b.store, Store::Mapped(..))
    }

    #[test]
    fn large_and_small_buffers_hold_what_is_written() {
        for len in [0, 5, MAP_FROM_BYTES / 3 + 7] {
            let mut b = Buffer::<[u8; 3]>::zeroed(len);
            assert_eq!(b.len(), len);
            assert_eq!(mapped(&b), cfg!(target_os = "linux") && len > 5);
            assert!(b.iter().all(|&p| p == [0; 3]));
            for (i, p) in b.iter_mut().enumerate() {
                *p = [i as u8, (i >> 8) as u8, 7];
            }
            let c = b.clone();
            assert_eq!(c, b);
            let last = len.checked_sub(1).map(|i| [i as u8, (i >> 8) as u8, 7]);
            assert_eq!(c.last(), last.as_ref());
        }
        let whole = Buffer::<[u8; 3]>::zeroed_at_least(MAP_FROM_BYTES / 3 + 7);
        assert!(whole.len() >= MAP_FROM_BYTES / 3 + 7);
        if mapped(&whole) {
            assert_eq!(whole.len(), 2 * HUGE_PAGE / 3);
        }
        let f = Buffer::<u8>::prefaulted(MAP_FROM_BYTES + 1);
        assert_eq!(f.len(), MAP_FROM_BYTES + 1);
        assert!(f.iter().all(|&v| v == 0));
        assert_eq!(Buffer::from(vec![1u16, 2]), Buffer::from(vec![1u16, 2]));
    }
}
