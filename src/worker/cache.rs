//! A small least-recently-used map: a handful of entries, so a vector beats a hash map plus
//! a linked list in both code and speed.

/// Keeps at most `capacity` entries, dropping the least recently used.
pub struct Lru<K, V> {
    capacity: usize,
    // Most recently used last.
    items: Vec<(K, V)>,
}

impl<K: PartialEq, V> Lru<K, V> {
    /// An empty cache holding at most `capacity` entries.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            items: Vec::new(),
        }
    }

    /// The value for `key`, now marked most recently used.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        let i = self.items.iter().position(|(k, _)| k == key)?;
        let item = self.items.remove(i);
        self.items.push(item);
        self.items.last().map(|(_, v)| v)
    }

    /// Insert or replace `key`, evicting the oldest entry when full.
    pub fn put(&mut self, key: K, value: V) {
        if let Some(i) = self.items.iter().position(|(k, _)| *k == key) {
            self.items.remove(i);
        } else if self.items.len() >= self.capacity {
            self.items.remove(0);
        }
        self.items.push((key, value));
    }

    /// Forget everything (after a panic the cached state is not trusted).
    pub fn clear(&mut self) {
        self.items.clear();
    }
}
