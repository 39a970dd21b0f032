//! Whole-partition reads: one partition as an owned [`Partition`], the full verification
//! of a file, and the whole shard as an in-memory index. Searches never take this path;
//! they fetch only the lists and rows a query needs (the parent module).

use std::ops::Range;

use ivfpq_core::{IvfPqIndex, Partition, VectorStorage, Vectors};
use ivfpq_simd::Pq4Layout;

use super::{Shard, check_crc, one};
use crate::error::{IoError, Result};
use crate::shard::layout::{FOOTER_LEN, HEADER_LEN};

impl Shard {
    /// Reads partition `l` whole (list and vectors), verified, as an owned [`Partition`].
    pub fn partition(&self, l: usize) -> Result<Partition> {
        let e = *self.dir.entries.get(l).ok_or_else(|| {
            IoError::from(ivfpq_core::IvfPqError::InvalidParameter {
                param: "partition",
                message: format!("{l} is not below nlist = {}", self.header.nlist),
            })
        })?;
        let h = &self.header;
        let list = self.list_range(l as u32);
        let vlen = h.vectors_len(e.rows).unwrap_or(0);
        let mut ranges = vec![list];
        if h.storage != VectorStorage::None && e.rows > 0 {
            ranges.push(e.vectors_offset..e.vectors_offset + vlen);
        }
        let got = self.source.read_ranges(&ranges)?;
        let block = self.check_list(l as u32, got[0].clone())?;
        let rows: &[u8] = got.get(1).map(|b| &b[..]).unwrap_or(&[]);
        let row_len = h.row_len() as usize;
        if row_len > 0 {
            for (i, r) in rows.chunks_exact(row_len).enumerate() {
                let want = block.row_crc(i).unwrap_or(0);
                check_crc(
                    r,
                    want,
                    self.name(),
                    &format!("partition {l} vectors, row {i}"),
                )?;
            }
        }
        let vectors = match h.storage {
            VectorStorage::F32 => Vectors::F32(bytemuck::pod_collect_to_vec(rows)),
            VectorStorage::F16 => Vectors::F16(bytemuck::pod_collect_to_vec(rows)),
            VectorStorage::None => Vectors::None,
        };
        Ok(Partition {
            codes: block.codes().to_vec(),
            aux: block.aux().to_vec(),
            records: block.records().to_vec(),
            ids: block.ids().to_vec(),
            vectors,
            // Files hold the blocked layout; `IvfPqIndex::from_parts` reorders it for the
            // kernels.
            layout: Pq4Layout::Blocked,
        })
    }

    /// Checks every section's checksum, one partition at a time (memory stays at one
    /// partition), the labels, and that the padding between sections is zero: after
    /// this, every byte of the file has been checked.
    pub fn verify(&self) -> Result<()> {
        for l in 0..self.header.nlist as usize {
            self.partition(l)?;
        }
        let d = &self.dir;
        if self.header.labels {
            let b = one(&*self.source, d.labels.range())?;
            check_crc(&b, d.labels.crc, self.name(), "labels")?;
        }
        // Sections in file order; the gaps between them are alignment padding.
        let mut spans = vec![
            0..HEADER_LEN as u64,
            d.centroids.range(),
            d.codebooks.range(),
            d.rotation.range(),
        ];
        spans.push(d.labels.range());
        for (l, e) in d.entries.iter().enumerate() {
            spans.push(self.list_range(l as u32));
            let vlen = self.header.vectors_len(e.rows).unwrap_or(0);
            spans.push(e.vectors_offset..e.vectors_offset + vlen);
        }
        let f = &self.footer;
        spans.push(f.dir_offset..f.dir_offset + f.dir_len);
        spans.push(f.file_len - FOOTER_LEN as u64..f.file_len);
        spans.retain(|r| r.end > r.start);
        spans.sort_by_key(|r| r.start);
        let gaps: Vec<Range<u64>> = spans
            .windows(2)
            .filter(|w| w[1].start > w[0].end)
            .map(|w| w[0].end..w[1].start)
            .collect();
        for (g, b) in gaps.iter().zip(self.source.read_ranges(&gaps)?) {
            if b.iter().any(|&x| x != 0) {
                return Err(IoError::format(
                    self.name(),
                    format!("padding at {g:?}"),
                    "non-zero padding bytes",
                ));
            }
        }
        Ok(())
    }

    /// Loads the whole shard into an in-memory index.
    pub fn to_index(&self) -> Result<IvfPqIndex> {
        let parts = (0..self.header.nlist as usize)
            .map(|l| self.partition(l))
            .collect::<Result<Vec<_>>>()?;
        Ok(IvfPqIndex::from_parts(
            self.model.clone(),
            self.header.storage,
            parts,
        )?)
    }

    /// Rows per partition.
    pub fn partition_sizes(&self) -> Vec<u64> {
        self.dir.entries.iter().map(|e| e.rows).collect()
    }
}
