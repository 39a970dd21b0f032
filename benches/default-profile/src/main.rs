//! Builds an index over a dataset folder (`base.fvecs`, `query.fvecs`, `gt.ivecs`,
//! `meta.json`; see `docs/datasets.md`) and times searches of all its queries.
//!
//! ```text
//! search_qps DIR [BITS] [M] [NLIST] [NPROBE] [REFINE] [REPEAT]
//! ```
//!
//! Defaults: 4-bit codes, m = dim / 8 rounded to even, nlist sqrt(n), nprobe 32, refine 3,
//! the median of 7 timed searches. Prints one `key=value` line.

use std::path::Path;
use std::time::Instant;

use ivfpq::core::{IndexParams, IvfPqIndex, SearchParams};
use ivfpq::io::Dataset;

fn arg(args: &[String], i: usize) -> Option<usize> {
    args.get(i).and_then(|a| a.parse().ok())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .ok_or("usage: search_qps DIR [BITS] [M] [NLIST] [NPROBE] [REFINE] [REPEAT]")?;
    let ds = Dataset::load(Path::new(dir))?;
    let bits = arg(&args, 2).unwrap_or(4) as u32;
    let mut params = IndexParams::default()
        .with_metric(ds.metric)
        .with_nbits(bits);
    params.m = arg(&args, 3);
    params.nlist = arg(&args, 4);
    let search =
        SearchParams::new(10, arg(&args, 5).unwrap_or(32)).with_refine(arg(&args, 6).unwrap_or(3));
    let repeat = arg(&args, 7).unwrap_or(7).max(1);

    let n = ds.base.len() / ds.dim;
    let ids: Vec<u64> = (0..n as u64).collect();
    let t = Instant::now();
    let index = IvfPqIndex::build(&ds.base, &ids, ds.dim, &params)?;
    let build_s = t.elapsed().as_secs_f64();

    let nq = ds.queries.len() / ds.dim;
    let mut secs = Vec::with_capacity(repeat);
    let mut found = Vec::new();
    for _ in 0..repeat {
        let t = Instant::now();
        let hits = index.search(&ds.queries, &search)?;
        secs.push(t.elapsed().as_secs_f64());
        found = hits;
    }
    secs.sort_by(f64::total_cmp);
    let ids: Vec<Vec<u64>> = found
        .iter()
        .map(|q| q.iter().map(|h| h.id).collect())
        .collect();
    println!(
        "simd={:?} bits={bits} nprobe={} refine={} recall={:.4} qps={:.0} build_s={build_s:.2}",
        ivfpq::simd::Kernels::active().level(),
        search.nprobe,
        search.refine_factor,
        ds.recall_at(&ids, 10),
        nq as f64 / secs[secs.len() / 2],
    );
    Ok(())
}
