//! Build and search parameters, with their defaults and checks.

use std::sync::Arc;

use crate::error::{IvfPqError, Result, invalid};
use crate::metric::Metric;

/// How full vectors are kept for exact reranking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum VectorStorage {
    /// 4 bytes a coordinate; refine distances are exact.
    #[default]
    F32,
    /// 2 bytes a coordinate (IEEE half); halves the memory, refine distances are those of
    /// the rounded vectors.
    F16,
    /// No full vectors; `refine_factor` must stay 1.
    None,
}

/// The codes the scan reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum CodeKind {
    /// Product quantization: `m` sub-quantizers of `nbits` (8 or 4) each.
    #[default]
    Pq,
    /// RaBitQ: `nbits` (1 to 8) a coordinate after a random rotation, with per-vector
    /// error bounds that drive the rerank (see [`crate::Rabitq`]).
    Rabitq,
}

/// Parameters of [`crate::IvfPqModel::train`] and [`crate::IvfPqIndex::build`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IndexParams {
    /// Distance metric.
    pub metric: Metric,
    /// Coarse partitions; `None` means `sqrt(n)` of the training set (at least 1).
    pub nlist: Option<usize>,
    /// PQ sub-quantizers; `None` means `dim / 16` (or the nearest divisor of `dim`).
    pub m: Option<usize>,
    /// The code type.
    pub codes: CodeKind,
    /// Bits per code. PQ: 8 (256 codewords, scanned by table gathers) or 4 (16
    /// codewords, fast-scan with in-register tables). RaBitQ: 1 to 8 a coordinate.
    pub nbits: u32,
    /// Coarse k-means iterations (default 10).
    pub kmeans_iters: usize,
    /// PQ k-means iterations (default 25).
    pub pq_iters: usize,
    /// Training points kept per centroid (default 256); larger sets are subsampled.
    pub max_points_per_centroid: usize,
    /// RNG seed: the same data, parameters and seed give the same index.
    pub seed: u64,
    /// How full vectors are stored for refine.
    pub storage: VectorStorage,
    /// Learn an OPQ rotation before PQ; `None` means on for cosine and dot (real
    /// embeddings, where plain PQ hits a recall ceiling) and off for L2.
    pub opq: Option<bool>,
    /// OPQ rounds (rotation update plus PQ refit), default 10.
    pub opq_iters: usize,
}

impl Default for IndexParams {
    fn default() -> Self {
        IndexParams {
            metric: Metric::L2,
            nlist: None,
            m: None,
            codes: CodeKind::Pq,
            nbits: 8,
            kmeans_iters: 10,
            pq_iters: 25,
            max_points_per_centroid: 256,
            seed: 42,
            storage: VectorStorage::F32,
            opq: None,
            opq_iters: 10,
        }
    }
}

impl IndexParams {
    /// Sets the distance metric (default [`Metric::L2`]).
    pub fn with_metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }

    /// Sets the number of coarse partitions (default `sqrt(n)` of the training set).
    pub fn with_nlist(mut self, nlist: usize) -> Self {
        self.nlist = Some(nlist);
        self
    }

    /// Sets the PQ sub-quantizers (default `dim / 16`, or the nearest divisor of `dim`).
    pub fn with_m(mut self, m: usize) -> Self {
        self.m = Some(m);
        self
    }

    /// Sets the code type (default [`CodeKind::Pq`]).
    pub fn with_codes(mut self, codes: CodeKind) -> Self {
        self.codes = codes;
        self
    }

    /// Sets the bits per code: 8 or 4 for PQ, 1 to 8 for RaBitQ (default 8).
    pub fn with_nbits(mut self, nbits: u32) -> Self {
        self.nbits = nbits;
        self
    }

    /// Sets the coarse k-means iterations (default 10).
    pub fn with_kmeans_iters(mut self, iters: usize) -> Self {
        self.kmeans_iters = iters;
        self
    }

    /// Sets the PQ k-means iterations (default 25).
    pub fn with_pq_iters(mut self, iters: usize) -> Self {
        self.pq_iters = iters;
        self
    }

    /// Sets the training points kept per centroid before subsampling (default 256).
    pub fn with_max_points_per_centroid(mut self, n: usize) -> Self {
        self.max_points_per_centroid = n;
        self
    }

    /// Sets the RNG seed that makes training reproducible (default 42).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets how full vectors are stored for refine (default [`VectorStorage::F32`]).
    pub fn with_storage(mut self, storage: VectorStorage) -> Self {
        self.storage = storage;
        self
    }

    /// Sets whether to learn an OPQ rotation; `None` (the default) means on for cosine and
    /// dot, off for L2.
    pub fn with_opq(mut self, opq: Option<bool>) -> Self {
        self.opq = opq;
        self
    }

    /// Sets the OPQ rounds of rotation update plus PQ refit (default 10).
    pub fn with_opq_iters(mut self, iters: usize) -> Self {
        self.opq_iters = iters;
        self
    }

    /// `nlist` for `n` training vectors.
    pub fn resolved_nlist(&self, n: usize) -> usize {
        self.nlist
            .unwrap_or_else(|| ((n as f64).sqrt() as usize).max(1))
    }

    /// Whether training learns an OPQ rotation (see [`IndexParams::opq`]); never for
    /// RaBitQ, whose rotation is random.
    pub fn uses_opq(&self) -> bool {
        self.codes == CodeKind::Pq && self.opq.unwrap_or(self.metric != Metric::L2)
    }

    /// `m` for dimension `dim`, checked to divide it.
    pub fn resolved_m(&self, dim: usize) -> Result<usize> {
        let m = match self.m {
            Some(m) => m,
            // dim/16 (8-bit) or dim/8 (4-bit: the same code bytes) when it divides;
            // otherwise the divisor of dim nearest to it.
            None => {
                let per = if self.nbits == 4 { 8 } else { 16 };
                nearest_divisors(dim, (dim / per).max(1))[0]
            }
        };
        if m == 0 || m > dim || !dim.is_multiple_of(m) {
            return Err(IvfPqError::MDoesNotDivideDim {
                dim,
                m,
                suggestions: nearest_divisors(dim, m.max(1)),
            });
        }
        Ok(m)
    }

    pub(crate) fn check(&self) -> Result<()> {
        match self.codes {
            CodeKind::Rabitq => crate::rabitq::check_bits(self.nbits)?,
            CodeKind::Pq if self.nbits != 8 && self.nbits != 4 => {
                return Err(invalid(
                    "nbits",
                    format!(
                        "{} bits per PQ code is not supported; use 8 or 4 (or RaBitQ codes)",
                        self.nbits
                    ),
                ));
            }
            CodeKind::Pq => {}
        }
        if self.codes == CodeKind::Rabitq && self.opq == Some(true) {
            return Err(invalid(
                "opq",
                "RaBitQ codes use a random rotation; OPQ applies to PQ codes only",
            ));
        }
        if self.nlist == Some(0) {
            return Err(invalid("nlist", "must be at least 1"));
        }
        if self.kmeans_iters == 0 {
            return Err(invalid("kmeans_iters", "must be at least 1"));
        }
        if self.pq_iters == 0 {
            return Err(invalid("pq_iters", "must be at least 1"));
        }
        if self.max_points_per_centroid == 0 {
            return Err(invalid("max_points_per_centroid", "must be at least 1"));
        }
        Ok(())
    }
}

/// Up to four divisors of `dim`, nearest to `m` first.
pub(crate) fn nearest_divisors(dim: usize, m: usize) -> Vec<usize> {
    let mut d: Vec<usize> = (1..=dim).filter(|x| dim.is_multiple_of(*x)).collect();
    d.sort_by_key(|&x| (x.abs_diff(m), x));
    d.truncate(4);
    d
}

/// A set of ids for a filter. Hashed with FxHash, a multiply: a scan asks it of many rows,
/// and SipHash's resistance to chosen keys buys nothing for ids (it made a 10 % deletion
/// filter cost a collection search half its speed).
pub type IdSet = std::collections::HashSet<u64, rustc_hash::FxBuildHasher>;

/// Which ids a search may return.
#[derive(Clone, Debug)]
pub enum IdFilter {
    /// Only these ids.
    Allow(Arc<IdSet>),
    /// Every id but these.
    Deny(Arc<IdSet>),
}

impl IdFilter {
    /// Whether `id` passes.
    #[inline]
    pub fn accepts(&self, id: u64) -> bool {
        match self {
            IdFilter::Allow(s) => s.contains(&id),
            IdFilter::Deny(s) => !s.contains(&id),
        }
    }
}

/// The largest `k` a search accepts.
pub const MAX_K: usize = 50_000;

/// The most candidates a search keeps for a query, `k · refine_factor`.
const MAX_CANDIDATES: usize = 1 << 30;

/// Parameters of a search.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SearchParams {
    /// Results per query, 1 to [`MAX_K`].
    pub k: usize,
    /// Partitions probed per query, at least 1. Values above `nlist` are clamped to
    /// `nlist` (every partition is probed), as FAISS does.
    pub nprobe: usize,
    /// Rerank `k · refine_factor` PQ candidates with exact distances from the stored
    /// vectors. 1 means no rerank: distances are PQ estimates. With RaBitQ codes it is an
    /// upper bound: a candidate is reranked only while its lower bound can still enter
    /// the top `k`. At least 1, and `k · refine_factor` at most 2³⁰.
    pub refine_factor: usize,
    /// Adaptive refine: rerank candidates in PQ order and stop at the first whose PQ
    /// distance, less the error margin, cannot enter the top `k`; `refine_factor` is then
    /// an upper bound. The margin is calibrated per query: the largest amount by which a
    /// candidate already reranked had its PQ distance over its exact one.
    pub auto_refine: bool,
    /// RaBitQ: the error bound in standard deviations of the estimate (`ε₀`, default
    /// [`crate::EPSILON0`]). Larger loses fewer neighbours to an estimate outside its
    /// bound and reranks more.
    pub rabitq_epsilon: f32,
    /// Cosine: score every probe with the query's own table plus a constant (the
    /// inner-product form `‖q − c‖² + 1 − ‖c‖² − 2⟨q, r⟩`, which uses the true `‖x‖ = 1`)
    /// instead of a table per probe from the residual `q − c`. One table per query makes
    /// the scan faster (1.2–1.6× measured on minilm384-dev and glove50), with the same
    /// recall there once candidates are reranked; but its error is first order in the
    /// code error where the residual table's is second order for near neighbours, so on
    /// tightly clustered data it loses recall. Off by default. Dot always scores this way;
    /// L2 never does.
    pub shared_table: bool,
    /// Adaptive probing (L2 and cosine): `nprobe` becomes a cap. The nearest
    /// `ceil(nprobe / 4)` partitions are always probed; each further one only while its
    /// coarse distance is at most `probe_ratio` times the nearest partition's. A query
    /// near one centroid then probes fewer lists than one between several. At least 1.
    pub probe_ratio: Option<f32>,
    /// Optional allow-list or deny-list of ids.
    pub filter: Option<IdFilter>,
}

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams {
            k: 10,
            nprobe: 1,
            refine_factor: 1,
            auto_refine: false,
            rabitq_epsilon: crate::EPSILON0,
            shared_table: false,
            probe_ratio: None,
            filter: None,
        }
    }
}

impl SearchParams {
    /// Parameters with `k` and `nprobe`, no refine and no filter.
    pub fn new(k: usize, nprobe: usize) -> Self {
        SearchParams {
            k,
            nprobe,
            ..Default::default()
        }
    }

    /// Sets the results per query, 1 to [`MAX_K`] (default 10).
    pub fn with_k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// Sets the partitions probed per query, at least 1 (default 1).
    pub fn with_nprobe(mut self, nprobe: usize) -> Self {
        self.nprobe = nprobe;
        self
    }

    /// Sets `refine_factor`: rerank `k · refine_factor` candidates (default 1, no rerank).
    pub fn with_refine(mut self, refine_factor: usize) -> Self {
        self.refine_factor = refine_factor;
        self
    }

    /// Adaptive refine (see [`SearchParams::auto_refine`]) of at most
    /// `k · max_factor` candidates.
    pub fn with_auto_refine(mut self, max_factor: usize) -> Self {
        self.refine_factor = max_factor;
        self.auto_refine = true;
        self
    }

    /// Sets the RaBitQ error bound in standard deviations (default [`crate::EPSILON0`]).
    pub fn with_rabitq_epsilon(mut self, epsilon: f32) -> Self {
        self.rabitq_epsilon = epsilon;
        self
    }

    /// Sets [`SearchParams::shared_table`], one distance table per query (default off).
    pub fn with_shared_table(mut self, on: bool) -> Self {
        self.shared_table = on;
        self
    }

    /// Adaptive probing with `ratio` (see [`SearchParams::probe_ratio`]; default off).
    pub fn with_probe_ratio(mut self, ratio: f32) -> Self {
        self.probe_ratio = Some(ratio);
        self
    }

    /// Sets the allow-list or deny-list of ids a search may return (default none).
    pub fn with_filter(mut self, filter: IdFilter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Checks every field's range (each search does); the error names the field.
    pub fn check(&self) -> Result<()> {
        if self.k == 0 || self.k > MAX_K {
            return Err(invalid(
                "k",
                format!("{} is out of range; k must be 1 to {MAX_K}", self.k),
            ));
        }
        if self.nprobe == 0 {
            return Err(invalid("nprobe", "must be at least 1"));
        }
        if !(self.rabitq_epsilon.is_finite() && self.rabitq_epsilon >= 0.0) {
            return Err(invalid(
                "rabitq_epsilon",
                format!("{} is not a finite value ≥ 0", self.rabitq_epsilon),
            ));
        }
        if self.refine_factor == 0 {
            return Err(invalid(
                "refine_factor",
                "must be at least 1 (1 means no rerank)",
            ));
        }
        if self
            .k
            .checked_mul(self.refine_factor)
            .is_none_or(|c| c > MAX_CANDIDATES)
        {
            return Err(invalid(
                "refine_factor",
                format!(
                    "{} is out of range: k · refine_factor = {} · {} candidates a query is over \
                     the {MAX_CANDIDATES} allowed",
                    self.refine_factor, self.k, self.refine_factor
                ),
            ));
        }
        if let Some(r) = self.probe_ratio
            && !(r.is_finite() && r >= 1.0)
        {
            return Err(invalid(
                "probe_ratio",
                format!("{r} is not a finite value ≥ 1"),
            ));
        }
        Ok(())
    }
}

/// How to search a shard file or a collection of them: the search parameters, and what to
/// return with each result besides its id and distance. `ivfpq_io::Shard::query` and
/// `ivfpq_shard::Collection::search` take the same options.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SearchOptions {
    /// `k`, `nprobe`, `refine_factor` and the rest.
    pub params: SearchParams,
    /// Return each result's stored vector.
    pub vectors: bool,
    /// Return each result's string id (shards built with string ids; a collection's
    /// results carry u64 ids only).
    pub labels: bool,
}

impl SearchOptions {
    /// Options with these search parameters, returning ids and distances only.
    pub fn new(params: SearchParams) -> Self {
        SearchOptions {
            params,
            vectors: false,
            labels: false,
        }
    }

    /// Also return each result's stored vector.
    pub fn with_vectors(mut self, on: bool) -> Self {
        self.vectors = on;
        self
    }

    /// Also return each result's string id.
    pub fn with_labels(mut self, on: bool) -> Self {
        self.labels = on;
        self
    }
}

impl From<SearchParams> for SearchOptions {
    fn from(params: SearchParams) -> Self {
        SearchOptions::new(params)
    }
}
