//! The manifest: one small, checksummed JSON file per version naming everything a reader
//! of that version needs (`docs/format.md`, "Collections").

use ivfpq_core::{Metric, VectorStorage};
use serde::{Deserialize, Serialize};

use crate::error::{Result, ShardError};

/// The `format` value of every manifest.
pub const MANIFEST_FORMAT: &str = "ivfpq-collection";
/// The one manifest format version this code reads and writes.
pub const MANIFEST_FORMAT_VERSION: u32 = 1;
/// The folder of the version files.
pub const VERSIONS_DIR: &str = "_versions";
/// The file holding the newest version number as a hint (never trusted alone).
pub const LATEST_HINT: &str = "_latest";

/// One version of a collection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// Always [`MANIFEST_FORMAT_VERSION`].
    pub format_version: u32,
    /// This version's number, from 1.
    pub version: u64,
    /// When it was committed, in milliseconds since the Unix epoch (information only).
    pub timestamp_ms: u64,
    /// What the commit did, in words (`"create"`, `"add 3 shards"`).
    pub operation: String,
    /// Vector dimension of every shard.
    pub dim: u32,
    /// Metric of every shard: `l2`, `cosine` or `dot`.
    pub metric: String,
    /// The collection's model; `None` when its shards were trained separately (their
    /// estimates are then not comparable, and every search reranks exactly).
    pub model: Option<ModelRef>,
    /// The shards, in the order they were added.
    pub shards: Vec<ShardEntry>,
    /// Growing segments: recent rows kept whole and searched exactly until `seal`
    /// encodes them into a shard, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub growing: Vec<SegmentEntry>,
    /// The embedding function that turns the collection's raw inputs into vectors, when
    /// one was recorded ([`crate::Collection::set_embedding`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<crate::embed::EmbeddingRef>,
}

/// A growing segment: an Arrow IPC file of ids and full vectors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEntry {
    /// Path under the collection, `growing/{unique}.arrow`.
    pub path: String,
    /// Rows in the file (deleted ones included).
    pub rows: u64,
    /// File length.
    pub bytes: u64,
    /// Smallest id.
    pub id_min: u64,
    /// Largest id.
    pub id_max: u64,
    /// Its deleted rows, when any are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<DeletionRef>,
    /// The smallest and largest string id, for rows added with them (the u64 ids then
    /// number the segment's rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_range: Option<(String, String)>,
}

/// A deletion file: the row positions (and their ids) deleted from one shard or segment,
/// every earlier deletion of it included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionRef {
    /// Path under the collection, `deletions/{target}-{version}.arrow`.
    pub path: String,
    /// Rows it deletes.
    pub rows: u64,
}

/// The model file every shard of the collection was encoded with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    /// SHA-256 of the model file, 64 lowercase hex digits.
    pub hash: String,
    /// Its path under the collection, `model/{hash}.ivfpq`.
    pub path: String,
}

/// What the manifest records of one shard, checked when the shard is opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// Path under the collection, `shards/{unique}.ivfpq`.
    pub path: String,
    /// Vectors in the shard.
    pub rows: u64,
    /// File length.
    pub bytes: u64,
    /// The CRC32C of the shard's directory, from its footer: the directory holds every
    /// other section's checksum, so this identifies the content.
    pub checksum: u32,
    /// The shard header's model hash, 16 lowercase hex digits.
    pub model_hash: String,
    /// Smallest id (0 when the shard is empty).
    pub id_min: u64,
    /// Largest id (0 when the shard is empty).
    pub id_max: u64,
    /// Stored refine vectors: `f32`, `f16` or `none`.
    pub storage: String,
    /// The shard's sorted id file, `ids/{unique}.arrow` (ids and row positions), which
    /// finds a row by id without reading the shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<String>,
    /// Its deleted rows, when any are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<DeletionRef>,
    /// Whether the shard holds string ids: its u64 ids then number its own rows, so they
    /// are neither unique in the collection nor found by id lookups.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub labels: bool,
    /// The smallest and largest string id, for a shard with string ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_range: Option<(String, String)>,
}

impl ShardEntry {
    /// Rows not deleted.
    pub fn live_rows(&self) -> u64 {
        self.rows - self.deletion.as_ref().map_or(0, |d| d.rows.min(self.rows))
    }
}

impl SegmentEntry {
    /// Rows not deleted.
    pub fn live_rows(&self) -> u64 {
        self.rows - self.deletion.as_ref().map_or(0, |d| d.rows.min(self.rows))
    }
}

impl Manifest {
    /// Version 1 of a new collection.
    pub(crate) fn first(dim: u32, metric: Metric, model: Option<ModelRef>) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT.into(),
            format_version: MANIFEST_FORMAT_VERSION,
            version: 1,
            timestamp_ms: now_ms(),
            operation: "create".into(),
            dim,
            metric: metric.name().into(),
            model,
            shards: Vec::new(),
            growing: Vec::new(),
            embedding: None,
        }
    }

    /// The next version: the same content, numbered `version + 1`, for `operation`.
    pub(crate) fn next(&self, operation: String) -> Manifest {
        Manifest {
            version: self.version + 1,
            timestamp_ms: now_ms(),
            operation,
            ..self.clone()
        }
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        // Checked at decode and set from a `Metric` at create.
        self.metric.parse().unwrap_or(Metric::L2)
    }

    /// Rows in all shards.
    pub fn rows(&self) -> u64 {
        self.shards.iter().map(|s| s.rows).sum()
    }

    /// Rows not deleted, in shards and growing segments: what a search can return.
    pub fn live_rows(&self) -> u64 {
        let s: u64 = self.shards.iter().map(ShardEntry::live_rows).sum();
        s + self
            .growing
            .iter()
            .map(SegmentEntry::live_rows)
            .sum::<u64>()
    }

    /// Rows in growing segments (deleted ones included).
    pub fn growing_rows(&self) -> u64 {
        self.growing.iter().map(|g| g.rows).sum()
    }

    /// Every file this version references: the model, shards, id files, segments and
    /// deletion files (what `vacuum` keeps).
    pub fn files(&self) -> Vec<String> {
        let mut out: Vec<String> = self.model.iter().map(|m| m.path.clone()).collect();
        for s in &self.shards {
            out.push(s.path.clone());
            out.extend(s.ids.iter().cloned());
            out.extend(s.deletion.iter().map(|d| d.path.clone()));
        }
        for g in &self.growing {
            out.push(g.path.clone());
            out.extend(g.deletion.iter().map(|d| d.path.clone()));
        }
        out
    }

    /// Whether every shard shares the collection's model (so PQ estimates compare).
    pub fn shared_model(&self) -> bool {
        self.model.is_some()
    }

    /// The file bytes: the JSON, then a line `crc32c:XXXXXXXX` with the CRC32C of every
    /// byte before it.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain structs of strings and integers cannot fail.
        let mut b = serde_json::to_vec_pretty(self).unwrap_or_default();
        b.push(b'\n');
        let c = crc32c::crc32c(&b);
        b.extend_from_slice(format!("crc32c:{c:08x}\n").as_bytes());
        b
    }

    /// Parses and checks a manifest file's bytes (`file` names it in errors).
    pub fn decode(bytes: &[u8], file: &str) -> Result<Manifest> {
        let bad = |message: String| ShardError::Manifest {
            file: file.to_string(),
            message,
        };
        const TAIL: usize = "crc32c:00000000\n".len();
        if bytes.len() < TAIL || !bytes.ends_with(b"\n") {
            return Err(bad(format!("{} bytes: truncated", bytes.len())));
        }
        let (body, tail) = bytes.split_at(bytes.len() - TAIL);
        let want = std::str::from_utf8(tail)
            .ok()
            .and_then(|t| t.strip_prefix("crc32c:"))
            .and_then(|t| u32::from_str_radix(t.trim_end(), 16).ok())
            .ok_or_else(|| bad("no checksum line at the end (truncated?)".into()))?;
        let got = crc32c::crc32c(body);
        if want != got {
            return Err(bad(format!(
                "checksum mismatch: stored {want:08x}, computed {got:08x}"
            )));
        }
        let m: Manifest =
            serde_json::from_slice(body).map_err(|e| bad(format!("does not parse: {e}")))?;
        m.check().map_err(bad)?;
        Ok(m)
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.format != MANIFEST_FORMAT || self.format_version != MANIFEST_FORMAT_VERSION {
            return Err(format!(
                "format {:?} version {} is not supported (this build reads {MANIFEST_FORMAT:?} {MANIFEST_FORMAT_VERSION})",
                self.format, self.format_version
            ));
        }
        if self.version == 0 || self.dim == 0 {
            return Err("version and dim must be at least 1".into());
        }
        self.metric
            .parse::<Metric>()
            .map_err(|_| format!("unknown metric {:?}", self.metric))?;
        if let Some(m) = &self.model
            && (ivfpq_io::ModelHash::parse(&m.hash).is_none() || m.path != model_path(&m.hash))
        {
            return Err(format!("bad model reference {:?} at {:?}", m.hash, m.path));
        }
        let mut paths = std::collections::HashSet::new();
        let short = self
            .model
            .as_ref()
            .and_then(|m| ivfpq_io::ModelHash::parse(&m.hash))
            .map(|h| format!("{:016x}", h.short()));
        for g in &self.growing {
            if !paths.insert(&g.path) {
                return Err(format!("segment {} is listed twice", g.path));
            }
            if g.deletion.as_ref().is_some_and(|d| d.rows > g.rows) {
                return Err(format!("segment {} deletes more rows than it has", g.path));
            }
        }
        for s in &self.shards {
            if !paths.insert(&s.path) {
                return Err(format!("shard {} is listed twice", s.path));
            }
            if s.deletion.as_ref().is_some_and(|d| d.rows > s.rows) {
                return Err(format!("shard {} deletes more rows than it has", s.path));
            }
            if parse_storage(&s.storage).is_none()
                || u64::from_str_radix(&s.model_hash, 16).is_err()
            {
                return Err(format!("shard {}: bad storage or model hash", s.path));
            }
            if let Some(h) = short.as_ref().filter(|h| **h != s.model_hash) {
                return Err(format!(
                    "shard {} has model hash {} but the collection's is {h}",
                    s.path, s.model_hash
                ));
            }
        }
        Ok(())
    }
}

/// The path of the model file with hash `hex`.
pub fn model_path(hex: &str) -> String {
    format!("model/{hex}.ivfpq")
}

/// The version file of version `v`: `u64::MAX − v`, zero-padded to 20 digits, so that
/// names sort newest first and one LIST finds the latest.
pub fn version_file(v: u64) -> String {
    format!("{VERSIONS_DIR}/{:020}.json", u64::MAX - v)
}

/// The version a version file name (without the folder) stands for.
pub fn parse_version_file(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let inv: u64 = digits.parse().ok()?;
    Some(u64::MAX - inv).filter(|&v| v > 0)
}

/// `f32`, `f16` or `none`.
pub fn storage_name(s: VectorStorage) -> &'static str {
    match s {
        VectorStorage::F32 => "f32",
        VectorStorage::F16 => "f16",
        VectorStorage::None => "none",
    }
}

/// The storage a [`storage_name`] names.
pub fn parse_storage(s: &str) -> Option<VectorStorage> {
    match s {
        "f32" => Some(VectorStorage::F32),
        "f16" => Some(VectorStorage::F16),
        "none" => Some(VectorStorage::None),
        _ => None,
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let mut m = Manifest::first(8, Metric::Cosine, None);
        m.shards.push(ShardEntry {
            path: "shards/a.ivfpq".into(),
            rows: 3,
            bytes: 100,
            checksum: 7,
            model_hash: "00000000000000ff".into(),
            id_min: 1,
            id_max: 9,
            storage: "f16".into(),
            ids: None,
            deletion: None,
            labels: false,
            label_range: None,
        });
        m
    }

    #[test]
    fn round_trip_and_checksum() {
        let m = sample();
        let b = m.encode();
        assert_eq!(Manifest::decode(&b, "m").unwrap(), m);
        let mut flipped = b.clone();
        flipped[10] ^= 1;
        let e = Manifest::decode(&flipped, "m").unwrap_err().to_string();
        assert!(e.contains("checksum mismatch"), "{e}");
        let e = Manifest::decode(&b[..b.len() - 3], "m")
            .unwrap_err()
            .to_string();
        assert!(e.contains("m: manifest"), "{e}");
    }

    #[test]
    fn version_names_sort_newest_first() {
        let mut names: Vec<String> = [1u64, 2, 10, 9, 100]
            .iter()
            .map(|&v| version_file(v))
            .collect();
        names.sort();
        let back: Vec<u64> = names
            .iter()
            .map(|n| parse_version_file(n.rsplit('/').next().unwrap()).unwrap())
            .collect();
        assert_eq!(back, vec![100, 10, 9, 2, 1]);
        assert_eq!(parse_version_file("123.json"), None);
        assert_eq!(parse_version_file(&format!("{:020}.json", u64::MAX)), None);
    }

    #[test]
    fn duplicate_shards_are_refused() {
        let mut m = sample();
        m.shards.push(m.shards[0].clone());
        let e = Manifest::decode(&m.encode(), "m").unwrap_err().to_string();
        assert!(e.contains("listed twice"), "{e}");
    }
}
