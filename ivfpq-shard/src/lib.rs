//! ivfpq-shard: collections of shard files (manifest, bucket planning, out-of-core build,
//! merge, append, delete, map-reduce search).
//!
//! Empty for now: it builds on the shard file format of `ivfpq-io`, which comes first
//! (see `design.md`). Nothing here is usable yet.
