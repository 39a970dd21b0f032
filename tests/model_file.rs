//! Model files and the model hash in shard headers: the same model gives the same hash
//! whether read from its model file or from any shard built with it; the directory's id
//! range is the shard's smallest and largest id.

use std::sync::Arc;

use ivfpq::core::{CodeKind, IndexParams, IvfPqIndex, IvfPqModel, Metric, VectorStorage};
use ivfpq::datasets::{SynthSpec, synthetic};
use ivfpq::io::{OpenOptions, Shard, model_hash, read_model, write_model, write_shard};

#[test]
fn shards_record_the_hash_of_their_model_file() {
    let dir = std::env::temp_dir().join(format!("ivfpq-model-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ds = synthetic(&SynthSpec {
        n: 3000,
        queries: 1,
        dim: 24,
        metric: Metric::Cosine,
        ..Default::default()
    });
    for (codes, nbits) in [(CodeKind::Pq, 8), (CodeKind::Pq, 4), (CodeKind::Rabitq, 3)] {
        let p = IndexParams::default()
            .with_metric(Metric::Cosine)
            .with_nlist(12)
            .with_m(6)
            .with_codes(codes)
            .with_nbits(nbits);
        let model = Arc::new(IvfPqModel::train(&ds.base, 24, &p).unwrap());
        let hash = model_hash(&model).unwrap();
        let mf = dir.join(format!("{codes:?}{nbits}.model"));
        assert_eq!(write_model(&model, &mf).unwrap(), hash);
        let (back, h2) = read_model(&mf).unwrap();
        assert_eq!(h2, hash);
        // Read back, the model hashes the same: the file is a function of the model.
        assert_eq!(model_hash(&back).unwrap(), hash);
        let mut idx = IvfPqIndex::new(model.clone(), VectorStorage::F16);
        let ids: Vec<u64> = (0..3000u64).map(|i| 5000 + i * 3).collect();
        idx.add(&ds.base, &ids).unwrap();
        let sf = dir.join(format!("{codes:?}{nbits}.shard"));
        write_shard(&idx, &sf).unwrap();
        let shard = Shard::open(sf.to_str().unwrap(), &OpenOptions::default()).unwrap();
        assert_eq!(shard.header().model_hash, hash.short());
        assert_eq!(model_hash(shard.model()).unwrap(), hash);
        assert_eq!(shard.directory().id_range, (5000, 5000 + 2999 * 3));
        // A shard with rows is not a model file.
        let e = read_model(&sf).unwrap_err().to_string();
        assert!(e.contains("not a model file"), "{e}");
        // Another model gives another hash.
        let other = IvfPqModel::train(&ds.base, 24, &p.with_seed(7)).unwrap();
        assert_ne!(model_hash(&other).unwrap(), hash);
    }
    // An empty shard's id range is (0, 0).
    let p = IndexParams::default().with_nlist(4).with_m(4);
    let model = Arc::new(IvfPqModel::train(&ds.base, 24, &p).unwrap());
    let empty = IvfPqIndex::new(model, VectorStorage::F32);
    let ef = dir.join("empty.shard");
    write_shard(&empty, &ef).unwrap();
    let shard = Shard::open(ef.to_str().unwrap(), &OpenOptions::default()).unwrap();
    assert_eq!(shard.directory().id_range, (0, 0));
    let _ = std::fs::remove_dir_all(&dir);
}
