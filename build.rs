//! Sets `cfg(s3_server)` when `IVFPQ_TEST_S3_ENDPOINT` names an S3-compatible server at
//! build time, so that the tests which need one run then and are listed as ignored, with
//! the reason, otherwise (rather than passing without having run).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(s3_server)");
    println!("cargo::rerun-if-env-changed=IVFPQ_TEST_S3_ENDPOINT");
    if std::env::var_os("IVFPQ_TEST_S3_ENDPOINT").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=s3_server");
    }
}
