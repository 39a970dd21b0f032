//! The shard reader: open (footer, directory, model), then search by fetching only the
//! probed partitions' lists and the candidates' rows.
//!
//! Over object storage a search costs at most three round trips after open: the lists of
//! every probed partition of the batch (one concurrent, coalesced batch of ranged GETs),
//! the candidate rows when refining, and the results' string ids and vectors when asked
//! for. Local files are memory-mapped and the same path reads them in place.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use ivfpq_core::{
    CodeKind, Hit, IvfPqModel, Neighbor, ProductQuantizer, Quantizer, Rabitq, Rotation,
    SearchOptions, SearchParams, VectorStorage,
};

use super::block::{ListBlock, LoadedLists, LoadedRows};
use super::cache::ListCache;
use super::layout::{Directory, FOOTER_LEN, Footer, HEADER_LEN, Header, Section, crc};
use crate::error::{IoError, Result};
use crate::object::{MAX_CONCURRENT_REQUESTS, ObjectSource, StoreOptions, is_url};
use crate::source::{ByteSource, MmapSource, SharedSource, read_coalesced};

mod candidates;
mod labels;
mod mapped;
mod scan;
mod whole;

pub use candidates::{CandidateOutput, ScoredCandidate};
pub use mapped::MappedShard;
use scan::Scanned;

/// Bytes read from the end of the file at open: the footer and, usually, the directory.
const TAIL_READ: u64 = 64 << 10;

/// How to open a shard.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Bytes of partition lists kept between searches on a remote source (0: none).
    pub cache_bytes: u64,
    /// Object-store connection options (ignored for local paths).
    pub store: StoreOptions,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            cache_bytes: 256 << 20,
            store: StoreOptions::default(),
        }
    }
}

/// What one search read. Over object storage `round_trips` counts sequential waves of
/// requests; a memory-mapped file makes no requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Requests issued.
    pub requests: u64,
    /// Sequential waves of concurrent requests.
    pub round_trips: u64,
    /// Bytes received.
    pub bytes_fetched: u64,
    /// Bytes of the sections the search needed (not served from the cache).
    pub bytes_needed: u64,
    /// Partitions the search probed.
    pub partitions: u64,
    /// Of those, served from the cache.
    pub cache_hits: u64,
    /// Candidate rows read for refine.
    pub rows: u64,
}

impl ReadStats {
    /// Adds another search's counts.
    pub fn add(&mut self, o: &ReadStats) {
        self.requests += o.requests;
        self.round_trips += o.round_trips;
        self.bytes_fetched += o.bytes_fetched;
        self.bytes_needed += o.bytes_needed;
        self.partitions += o.partitions;
        self.cache_hits += o.cache_hits;
        self.rows += o.rows;
    }
}

/// Per query and rank: labels, and stored vectors, when asked for.
type Attached = (Option<Vec<Vec<String>>>, Option<Vec<Vec<Vec<f32>>>>);

/// What [`Shard::query`] found and read.
#[derive(Clone, Debug)]
pub struct QueryOutput {
    /// Per query, the results with where they are stored, nearest first.
    pub hits: Vec<Vec<Hit>>,
    /// Per query, the results' string ids (shards built with string ids, when asked).
    pub labels: Option<Vec<Vec<String>>>,
    /// Per query, the results' stored vectors (when asked).
    pub vectors: Option<Vec<Vec<Vec<f32>>>>,
    /// What was read.
    pub stats: ReadStats,
}

/// An open shard file, ready to search.
pub struct Shard {
    source: SharedSource,
    header: Header,
    footer: Footer,
    dir: Directory,
    model: Arc<IvfPqModel>,
    cache: ListCache,
    /// Local sources: lists whose checksum was already verified.
    verified: Vec<AtomicBool>,
    /// Local sources: list blocks read in place, verified once ([`MappedShard`]).
    blocks: Vec<OnceLock<ListBlock>>,
}

impl Shard {
    /// Opens a local path (memory-mapped) or an object-store URL.
    pub fn open(location: &str, opts: &OpenOptions) -> Result<Shard> {
        let source: SharedSource = if is_url(location) {
            Arc::new(ObjectSource::open(location, &opts.store)?)
        } else {
            Arc::new(MmapSource::open(Path::new(location))?)
        };
        Shard::open_source(source, opts.cache_bytes)
    }

    /// Opens a shard over any byte source: one read of the footer and directory (two if
    /// the directory is larger than the first read), one of the header and the model.
    pub fn open_source(source: SharedSource, cache_bytes: u64) -> Result<Shard> {
        let name = source.name().to_string();
        let (tail, file_len) = source.read_tail(TAIL_READ)?;
        if (tail.len() as u64) < (HEADER_LEN + FOOTER_LEN) as u64 || tail.len() as u64 > file_len {
            return Err(IoError::format(
                &name,
                "footer",
                format!("file is {file_len} bytes, too short for a shard (truncated?)"),
            ));
        }
        let footer = Footer::decode(&tail[tail.len() - FOOTER_LEN..], file_len, &name)?;
        let tail_start = file_len - tail.len() as u64;
        let dir_range = footer.dir_offset..footer.dir_offset + footer.dir_len;
        let dir_bytes = if dir_range.start >= tail_start {
            let a = (dir_range.start - tail_start) as usize;
            tail.slice(a..a + footer.dir_len as usize)
        } else {
            one(&*source, dir_range)?
        };
        let got = crc(&dir_bytes);
        if got != footer.dir_crc {
            return Err(IoError::format(
                &name,
                "directory",
                format!(
                    "checksum mismatch: stored {:08x}, computed {got:08x}",
                    footer.dir_crc
                ),
            ));
        }
        // The model sections end before the directory; read the header with them.
        let model_end = Directory::model_end(&dir_bytes).min(footer.dir_offset);
        let front = one(&*source, 0..model_end.max(HEADER_LEN as u64))?;
        let header = Header::decode(&front, &name)?;
        if header.nlist != footer.nlist {
            return Err(IoError::format(
                &name,
                "footer",
                format!(
                    "nlist {} differs from the header's {}",
                    footer.nlist, header.nlist
                ),
            ));
        }
        let dir = Directory::decode(&dir_bytes, &header, footer.dir_offset, &name)?;
        if dir.rows() != footer.rows {
            return Err(IoError::format(
                &name,
                "footer",
                "row count differs from the directory",
            ));
        }
        let section = |s: &Section, what: &str| -> Result<Vec<f32>> {
            let b = front
                .get(s.offset as usize..(s.offset + s.len) as usize)
                .ok_or_else(|| IoError::format(&name, what, "outside the model read"))?;
            check_crc(b, s.crc, &name, what)?;
            Ok(bytemuck::pod_collect_to_vec(b))
        };
        let centroids = section(&dir.centroids, "centroids")?;
        let codebooks = section(&dir.codebooks, "codebooks")?;
        let (dim, m) = (header.dim as usize, header.m as usize);
        let rotation = if header.rotation {
            let r = section(&dir.rotation, "rotation")?;
            let side = header.rotation_dim() as usize;
            let rot = Rotation::from_matrix(side, r)
                .ok_or_else(|| IoError::format(&name, "rotation", "not an orthogonal matrix"))?;
            Some(rot)
        } else {
            None
        };
        let quantizer = match (header.codes, rotation) {
            (CodeKind::Rabitq, Some(rot)) => {
                Quantizer::Rabitq(Rabitq::from_parts(dim, header.bits, rot).ok_or_else(|| {
                    IoError::format(&name, "rotation", "shape does not match header")
                })?)
            }
            (CodeKind::Rabitq, None) => {
                return Err(IoError::format(&name, "rotation", "RaBitQ needs one"));
            }
            (CodeKind::Pq, rotation) => Quantizer::Pq {
                pq: ProductQuantizer::from_codebooks(dim, m, header.ksub(), codebooks).ok_or_else(
                    || IoError::format(&name, "codebooks", "shape does not match header"),
                )?,
                rotation,
            },
        };
        let model = IvfPqModel::from_parts(header.metric, dim, centroids, quantizer)?;
        tracing::debug!(shard = %name, file_len, nlist = header.nlist, rows = footer.rows, "opened shard");
        let (verified, blocks) = if source.is_local() {
            let n = header.nlist as usize;
            (
                (0..n).map(|_| AtomicBool::new(false)).collect(),
                (0..n).map(|_| OnceLock::new()).collect(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(Shard {
            source,
            header,
            footer,
            dir,
            model: Arc::new(model),
            cache: ListCache::new(cache_bytes),
            verified,
            blocks,
        })
    }

    /// The byte source (its counters include the reads made at open).
    pub fn source(&self) -> &SharedSource {
        &self.source
    }

    /// The path or URL.
    pub fn name(&self) -> &str {
        self.source.name()
    }

    /// The header fields.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The directory: every section's offset, count and checksum.
    pub fn directory(&self) -> &Directory {
        &self.dir
    }

    /// The footer.
    pub fn footer(&self) -> &Footer {
        &self.footer
    }

    /// The model (centroids and codebooks).
    pub fn model(&self) -> &Arc<IvfPqModel> {
        &self.model
    }

    /// Vectors in the shard.
    pub fn rows(&self) -> u64 {
        self.footer.rows
    }

    /// Bytes held by the partition cache.
    pub fn cached_bytes(&self) -> u64 {
        self.cache.bytes()
    }

    /// Searches like [`ivfpq_core::IvfPqIndex::search`] and gives the same results for the same data.
    pub fn search(&self, queries: &[f32], params: &SearchParams) -> Result<Vec<Vec<Neighbor>>> {
        Ok(self.search_with_stats(queries, params)?.0)
    }

    /// Searches and reports what was read.
    pub fn search_with_stats(
        &self,
        queries: &[f32],
        params: &SearchParams,
    ) -> Result<(Vec<Vec<Neighbor>>, ReadStats)> {
        let out = self.query(queries, &SearchOptions::new(params.clone()))?;
        let hits = out
            .hits
            .into_iter()
            .map(|h| h.iter().map(Hit::neighbor).collect())
            .collect();
        Ok((hits, out.stats))
    }

    /// Searches, and also reads what `opts` asks for: the results' string ids
    /// ([`SearchOptions::labels`], for shards built with them) and stored vectors
    /// ([`SearchOptions::vectors`]). Round trips over object storage: the lists, the
    /// candidate rows when refining, then the labels and any vectors not yet read.
    pub fn query(&self, queries: &[f32], opts: &SearchOptions) -> Result<QueryOutput> {
        let (params, labels, vectors) = (&opts.params, opts.labels, opts.vectors);
        // A memory-mapped shard is searched in place (string ids need the fetch path).
        if let Some(view) = self.mapped().filter(|_| !(labels && self.header.labels)) {
            return self.query_mapped(&view, queries, params, vectors);
        }
        let refine = params.refine_factor > 1;
        let (
            batch,
            Scanned {
                lists,
                cands,
                mut rows,
                mut stats,
            },
        ) = self.scan(queries, params, vectors, refine)?;
        let hits = batch.rerank(&rows, &cands);
        let (labels, vectors) =
            self.attach(&hits, &lists, &mut rows, labels, vectors, &mut stats)?;
        tracing::debug!(
            shard = %self.name(),
            requests = stats.requests,
            round_trips = stats.round_trips,
            bytes_fetched = stats.bytes_fetched,
            bytes_needed = stats.bytes_needed,
            cache_hits = stats.cache_hits,
            "searched shard"
        );
        Ok(QueryOutput {
            hits,
            labels,
            vectors,
            stats,
        })
    }

    /// Reads labels and vectors of the final hits in one more batch of requests.
    fn attach(
        &self,
        hits: &[Vec<Hit>],
        lists: &LoadedLists,
        rows: &mut LoadedRows,
        want_labels: bool,
        want_vectors: bool,
        stats: &mut ReadStats,
    ) -> Result<Attached> {
        let want_labels = want_labels && self.header.labels;
        if !want_labels && !want_vectors {
            return Ok((None, None));
        }
        let keys: BTreeSet<(u32, u32)> =
            hits.iter().flatten().map(|h| (h.list, h.offset)).collect();
        let mut ranges = Vec::new();
        let mut label_keys = Vec::new();
        if want_labels {
            for &(l, off) in &keys {
                let r = lists.0.get(&l).and_then(|b| b.label_ref(off as usize));
                let (at, len, c) = r.ok_or_else(|| {
                    IoError::format(
                        self.name(),
                        format!("partition {l} list"),
                        "no label reference",
                    )
                })?;
                let end = at.checked_add(len as u64).filter(|&e| {
                    at >= self.dir.labels.offset
                        && e <= self.dir.labels.offset + self.dir.labels.len
                });
                let Some(end) = end else {
                    return Err(IoError::format(
                        self.name(),
                        "labels",
                        format!(
                            "label of row {off} in partition {l} lies outside the labels section"
                        ),
                    ));
                };
                ranges.push(at..end);
                label_keys.push(((l, off), c));
            }
        }
        let missing: BTreeSet<(u32, u32)> = if want_vectors {
            keys.iter()
                .filter(|k| !rows.rows.contains_key(k))
                .copied()
                .collect()
        } else {
            BTreeSet::new()
        };
        let n_labels = ranges.len();
        ranges.extend(missing.iter().map(|&(l, off)| self.row_range(l, off)));
        let mut got = self.fetch(&ranges, stats)?;
        let row_bytes = got.split_off(n_labels);
        let mut label_map = HashMap::new();
        for ((key, c), b) in label_keys.into_iter().zip(got) {
            let section = format!("labels of partition {} row {}", key.0, key.1);
            check_crc(&b, c, self.name(), &section)?;
            let s = String::from_utf8(b.to_vec())
                .map_err(|_| IoError::format(self.name(), section, "not UTF-8"))?;
            label_map.insert(key, s);
        }
        for (key, b) in missing.into_iter().zip(row_bytes) {
            self.check_row(key, &b, lists)?;
            rows.rows.insert(key, b);
        }
        let labels = want_labels.then(|| {
            hits.iter()
                .map(|q| {
                    q.iter()
                        .map(|h| {
                            label_map
                                .get(&(h.list, h.offset))
                                .cloned()
                                .unwrap_or_default()
                        })
                        .collect()
                })
                .collect()
        });
        let vectors = want_vectors.then(|| {
            let mut scratch = vec![0.0f32; self.header.dim as usize];
            hits.iter()
                .map(|q| {
                    q.iter()
                        .map(|h| {
                            use ivfpq_core::Rows;
                            rows.row(h.list as usize, h.offset as usize, &mut scratch)
                                .map(<[f32]>::to_vec)
                                .unwrap_or_default()
                        })
                        .collect()
                })
                .collect()
        });
        Ok((labels, vectors))
    }

    fn list_range(&self, l: u32) -> Range<u64> {
        let e = &self.dir.entries[l as usize];
        // Lengths were checked against the file when the directory was decoded.
        let len = self.header.list_len(e.rows).unwrap_or(0);
        e.list_offset..e.list_offset + len
    }

    /// Reads `ranges` and records requests, bytes and round trips in `stats`.
    fn fetch(&self, ranges: &[Range<u64>], stats: &mut ReadStats) -> Result<Vec<Bytes>> {
        let (req0, _) = self.source.counters().get();
        let (out, fetched) = read_coalesced(&*self.source, ranges)?;
        let (req1, _) = self.source.counters().get();
        let requests = req1 - req0;
        stats.requests += requests;
        stats.round_trips += requests.div_ceil(MAX_CONCURRENT_REQUESTS as u64);
        stats.bytes_fetched += fetched;
        if !self.source.is_local() {
            stats.bytes_needed += ranges.iter().map(|r| r.end - r.start).sum::<u64>();
        }
        Ok(out)
    }

    /// The verified list blocks of partitions `wanted` (empty partitions are left out).
    fn load_lists(
        &self,
        wanted: &BTreeSet<u32>,
        stats: &mut ReadStats,
    ) -> Result<HashMap<u32, ListBlock>> {
        let mut out = HashMap::with_capacity(wanted.len());
        let mut missing = Vec::new();
        for &l in wanted {
            if self.dir.entries[l as usize].rows == 0 {
                continue;
            }
            stats.partitions += 1;
            match self.cache.get(l) {
                Some(b) => {
                    stats.cache_hits += 1;
                    out.insert(l, b);
                }
                None => missing.push(l),
            }
        }
        let ranges: Vec<Range<u64>> = missing.iter().map(|&l| self.list_range(l)).collect();
        let bytes = self.fetch(&ranges, stats)?;
        for (&l, b) in missing.iter().zip(bytes) {
            let block = self.check_list(l, b)?;
            if !self.source.is_local() {
                self.cache.insert(l, block.clone());
            }
            out.insert(l, block);
        }
        Ok(out)
    }

    /// Checks a list block's checksum (once per partition for local files).
    fn check_list(&self, l: u32, b: Bytes) -> Result<ListBlock> {
        let e = &self.dir.entries[l as usize];
        let done = self.verified.get(l as usize);
        if !done.is_some_and(|v| v.load(Ordering::Acquire)) {
            check_crc(&b, e.list_crc, self.name(), &format!("partition {l} list"))?;
            if let Some(v) = done {
                v.store(true, Ordering::Release);
            }
        }
        // Checked against the file when the directory was decoded.
        let h = &self.header;
        let codes_len = h.codes_len(e.rows).unwrap_or(0) as usize;
        let (scan, aux_end) = match (h.codes, h.rabitq_lens(e.rows)) {
            (CodeKind::Rabitq, Some((s, f, _))) => (s as usize, (s + f) as usize),
            _ => (codes_len, codes_len),
        };
        let has_crcs = h.storage != VectorStorage::None;
        Ok(ListBlock::new(
            b,
            e.rows as usize,
            (codes_len, scan, aux_end),
            has_crcs,
        ))
    }

    fn row_range(&self, l: u32, off: u32) -> Range<u64> {
        let row_len = self.header.row_len();
        let start = self.dir.entries[l as usize].vectors_offset + off as u64 * row_len;
        start..start + row_len
    }

    fn check_row(&self, (l, off): (u32, u32), b: &[u8], lists: &LoadedLists) -> Result<()> {
        match lists.0.get(&l) {
            Some(block) => self.check_row_bytes((l, off), b, block),
            None => Err(IoError::format(
                self.name(),
                format!("partition {l} vectors, row {off}"),
                "no row checksum",
            )),
        }
    }

    /// Checks stored row `off` of partition `l` against its CRC in `block`.
    fn check_row_bytes(&self, (l, off): (u32, u32), b: &[u8], block: &ListBlock) -> Result<()> {
        let want = block.row_crc(off as usize);
        // The section's name is made only for an error: this runs for every refine row.
        let section = || format!("partition {l} vectors, row {off}");
        match want {
            Some(w) if crc(b) == w => Ok(()),
            Some(w) => check_crc(b, w, self.name(), &section()),
            None => Err(IoError::format(self.name(), section(), "no row checksum")),
        }
    }

    /// Reads and verifies the stored rows `keys`, in one batch of requests.
    fn load_rows(
        &self,
        keys: &BTreeSet<(u32, u32)>,
        lists: &LoadedLists,
        stats: &mut ReadStats,
    ) -> Result<HashMap<(u32, u32), Bytes>> {
        let ranges: Vec<Range<u64>> = keys
            .iter()
            .map(|&(l, off)| self.row_range(l, off))
            .collect();
        stats.rows += keys.len() as u64;
        let bytes = self.fetch(&ranges, stats)?;
        let mut out = HashMap::with_capacity(keys.len());
        for (&key, b) in keys.iter().zip(bytes) {
            self.check_row(key, &b, lists)?;
            out.insert(key, b);
        }
        Ok(out)
    }
}

fn one(source: &dyn ByteSource, r: Range<u64>) -> Result<Bytes> {
    let want = r.end - r.start;
    let b = source
        .read_ranges(std::slice::from_ref(&r))?
        .pop()
        .unwrap_or_default();
    if b.len() as u64 != want {
        return Err(IoError::format(
            source.name(),
            "read",
            format!("short read at {r:?}: {} bytes", b.len()),
        ));
    }
    Ok(b)
}

fn check_crc(b: &[u8], want: u32, file: &str, section: &str) -> Result<()> {
    let got = crc(b);
    if got != want {
        return Err(IoError::format(
            file,
            section,
            format!("checksum mismatch: stored {want:08x}, computed {got:08x}"),
        ));
    }
    Ok(())
}
