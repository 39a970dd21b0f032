//! Embedding functions: the embedder's batching, caches, retries and checks, and a
//! collection that records its function, reopened locally and over S3.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ivfpq::core::{IndexParams, IvfPqModel, Metric, SearchOptions, SearchParams};
use ivfpq::shard::embed::{
    EmbedError, EmbeddedCollection, Embedder, EmbedderOptions, EmbeddingFunction, Input,
};
use ivfpq::shard::{Collection, CollectionOptions, ShardError};

#[path = "common/s3.rs"]
mod s3;

const DIM: usize = 16;

/// Character trigrams hashed into 16 buckets, normalised: a real (if crude) text embedding
/// that records every batch it is given, and can be told to fail or misbehave.
#[derive(Default)]
struct Trigrams {
    batches: Mutex<Vec<Vec<String>>>,
    /// Transient failures to give before succeeding.
    flaky: Mutex<u32>,
    /// What to return instead of vectors: `None`, or a bad shape.
    bad: Option<&'static str>,
}

impl EmbeddingFunction for Trigrams {
    fn name(&self) -> &str {
        "trigrams"
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "buckets": DIM })
    }
    fn dim(&self) -> usize {
        DIM
    }
    fn metric(&self) -> Metric {
        Metric::Cosine
    }
    fn embed(&self, inputs: &[Input<'_>]) -> Result<Vec<f32>, EmbedError> {
        let texts: Vec<String> = inputs
            .iter()
            .map(|i| match i {
                Input::Text(s) => s.to_string(),
                Input::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            })
            .collect();
        self.batches.lock().unwrap().push(texts.clone());
        {
            let mut flaky = self.flaky.lock().unwrap();
            if *flaky > 0 {
                *flaky -= 1;
                return Err(EmbedError::transient("rate limited"));
            }
        }
        match self.bad {
            Some("raise") => return Err(EmbedError::permanent("model file is corrupt")),
            Some("short") => return Ok(vec![0.5; texts.len() * DIM - 1]),
            Some("nan") => return Ok(vec![f32::NAN; texts.len() * DIM]),
            _ => {}
        }
        Ok(texts.iter().flat_map(|t| trigram_vector(t)).collect())
    }
}

fn trigram_vector(t: &str) -> Vec<f32> {
    let b = format!("  {t}  ");
    let b = b.as_bytes();
    let mut v = [0f32; DIM];
    for w in b.windows(3) {
        let h = w
            .iter()
            .fold(2166136261u32, |h, &c| (h ^ c as u32).wrapping_mul(16777619));
        v[h as usize % DIM] += 1.0;
    }
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("protein {} chain {} fold {}", i % 97, i * 7 % 31, i))
        .collect()
}

fn inputs(t: &[String]) -> Vec<Input<'_>> {
    t.iter().map(|s| Input::Text(s)).collect()
}

fn calls(f: &Trigrams) -> usize {
    f.batches.lock().unwrap().len()
}

#[test]
fn batches_dedupes_and_caches_within_its_bound() {
    let f = Arc::new(Trigrams::default());
    let opts = EmbedderOptions::default().with_max_batch(4);
    let e = Embedder::new(f.clone(), opts).unwrap();
    let t = texts(10);
    let mut with_repeats = inputs(&t);
    with_repeats.extend(inputs(&t[..3]));
    let v = e.embed(&with_repeats).unwrap();
    assert_eq!(v.len(), 13 * DIM);
    // Ten distinct inputs in batches of at most four; the repeats reuse their rows.
    let sizes: Vec<usize> = f.batches.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, [4, 4, 2]);
    assert_eq!(&v[10 * DIM..11 * DIM], &trigram_vector(&t[0])[..]);
    assert_eq!(&v[..DIM], &trigram_vector(&t[0])[..]);
    // The same inputs again: all from the cache.
    assert_eq!(e.embed(&inputs(&t)).unwrap(), v[..10 * DIM].to_vec());
    assert_eq!(calls(&f), 3);
    // A text and the same bytes are different inputs.
    e.embed(&[Input::Bytes(t[0].as_bytes())]).unwrap();
    assert_eq!(calls(&f), 4);

    // A small bound keeps the cache small, and still answers correctly.
    let small =
        Embedder::new(f.clone(), EmbedderOptions::default().with_cache_bytes(1000)).unwrap();
    let many = texts(200);
    let got = small.embed(&inputs(&many)).unwrap();
    assert!(small.cache_bytes() <= 1000, "{}", small.cache_bytes());
    assert!(small.cached() >= 1);
    assert_eq!(&got[199 * DIM..], &trigram_vector(&many[199])[..]);
}

#[test]
fn a_disk_cache_outlives_the_embedder() {
    let dir = std::env::temp_dir().join(format!("ivfpq-embed-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let f = Arc::new(Trigrams::default());
    let t = texts(50);
    let opts = EmbedderOptions::default().with_disk_cache(&dir);
    let first = Embedder::new(f.clone(), opts.clone()).unwrap();
    let v = first.embed(&inputs(&t)).unwrap();
    drop(first);
    let second = Embedder::new(f.clone(), opts).unwrap();
    assert_eq!(second.embed(&inputs(&t)).unwrap(), v);
    assert_eq!(
        calls(&f),
        1,
        "the second embedder read every vector from disk"
    );
    assert_eq!(second.calls(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn transient_failures_are_retried_and_bad_output_is_an_error() {
    let t = texts(3);
    let fast = EmbedderOptions::default().with_retries(3, Duration::from_millis(1));
    let flaky = Arc::new(Trigrams {
        flaky: Mutex::new(2),
        ..Default::default()
    });
    let e = Embedder::new(flaky.clone(), fast.clone()).unwrap();
    e.embed(&inputs(&t)).unwrap();
    assert_eq!(e.calls(), 3);
    let hopeless = Arc::new(Trigrams {
        flaky: Mutex::new(10),
        ..Default::default()
    });
    let e = Embedder::new(hopeless, fast.clone()).unwrap();
    let err = e.embed(&inputs(&t)).unwrap_err().to_string();
    assert!(
        err.contains("rate limited") && err.contains("trigrams"),
        "{err}"
    );
    assert_eq!(e.calls(), 4);

    for (bad, want) in [
        ("raise", "model file is corrupt"),
        ("short", "returned 47 values for 3 inputs of dimension 16"),
        ("nan", "NaN"),
    ] {
        let f = Arc::new(Trigrams {
            bad: Some(bad),
            ..Default::default()
        });
        let e = Embedder::new(f, fast.clone()).unwrap();
        match e.embed(&inputs(&t)) {
            Err(ShardError::Embedding { function, message }) => {
                assert_eq!(function, "trigrams");
                assert!(message.contains(want), "{bad}: {message}");
            }
            other => panic!("{bad}: {other:?}"),
        }
        assert_eq!(e.calls(), 1, "{bad}: a permanent failure is not retried");
        assert_eq!(e.cached(), 0, "{bad}: nothing bad is cached");
    }
    let e = Embedder::new(Arc::new(Trigrams::default()), fast).unwrap();
    assert!(matches!(
        e.embed(&[]),
        Err(ShardError::InvalidParameter {
            param: "inputs",
            ..
        })
    ));
}

/// A collection of `texts` with the trigram function recorded, at `uri`.
fn text_collection(uri: &str, opts: &CollectionOptions, t: &[String]) -> Collection {
    let vectors: Vec<f32> = t.iter().flat_map(|s| trigram_vector(s)).collect();
    let params = IndexParams::default()
        .with_metric(Metric::Cosine)
        .with_nlist(8)
        .with_m(4);
    let model = IvfPqModel::train(&vectors, DIM, &params).unwrap();
    let c = Collection::create(uri, &model, opts.clone()).unwrap();
    let wrong_dim = WrongDim;
    assert!(matches!(
        c.set_embedding(&wrong_dim),
        Err(ShardError::InvalidParameter {
            param: "embedding",
            ..
        })
    ));
    c.set_embedding(&Trigrams::default()).unwrap();
    c
}

struct WrongDim;

impl EmbeddingFunction for WrongDim {
    fn name(&self) -> &str {
        "wrong-dim"
    }
    fn dim(&self) -> usize {
        DIM + 1
    }
    fn metric(&self) -> Metric {
        Metric::Cosine
    }
    fn embed(&self, _: &[Input<'_>]) -> Result<Vec<f32>, EmbedError> {
        Err(EmbedError::permanent("never called"))
    }
}

fn check_text_search(uri: &str, opts: &CollectionOptions) {
    let t = texts(2000);
    text_collection(uri, opts, &t);
    let f: Arc<dyn EmbeddingFunction> = Arc::new(Trigrams::default());
    let reopened = Collection::open(uri, opts.clone()).unwrap();
    assert_eq!(reopened.embedding().unwrap().name, "trigrams");
    let ec = EmbeddedCollection::new(Arc::new(reopened), &[f], EmbedderOptions::default()).unwrap();
    let ids: Vec<u64> = (0..t.len() as u64).collect();
    ec.add(&inputs(&t), &ids).unwrap();
    let c = Collection::open(uri, opts.clone()).unwrap();
    assert_eq!(c.manifest().live_rows(), 2000);

    let q = texts(2000)[..20].to_vec();
    let search = SearchOptions::new(SearchParams::new(5, 8).with_refine(4));
    let by_text = ec.search(&inputs(&q), &search).unwrap();
    let by_hand: Vec<f32> = q.iter().flat_map(|s| trigram_vector(s)).collect();
    let by_vector = c.search(&by_hand, &search).unwrap();
    assert_eq!(by_text.ids(), by_vector.ids());
    assert!(by_text.ids().iter().zip(0..).all(|(r, i)| r[0] == i));

    // Without the function, or with another one under its name: a typed error naming it.
    let other: Arc<dyn EmbeddingFunction> = Arc::new(WrongDim);
    let err =
        EmbeddedCollection::new(Arc::new(c), &[other], EmbedderOptions::default()).unwrap_err();
    assert!(
        matches!(&err, ShardError::EmbeddingUnavailable { name, .. } if name == "trigrams"),
        "{err}"
    );
}

#[test]
fn a_collection_records_its_function_and_searches_by_text() {
    let dir = std::env::temp_dir().join(format!("ivfpq-embed-coll-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    check_text_search(dir.to_str().unwrap(), &CollectionOptions::default());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[cfg_attr(
    not(s3_server),
    ignore = "needs an S3 server: set IVFPQ_TEST_S3_ENDPOINT and IVFPQ_TEST_S3_BUCKET when building (.ci/run starts one)"
)]
fn an_s3_collection_records_its_function_and_searches_by_text() {
    let (endpoint, bucket) = s3::server();
    let opts = CollectionOptions::default().with_store(s3::options(&endpoint));
    check_text_search(
        &format!("s3://{bucket}/embed-{}", std::process::id()),
        &opts,
    );
}
