//! Arbitrary bytes as a `.npy` file: the header parser returns rows or a typed error,
//! never panics, and never allocates more than the input implies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((rows, dim)) = ivfpq_io::parse_npy(data, std::path::Path::new("fuzz-input.npy")) {
        assert!(dim == 0 || rows.len() % dim == 0);
        assert!(rows.len() * 4 <= data.len());
    }
});
