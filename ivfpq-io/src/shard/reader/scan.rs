//! The first round trips of a search over fetched bytes: the probed lists, their scan,
//! and the candidates' rows.

use std::collections::{BTreeSet, HashMap};

use ivfpq_core::{QueryBatch, SearchParams, VectorStorage};

use super::super::block::{LoadedLists, LoadedRows};
use super::{ReadStats, Shard};
use crate::error::Result;

/// What a search's scan loaded and found (see `Shard::scan`).
pub(super) struct Scanned {
    pub(super) lists: LoadedLists,
    pub(super) cands: Vec<Vec<ivfpq_core::Candidate>>,
    pub(super) rows: LoadedRows,
    pub(super) stats: ReadStats,
}

impl Shard {
    /// Refine and returned vectors need stored vectors.
    pub(super) fn check_vectors(&self, params: &SearchParams, vectors: bool) -> Result<()> {
        let refine = params.refine_factor > 1;
        if (refine || vectors) && self.header.storage == VectorStorage::None {
            return Err(ivfpq_core::IvfPqError::InvalidParameter {
                param: if refine { "refine_factor" } else { "vectors" },
                message: "this shard stores no full vectors".into(),
            }
            .into());
        }
        Ok(())
    }

    /// The first round trips of a search: checks, then the probed lists (one batch of
    /// requests) and their scan, then the candidates' rows when `load_rows` (another).
    pub(super) fn scan<'b>(
        &'b self,
        queries: &'b [f32],
        params: &'b SearchParams,
        vectors: bool,
        load_rows: bool,
    ) -> Result<(QueryBatch<'b>, Scanned)> {
        self.check_vectors(params, vectors)?;
        let batch = QueryBatch::new(&self.model, queries, params)?;
        let mut stats = ReadStats::default();
        let wanted: BTreeSet<u32> = batch.probes().into_iter().flatten().collect();
        let lists = LoadedLists(self.load_lists(&wanted, &mut stats)?);
        let cands = batch.scan(&lists);
        let mut rows = LoadedRows {
            rows: HashMap::new(),
            storage: self.header.storage,
        };
        if load_rows {
            let keys = cands.iter().flatten().map(|c| (c.list, c.offset)).collect();
            rows.rows = self.load_rows(&keys, &lists, &mut stats)?;
        }
        Ok((
            batch,
            Scanned {
                lists,
                cands,
                rows,
                stats,
            },
        ))
    }
}
