//! Object-storage byte source: ranged GETs through `object_store`, for `s3://`, `gs://`,
//! `az://` and `file://` URLs, and the atomic upload of a finished shard.
//!
//! The library API is synchronous (search runs on rayon), so requests run on a small
//! shared tokio runtime and the caller blocks until a whole batch of ranges is back.

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    BackoffConfig, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions,
    PutPayload, RetryConfig, WriteMultipart,
};
use tokio::runtime::Runtime;

use crate::error::{IoError, Result};
use crate::source::{ByteSource, Counters};

/// Requests in flight at once per batch of ranges. A batch larger than this takes more
/// than one round trip; readers count them that way.
pub const MAX_CONCURRENT_REQUESTS: usize = 64;

/// How to reach an object store: builder options plus timeout and retries.
///
/// `options` are the `object_store` builder keys, such as `endpoint`, `region`,
/// `access_key_id`, `secret_access_key`, `allow_http` (S3), or `google_service_account`
/// and `azure_storage_account_name`. Unset keys come from the usual environment
/// variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`).
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Builder key/value pairs.
    pub options: Vec<(String, String)>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries of a failed request (0 fails at once; an unreachable endpoint then
    /// reports quickly).
    pub retries: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            options: Vec::new(),
            timeout: Duration::from_secs(30),
            retries: 3,
        }
    }
}

impl StoreOptions {
    /// Adds one builder option.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.options.push((key.to_string(), value.to_string()));
        self
    }
}

/// The shared runtime for object-store requests, started on first use.
fn runtime() -> Result<&'static Runtime> {
    static RT: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ivfpq-io")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| IoError::format("tokio", "runtime", e.clone()))
}

/// Runs `fut` to completion on the shared runtime. Refuses to run inside an async
/// context, where blocking would stall the caller's executor. `url` labels the error.
pub fn block_on<F: Future>(url: &str, fut: F) -> Result<F::Output> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(IoError::format(
            url,
            "runtime",
            "called from inside an async runtime; call through spawn_blocking",
        ));
    }
    Ok(runtime()?.block_on(fut))
}

/// An object-store error about `url`.
pub fn store_err(url: &str, e: object_store::Error) -> IoError {
    IoError::Store {
        url: url.to_string(),
        source: Box::new(e),
    }
}

/// Whether `s` names an object-store URL rather than a local path.
pub fn is_url(s: &str) -> bool {
    s.contains("://")
}

/// Builds the store and the object path for `url`.
pub fn open_store(url: &str, opts: &StoreOptions) -> Result<(Arc<dyn ObjectStore>, Path)> {
    let bad = |msg: String| IoError::format(url, "url", msg);
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected scheme://bucket/path".into()))?;
    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: opts.retries,
        retry_timeout: opts.timeout,
    };
    let timeout = format!("{}ms", opts.timeout.as_millis());
    let keyed =
        |k: &str| -> Result<()> { Err(bad(format!("unknown option {k:?} for {scheme}://"))) };
    let store: Arc<dyn ObjectStore> = match scheme {
        "file" => {
            let p = FsPath::new("/").join(rest.trim_start_matches('/'));
            let path = Path::from_absolute_path(&p).map_err(|e| store_err(url, e.into()))?;
            return Ok((Arc::new(object_store::local::LocalFileSystem::new()), path));
        }
        "s3" | "s3a" => {
            use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
            let mut b = AmazonS3Builder::from_env()
                .with_url(url)
                .with_retry(retry)
                .with_config(
                    AmazonS3ConfigKey::Client(object_store::ClientConfigKey::Timeout),
                    &timeout,
                );
            for (k, v) in &opts.options {
                match k.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                    Ok(key) => b = b.with_config(key, v),
                    Err(_) => keyed(k)?,
                }
            }
            Arc::new(b.build().map_err(|e| store_err(url, e))?)
        }
        "gs" => {
            use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
            let mut b = GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .with_retry(retry)
                .with_config(
                    GoogleConfigKey::Client(object_store::ClientConfigKey::Timeout),
                    &timeout,
                );
            for (k, v) in &opts.options {
                match k.to_ascii_lowercase().parse::<GoogleConfigKey>() {
                    Ok(key) => b = b.with_config(key, v),
                    Err(_) => keyed(k)?,
                }
            }
            Arc::new(b.build().map_err(|e| store_err(url, e))?)
        }
        "az" | "azure" | "abfs" | "abfss" => {
            use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
            let mut b = MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .with_retry(retry)
                .with_config(
                    AzureConfigKey::Client(object_store::ClientConfigKey::Timeout),
                    &timeout,
                );
            for (k, v) in &opts.options {
                match k.to_ascii_lowercase().parse::<AzureConfigKey>() {
                    Ok(key) => b = b.with_config(key, v),
                    Err(_) => keyed(k)?,
                }
            }
            Arc::new(b.build().map_err(|e| store_err(url, e))?)
        }
        other => return Err(bad(format!("unsupported scheme {other:?}"))),
    };
    // s3://bucket/key: the bucket is the authority, the key the rest.
    let key = rest.split_once('/').map(|(_, k)| k).unwrap_or("");
    let path = Path::parse(key).map_err(|e| store_err(url, e.into()))?;
    Ok((store, path))
}

/// One object in an object store, read by ranges.
pub struct ObjectSource {
    url: String,
    store: Arc<dyn ObjectStore>,
    path: Path,
    counters: Counters,
}

impl ObjectSource {
    /// Connects to the object at `url` (no request is made until the first read).
    pub fn open(url: &str, opts: &StoreOptions) -> Result<ObjectSource> {
        let (store, path) = open_store(url, opts)?;
        Ok(ObjectSource::new(url, store, path))
    }

    /// Wraps an existing store (tests use `object_store::memory::InMemory`).
    pub fn new(url: &str, store: Arc<dyn ObjectStore>, path: Path) -> ObjectSource {
        ObjectSource {
            url: url.to_string(),
            store,
            path,
            counters: Counters::default(),
        }
    }
}

impl ByteSource for ObjectSource {
    fn name(&self) -> &str {
        &self.url
    }

    fn read_tail(&self, n: u64) -> Result<(Bytes, u64)> {
        let opts = GetOptions::new().with_range(Some(GetRange::Suffix(n.max(1))));
        let (bytes, len) = block_on(&self.url, async {
            let r = self.store.get_opts(&self.path, opts).await?;
            let len = r.meta.size;
            Ok::<_, object_store::Error>((r.bytes().await?, len))
        })?
        .map_err(|e| store_err(&self.url, e))?;
        self.counters.record(bytes.len() as u64);
        Ok((bytes, len))
    }

    fn read_ranges(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let (store, path) = (&self.store, &self.path);
        let out: Vec<Bytes> = block_on(&self.url, async {
            futures::stream::iter(ranges.iter().cloned())
                .map(|r| async move {
                    // An empty range (an empty partition's list) needs no request; some
                    // stores refuse it.
                    if r.is_empty() {
                        return Ok(Bytes::new());
                    }
                    store.get_range(path, r).await
                })
                .buffered(MAX_CONCURRENT_REQUESTS)
                .try_collect()
                .await
        })?
        .map_err(|e| store_err(&self.url, e))?;
        for (b, r) in out.iter().zip(ranges) {
            if r.is_empty() {
                continue;
            }
            self.counters.record(b.len() as u64);
            if b.len() as u64 != r.end - r.start {
                return Err(IoError::format(
                    &self.url,
                    "read",
                    format!("short read at {r:?}: {} bytes", b.len()),
                ));
            }
        }
        Ok(out)
    }

    fn is_local(&self) -> bool {
        false
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// Parts of this size are uploaded while the next is read from the local file.
const PART: usize = 16 << 20;

/// Uploads the finished local file `local` to `url`, never replacing an existing object:
/// small files go in one conditional put (`If-None-Match: *`), larger ones as a multipart
/// upload, which becomes visible only when it completes. Returns the bytes uploaded.
pub fn upload_file(local: &FsPath, url: &str, opts: &StoreOptions) -> Result<u64> {
    let (store, path) = open_store(url, opts)?;
    upload_to(local, url, store, path)
}

/// [`upload_file`] to `path` on an open `store` (`url` names it in errors).
pub fn upload_to(
    local: &FsPath,
    url: &str,
    store: Arc<dyn ObjectStore>,
    path: Path,
) -> Result<u64> {
    let len = std::fs::metadata(local)
        .map_err(|e| IoError::os(local, e))?
        .len();
    block_on(url, async {
        if len as usize <= 4 * PART {
            let data = std::fs::read(local).map_err(|e| IoError::os(local, e))?;
            let payload = PutPayload::from(data);
            let put = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            store
                .put_opts(&path, payload, put)
                .await
                .map_err(|e| store_err(url, e))?;
            return Ok(len);
        }
        // Multipart uploads cannot be conditional here: check first, and go ahead only on
        // a definite "not found".
        match store.head(&path).await {
            Err(object_store::Error::NotFound { .. }) => {}
            Ok(_) => {
                return Err(IoError::format(
                    url,
                    "upload",
                    "object already exists; shards are immutable",
                ));
            }
            Err(e) => return Err(store_err(url, e)),
        }
        let mut file = std::fs::File::open(local).map_err(|e| IoError::os(local, e))?;
        let upload = store
            .put_multipart(&path)
            .await
            .map_err(|e| store_err(url, e))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut buf = vec![0u8; PART];
        loop {
            let n = match std::io::Read::read(&mut file, &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    // Abort, so no orphaned parts stay behind.
                    let _ = w.abort().await;
                    return Err(IoError::os(local, e));
                }
            };
            if n == 0 {
                break;
            }
            if let Err(e) = w.wait_for_capacity(4).await {
                let _ = w.abort().await;
                return Err(store_err(url, e));
            }
            w.write(&buf[..n]);
        }
        w.finish().await.map_err(|e| store_err(url, e))?;
        Ok(len)
    })?
}
