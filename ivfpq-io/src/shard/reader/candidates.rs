//! The map step of a search over many shards: a shard's best candidates with their code
//! estimates and exact distances, so that a reduce can pick the best candidates of all
//! shards and rerank them exactly as one search over all of them would.

use ivfpq_core::{Rows, SearchParams};

use super::{ReadStats, Shard};
use crate::error::Result;

/// One candidate: where it is stored, its code estimate and, when refining, its exact
/// distance (both under the shard's metric).
#[derive(Clone, Debug, PartialEq)]
pub struct ScoredCandidate {
    /// The caller's id.
    pub id: u64,
    /// Partition.
    pub list: u32,
    /// Position inside the partition.
    pub offset: u32,
    /// The distance the codes estimate.
    pub estimate: f32,
    /// The exact distance (when the search refines).
    pub exact: Option<f32>,
    /// The stored vector (when asked for).
    pub vector: Option<Vec<f32>>,
}

/// What [`Shard::candidates`] found and read.
#[derive(Clone, Debug)]
pub struct CandidateOutput {
    /// Per query, the candidates in the scan's order: nearest estimate first (ties by
    /// partition then offset); for RaBitQ codes when refining, nearest lower bound first.
    pub candidates: Vec<Vec<ScoredCandidate>>,
    /// What was read.
    pub stats: ReadStats,
}

impl Shard {
    /// Per query, this shard's best `k · refine_factor` candidates (`k` without refine)
    /// by code estimate, with exact distances when refining and stored vectors when asked.
    /// Over object storage: one round trip for the lists, one for the rows.
    pub fn candidates(
        &self,
        queries: &[f32],
        params: &SearchParams,
        vectors: bool,
    ) -> Result<CandidateOutput> {
        let refine = params.refine_factor > 1;
        let (batch, scanned) = self.scan(queries, params, vectors, refine || vectors)?;
        let super::Scanned {
            cands, rows, stats, ..
        } = scanned;
        let exact = refine.then(|| batch.exact_all(&rows, &cands));
        let mut scratch = vec![0.0f32; self.model.dim()];
        let candidates = cands
            .iter()
            .enumerate()
            .map(|(q, cs)| {
                cs.iter()
                    .enumerate()
                    .map(|(i, c)| ScoredCandidate {
                        id: c.id,
                        list: c.list,
                        offset: c.offset,
                        estimate: batch.metric_distance(c.distance),
                        exact: exact.as_ref().and_then(|e| e[q][i]),
                        vector: vectors.then(|| {
                            rows.row(c.list as usize, c.offset as usize, &mut scratch)
                                .map(<[f32]>::to_vec)
                                .unwrap_or_default()
                        }),
                    })
                    .collect()
            })
            .collect();
        Ok(CandidateOutput { candidates, stats })
    }
}
