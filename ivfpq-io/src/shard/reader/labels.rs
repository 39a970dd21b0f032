//! String ids by where rows are stored: the final results of a collection search (a few
//! rows of a few lists), and every row in file order (a collection's sorted id file of a
//! shard with string ids).

use std::collections::BTreeSet;

use super::{ReadStats, Shard, check_crc};
use crate::error::{IoError, Result};

impl Shard {
    /// The string ids of the rows at `keys`, each `(partition, offset in its list)`, in
    /// order: one read of the lists they are in (cached ones aside), then one of the
    /// labels. An error for a shard without string ids, and for a key it does not hold.
    pub fn labels_at(&self, keys: &[(u32, u32)]) -> Result<Vec<String>> {
        if !self.header.labels {
            return Err(IoError::format(
                self.name(),
                "labels",
                "the shard has no string ids",
            ));
        }
        let wanted: BTreeSet<u32> = keys.iter().map(|k| k.0).collect();
        if let Some(&l) = wanted
            .iter()
            .find(|&&l| l as usize >= self.dir.entries.len())
        {
            return Err(IoError::format(
                self.name(),
                "labels",
                format!("no partition {l}"),
            ));
        }
        let mut stats = ReadStats::default();
        let lists = self.load_lists(&wanted, &mut stats)?;
        let section = &self.dir.labels;
        let mut ranges = Vec::with_capacity(keys.len());
        let mut crcs = Vec::with_capacity(keys.len());
        for &(l, off) in keys {
            let (at, len, c) = lists
                .get(&l)
                .and_then(|b| b.label_ref(off as usize))
                .ok_or_else(|| {
                    IoError::format(
                        self.name(),
                        format!("partition {l} list"),
                        format!("no label for row {off}"),
                    )
                })?;
            let end = at
                .checked_add(len as u64)
                .filter(|&e| at >= section.offset && e <= section.offset + section.len)
                .ok_or_else(|| {
                    IoError::format(
                        self.name(),
                        "labels",
                        format!("label of row {off} in partition {l} lies outside the section"),
                    )
                })?;
            ranges.push(at..end);
            crcs.push(c);
        }
        let got = self.fetch(&ranges, &mut stats)?;
        got.into_iter()
            .zip(crcs)
            .zip(keys)
            .map(|((b, c), &(l, off))| {
                let what = format!("labels of partition {l} row {off}");
                check_crc(&b, c, self.name(), &what)?;
                String::from_utf8(b.to_vec())
                    .map_err(|_| IoError::format(self.name(), what, "not UTF-8"))
            })
            .collect()
    }

    /// Every row's string id in file order: partition by partition, each list's rows in
    /// order (the row numbers a collection's deletion files use).
    pub fn labels_in_order(&self) -> Result<Vec<String>> {
        let keys: Vec<(u32, u32)> = self
            .dir
            .entries
            .iter()
            .enumerate()
            .flat_map(|(l, e)| (0..e.rows as u32).map(move |o| (l as u32, o)))
            .collect();
        self.labels_at(&keys)
    }
}
