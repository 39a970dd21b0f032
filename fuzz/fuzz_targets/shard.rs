//! Arbitrary bytes as a shard file: open, verify, search. Errors are expected; a panic,
//! an out-of-bounds read or an unbounded allocation is a bug. The body lives in
//! `ivfpq_io::shard::fuzz::exercise`, so `tests/shard_corruption.rs` replays saved inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ivfpq_io::shard::fuzz::exercise(data);
});
