//! A small least-recently-used map with a byte budget: a handful of entries, so a vector
//! beats a hash map plus a linked list in both code and speed.

/// Keeps at most `capacity` entries and about `budget` bytes (by the weights given to
/// [`Lru::put`]), dropping the least recently used. The newest entry always stays, even when
/// it alone is over the budget.
pub struct Lru<K, V> {
    capacity: usize,
    budget: usize,
    used: usize,
    // Most recently used last, with each entry's weight in bytes.
    items: Vec<(K, V, usize)>,
}

impl<K: PartialEq, V> Lru<K, V> {
    /// An empty cache holding at most `capacity` entries, with no byte budget.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self::with_budget(capacity, usize::MAX)
    }

    /// An empty cache holding at most `capacity` entries and about `budget` bytes.
    #[must_use]
    pub fn with_budget(capacity: usize, budget: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            budget,
            used: 0,
            items: Vec::new(),
        }
    }

    /// The value for `key`, now marked most recently used.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        let i = self.items.iter().position(|(k, _, _)| k == key)?;
        let item = self.items.remove(i);
        self.items.push(item);
        self.items.last().map(|(_, v, _)| v)
    }

    /// Whether `key` is cached, without touching its recency.
    pub fn contains(&self, key: &K) -> bool {
        self.items.iter().any(|(k, _, _)| k == key)
    }

    /// Insert or replace `key` (weighing `bytes`), evicting the oldest entries while over the
    /// entry count or the byte budget.
    pub fn put(&mut self, key: K, value: V, bytes: usize) {
        if let Some(i) = self.items.iter().position(|(k, _, _)| *k == key) {
            let (_, _, old) = self.items.remove(i);
            self.used -= old;
        }
        while !self.items.is_empty()
            && (self.items.len() >= self.capacity || self.used.saturating_add(bytes) > self.budget)
        {
            let (_, _, old) = self.items.remove(0);
            self.used -= old;
        }
        self.used = self.used.saturating_add(bytes);
        self.items.push((key, value, bytes));
    }

    /// Bytes held, by the weights given to [`Lru::put`].
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.used
    }

    /// Forget everything (after a panic the cached state is not trusted).
    pub fn clear(&mut self) {
        self.items.clear();
        self.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_entries_go_first_when_over_count_or_bytes() {
        let mut lru = Lru::with_budget(3, 100);
        lru.put("a", 1, 40);
        lru.put("b", 2, 40);
        assert_eq!(lru.get(&"a"), Some(&1)); // now b is the oldest
        lru.put("c", 3, 40); // 120 > 100: b goes
        assert!(!lru.contains(&"b") && lru.contains(&"a") && lru.contains(&"c"));
        assert_eq!(lru.bytes(), 80);
        lru.put("d", 4, 10);
        lru.put("e", 5, 10); // four entries > 3: a goes
        assert!(!lru.contains(&"a"));
        lru.put("huge", 6, 500); // alone over budget: kept, everything else goes
        assert!(lru.contains(&"huge") && !lru.contains(&"c"));
        assert_eq!(lru.bytes(), 500);
        lru.put("huge", 7, 20); // replacing releases the old weight
        assert_eq!(lru.bytes(), 20);
    }
}
