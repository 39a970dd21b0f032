//! The S3 server of the tests (`.ci/run` starts one): its location from the environment,
//! as library options and as `ivfpq` arguments.

use ivfpq::io::StoreOptions;

/// The server's endpoint and bucket: `IVFPQ_TEST_S3_ENDPOINT` and `IVFPQ_TEST_S3_BUCKET`.
pub fn server() -> (String, String) {
    let endpoint = std::env::var("IVFPQ_TEST_S3_ENDPOINT")
        .expect("IVFPQ_TEST_S3_ENDPOINT names the S3 server");
    let bucket = std::env::var("IVFPQ_TEST_S3_BUCKET").unwrap_or_else(|_| "ivfpq-test".into());
    (endpoint, bucket)
}

/// `object_store` options for the server: plain HTTP, any credentials.
#[allow(dead_code)] // not every test program uses the library's options
pub fn options(endpoint: &str) -> StoreOptions {
    StoreOptions::default()
        .with("endpoint", endpoint)
        .with("allow_http", "true")
        .with("region", "us-east-1")
        .with("access_key_id", "test")
        .with("secret_access_key", "test")
}

/// The same as `ivfpq` arguments.
#[allow(dead_code)] // not every test program runs the command
pub fn args(endpoint: &str) -> Vec<String> {
    [
        "--endpoint",
        endpoint,
        "--allow-http",
        "--region",
        "us-east-1",
        "--store-option",
        "access_key_id=test",
        "--store-option",
        "secret_access_key=test",
    ]
    .map(String::from)
    .to_vec()
}
