//! Object-store options shared by `build`, `search` and `inspect`.

use std::time::Duration;

use clap::Args;
use ivfpq::io::{OpenOptions, StoreOptions};

/// How to reach object storage (ignored for local paths).
#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// Object-store endpoint, e.g. http://127.0.0.1:9000 for a local S3 server.
    #[arg(long)]
    endpoint: Option<String>,
    /// Region.
    #[arg(long)]
    region: Option<String>,
    /// Allow plain http endpoints.
    #[arg(long)]
    allow_http: bool,
    /// Any other object_store builder option, as key=value (repeatable), e.g.
    /// access_key_id=..., secret_access_key=...
    #[arg(long = "store-option", value_name = "KEY=VALUE")]
    options: Vec<String>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Retries of a failed request.
    #[arg(long, default_value_t = 3)]
    retries: usize,
    /// Partition cache for remote shards, in MiB.
    #[arg(long, default_value_t = 256)]
    cache_mib: u64,
}

impl StoreArgs {
    pub fn store_options(&self) -> Result<StoreOptions, String> {
        let mut o = StoreOptions {
            timeout: Duration::from_secs_f64(self.timeout.max(0.001)),
            retries: self.retries,
            ..Default::default()
        };
        if let Some(e) = &self.endpoint {
            o = o.with("endpoint", e);
        }
        if let Some(r) = &self.region {
            o = o.with("region", r);
        }
        if self.allow_http {
            o = o.with("allow_http", "true");
        }
        for kv in &self.options {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("--store-option {kv:?}: expected KEY=VALUE"))?;
            o = o.with(k, v);
        }
        Ok(o)
    }

    pub fn open_options(&self) -> Result<OpenOptions, String> {
        Ok(OpenOptions {
            cache_bytes: self.cache_mib << 20,
            store: self.store_options()?,
        })
    }
}
