//! Faults from the store: every request of add, upsert, delete, seal, compact and vacuum
//! is failed in turn (a server error, a timeout whose request did land, a truncated
//! body), through an `ObjectStore` wrapper. Each operation either commits whole or leaves
//! the collection as it was with a typed error; no version references a missing file.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use ivfpq::core::{IndexParams, IvfPqModel, Metric, SearchParams};
use ivfpq::shard::{
    Collection, CollectionOptions, CompactOptions, SearchOptions, Store, VacuumOptions,
};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

const DIM: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// The request fails (a 5xx after the client's retries).
    ServerError,
    /// The request is carried out, but its response is lost.
    LostResponse,
    /// A read returns half its body.
    Truncated,
}

/// Fails request number `at` (counting from 0) with `fault`; counts requests.
#[derive(Debug)]
struct FaultStore {
    inner: InMemory,
    count: AtomicUsize,
    plan: Mutex<Option<(usize, Fault)>>,
}

impl fmt::Display for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultStore")
    }
}

impl FaultStore {
    /// The fault for this request, if it is the chosen one.
    fn next(&self) -> Option<Fault> {
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        match *self.plan.lock().unwrap() {
            Some((at, f)) if at == n => Some(f),
            _ => None,
        }
    }

    fn arm(&self, plan: Option<(usize, Fault)>) {
        self.count.store(0, Ordering::SeqCst);
        *self.plan.lock().unwrap() = plan;
    }
}

fn injected(what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultStore",
        source: format!("injected {what}").into(),
    }
}

#[async_trait::async_trait]
impl ObjectStore for FaultStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        match self.next() {
            Some(Fault::ServerError) => Err(injected("503 on put")),
            Some(Fault::LostResponse) => {
                self.inner.put_opts(location, payload, opts).await?;
                Err(injected("timeout after put"))
            }
            _ => self.inner.put_opts(location, payload, opts).await,
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        match self.next() {
            Some(Fault::ServerError) => Err(injected("503 on multipart")),
            _ => self.inner.put_multipart_opts(location, opts).await,
        }
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        match self.next() {
            Some(Fault::ServerError) => Err(injected("503 on get")),
            Some(Fault::LostResponse) => Err(injected("timeout on get")),
            Some(Fault::Truncated) => {
                let r = self.inner.get_opts(location, options).await?;
                let (meta, range, attributes) =
                    (r.meta.clone(), r.range.clone(), r.attributes.clone());
                let body = r.bytes().await?;
                let half = body.slice(..body.len() / 2);
                Ok(GetResult {
                    payload: GetResultPayload::Stream(
                        futures::stream::once(async { Ok(half) }).boxed(),
                    ),
                    meta,
                    range,
                    attributes,
                    extensions: Default::default(),
                })
            }
            None => self.inner.get_opts(location, options).await,
        }
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        match self.next() {
            Some(Fault::ServerError) => Err(injected("503 on ranged get")),
            Some(Fault::LostResponse) => Err(injected("timeout on ranged get")),
            Some(Fault::Truncated) => {
                let mut got = self.inner.get_ranges(location, ranges).await?;
                if let Some(b) = got.first_mut() {
                    *b = b.slice(..b.len() / 2);
                }
                Ok(got)
            }
            None => self.inner.get_ranges(location, ranges).await,
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        match self.next() {
            Some(Fault::ServerError) => {
                futures::stream::once(async { Err(injected("503 on delete")) }).boxed()
            }
            Some(Fault::LostResponse) => {
                let inner = self.inner.delete_stream(locations);
                inner
                    .map(|r| r.and_then(|_| Err(injected("timeout after delete"))))
                    .boxed()
            }
            _ => self.inner.delete_stream(locations),
        }
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        match self.next() {
            Some(Fault::ServerError | Fault::LostResponse) => {
                futures::stream::once(async { Err(injected("503 on list")) }).boxed()
            }
            _ => self.inner.list(prefix),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        match self.next() {
            Some(Fault::ServerError | Fault::LostResponse) => Err(injected("503 on list")),
            _ => self.inner.list_with_delimiter(prefix).await,
        }
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        match self.next() {
            Some(Fault::ServerError) => Err(injected("503 on copy")),
            _ => self.inner.copy_opts(from, to, options).await,
        }
    }
}

fn vector(id: u64) -> Vec<f32> {
    (0..DIM as u64)
        .map(|j| ((id * 31 + j * 7) % 97) as f32 / 10.0)
        .collect()
}

fn rows(ids: &[u64]) -> Vec<f32> {
    ids.iter().flat_map(|&id| vector(id)).collect()
}

fn model() -> IvfPqModel {
    static M: OnceLock<IvfPqModel> = OnceLock::new();
    M.get_or_init(|| {
        let data = rows(&(0..1000).collect::<Vec<_>>());
        IvfPqModel::train(&data, DIM, &IndexParams::default().with_nlist(4).with_m(4)).unwrap()
    })
    .clone()
}

/// A collection through a fresh fault store: two shards (one with deletions) and a
/// growing segment with deletions.
fn base() -> (Arc<FaultStore>, Store) {
    let fs = Arc::new(FaultStore {
        inner: InMemory::new(),
        count: AtomicUsize::new(0),
        plan: Mutex::new(None),
    });
    let store = Store::from_object_store("mem://c", fs.clone(), Path::from("c"));
    let opts = CollectionOptions::default();
    let c = Collection::create_in(store.clone(), Some(&model()), DIM, Metric::L2, opts).unwrap();
    for part in 0..2u64 {
        let ids: Vec<u64> = (part * 100..part * 100 + 100).collect();
        c.add(&rows(&ids), &ids).unwrap();
        c.seal().unwrap();
    }
    let ids: Vec<u64> = (200..240).collect();
    c.add(&rows(&ids), &ids).unwrap();
    c.delete(&(0..20).chain(200..205).collect::<Vec<_>>())
        .unwrap();
    (fs, store)
}

/// The newest version and its live ids, read afresh; checks every file it names exists.
fn state(store: &Store) -> (u64, BTreeSet<u64>) {
    let c = Collection::open_in(store.clone(), None, Default::default()).unwrap();
    let m = c.manifest();
    for f in m.files() {
        assert!(
            store.exists(&f).unwrap(),
            "version {} names missing {f}",
            m.version
        );
    }
    let live = m.live_rows() as usize;
    let ids = if live == 0 {
        BTreeSet::new()
    } else {
        let p = SearchParams::new(live, 4).with_refine(2);
        let res = c.search(&[0.0; DIM], &SearchOptions::new(p)).unwrap();
        assert_eq!(
            res.hits[0].len(),
            live,
            "search returns every live row once"
        );
        res.hits[0].iter().map(|h| h.id).collect()
    };
    assert_eq!(ids.len(), live);
    (m.version, ids)
}

type Operation = fn(&Collection) -> Result<(), ivfpq::shard::ShardError>;

fn operations() -> Vec<(&'static str, Operation)> {
    vec![
        ("add", |c| {
            c.add(&rows(&[500, 501, 502]), &[500, 501, 502]).map(drop)
        }),
        ("upsert", |c| {
            c.upsert(&rows(&[30, 220, 600]), &[30, 220, 600]).map(drop)
        }),
        ("delete", |c| c.delete(&[25, 150, 230, 999]).map(drop)),
        ("seal", |c| c.seal().map(drop)),
        ("compact", |c| {
            c.compact(&CompactOptions::default().with_small_rows(1000))
                .map(drop)
        }),
        ("vacuum", |c| {
            c.vacuum(&VacuumOptions::new(Duration::ZERO).with_grace(Duration::ZERO))
                .map(drop)
        }),
    ]
}

#[test]
fn every_failed_request_leaves_the_collection_whole() {
    let mut runs = 0;
    for (name, op) in operations() {
        // The fault-free run: how many requests the operation makes, and what it yields.
        let (fs, store) = base();
        let before = state(&store);
        let c = Collection::open_in(store.clone(), None, Default::default()).unwrap();
        fs.arm(None);
        op(&c).unwrap();
        let requests = fs.count.load(Ordering::SeqCst);
        let after = state(&store);
        assert!(requests > 0, "{name}");
        for at in 0..requests {
            for fault in [Fault::ServerError, Fault::LostResponse, Fault::Truncated] {
                let (fs, store) = base();
                let c = Collection::open_in(store.clone(), None, Default::default()).unwrap();
                fs.arm(Some((at, fault)));
                let res = op(&c);
                fs.arm(None);
                let now = state(&store);
                runs += 1;
                match res {
                    Ok(()) => assert_eq!(
                        now.1, after.1,
                        "{name}: request {at} {fault:?}: ok but not whole"
                    ),
                    Err(e) => {
                        // Typed, and the collection is as it was (vacuum changes no rows).
                        assert!(!e.to_string().is_empty());
                        assert_eq!(now.1, before.1, "{name}: request {at} {fault:?}: {e}");
                        if name != "vacuum" {
                            assert_eq!(now.0, before.0, "{name}: request {at} {fault:?}: {e}");
                        }
                    }
                }
            }
        }
    }
    assert!(runs > 50, "{runs} faulty runs");
}
