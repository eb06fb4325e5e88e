//! The photo list: entries streamed in by the scan, the selection and the scroll offset.
//! No I/O here; the scroll policy lives in these methods so the view only reads it.

use crate::msg::{Entry, ScanBatch};

/// The list of photos found so far.
#[derive(Debug, Default)]
pub struct Library {
    /// Image files in scan order.
    pub entries: Vec<Entry>,
    /// Entries the scan could not read (sanitised messages).
    pub errors: Vec<String>,
    /// Index of the selected entry; `None` only while the list is empty.
    pub selected: Option<usize>,
    /// Index of the first visible row.
    pub offset: usize,
    /// True until the scan thread reports that it is done.
    pub scanning: bool,
}

impl Library {
    /// An empty list whose scan is running.
    #[must_use]
    pub fn scanning() -> Self {
        Self {
            scanning: true,
            ..Self::default()
        }
    }

    /// Append a scan batch; the first entry ever found becomes the selection.
    pub fn extend(&mut self, batch: ScanBatch) {
        self.entries.extend(batch.entries);
        self.errors.extend(batch.errors);
        if self.selected.is_none() && !self.entries.is_empty() {
            self.selected = Some(0);
        }
    }

    /// The selected entry.
    #[must_use]
    pub fn current(&self) -> Option<&Entry> {
        self.selected.and_then(|i| self.entries.get(i))
    }

    /// Move the selection by `delta` rows (clamped to the list); true if it changed.
    pub fn step(&mut self, delta: isize, rows: usize) -> bool {
        let Some(current) = self.selected else {
            return false;
        };
        let last = self.entries.len().saturating_sub(1);
        let target = current.saturating_add_signed(delta).min(last);
        self.select(target, rows)
    }

    /// Select `index` (clamped) and scroll it into view; true if the selection changed.
    pub fn select(&mut self, index: usize, rows: usize) -> bool {
        if self.entries.is_empty() {
            return false;
        }
        let index = index.min(self.entries.len() - 1);
        let changed = self.selected != Some(index);
        self.selected = Some(index);
        self.scroll_into_view(rows);
        changed
    }

    /// Keep the selection inside the `rows` visible rows (after a move or a resize).
    pub fn scroll_into_view(&mut self, rows: usize) {
        let Some(selected) = self.selected else {
            return;
        };
        let rows = rows.max(1);
        if selected < self.offset {
            self.offset = selected;
        } else if selected >= self.offset + rows {
            self.offset = selected + 1 - rows;
        }
    }
}
