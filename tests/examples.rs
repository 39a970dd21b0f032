//! The programs in `examples/` run as tests, so they keep compiling and keep working.

#[path = "../examples/build_and_search.rs"]
mod build_and_search;
#[path = "../examples/collection.rs"]
mod collection;
#[path = "../examples/s3_shard.rs"]
mod s3_shard;

#[test]
fn build_and_search_example() {
    build_and_search::run().unwrap();
}

#[test]
fn collection_example() {
    collection::run().unwrap();
}

#[test]
#[cfg_attr(
    not(s3_server),
    ignore = "needs an S3 server: set IVFPQ_TEST_S3_ENDPOINT and IVFPQ_TEST_S3_BUCKET when building (.ci/run starts one)"
)]
fn s3_shard_example() {
    s3_shard::run().unwrap();
}
