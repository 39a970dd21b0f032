//! A byte-bounded LRU cache of verified partition lists, for remote sources that see the
//! same partitions again (a service answering many queries against one shard).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::block::ListBlock;

/// Least-recently-used partitions, evicted once their bytes pass the capacity.
pub(crate) struct ListCache {
    capacity: u64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Partition → (block, last use).
    map: HashMap<u32, (ListBlock, u64)>,
    /// Last use → partition: the oldest entry is first.
    order: BTreeMap<u64, u32>,
    bytes: u64,
    tick: u64,
}

impl ListCache {
    /// A cache holding at most `capacity` bytes (0 disables it).
    pub(crate) fn new(capacity: u64) -> ListCache {
        ListCache {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The cached block of partition `l`, marked as just used.
    pub(crate) fn get(&self, l: u32) -> Option<ListBlock> {
        let mut g = self.inner.lock().ok()?;
        let inner = &mut *g;
        inner.tick += 1;
        let tick = inner.tick;
        let (block, used) = inner.map.get_mut(&l)?;
        inner.order.remove(used);
        *used = tick;
        inner.order.insert(tick, l);
        Some(block.clone())
    }

    /// Caches `block` as partition `l`, evicting the least recently used to make room.
    /// A block larger than the whole capacity is not cached.
    pub(crate) fn insert(&self, l: u32, block: ListBlock) {
        let size = block.byte_len() as u64;
        if size > self.capacity {
            return;
        }
        let Ok(mut g) = self.inner.lock() else {
            return;
        };
        let inner = &mut *g;
        if let Some((old, used)) = inner.map.remove(&l) {
            inner.order.remove(&used);
            inner.bytes -= old.byte_len() as u64;
        }
        while inner.bytes + size > self.capacity {
            let Some((_, victim)) = inner.order.pop_first() else {
                break;
            };
            if let Some((old, _)) = inner.map.remove(&victim) {
                inner.bytes -= old.byte_len() as u64;
            }
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.order.insert(tick, l);
        inner.map.insert(l, (block, tick));
        inner.bytes += size;
    }

    /// Bytes held now.
    pub(crate) fn bytes(&self) -> u64 {
        self.inner.lock().map(|g| g.bytes).unwrap_or(0)
    }
}
