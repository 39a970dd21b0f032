//! Arbitrary bytes as a `.fvecs`/`.ivecs` file: the parser returns rows or a typed error,
//! never panics, and never allocates more than the input implies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((words, dim)) = ivfpq_io::parse_vecs(data, std::path::Path::new("fuzz-input")) {
        assert!(dim > 0 && words.len() % dim == 0);
        assert!(words.len() * 4 <= data.len());
    }
});
