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
    /// Per-request timeout in seconds (0.001 to 86400).
    #[arg(long, default_value = "30", value_parser = parse_timeout)]
    timeout: Duration,
    /// Retries of a failed request.
    #[arg(long, default_value_t = 3)]
    retries: usize,
    /// Partition cache for remote shards, in MiB.
    #[arg(long, default_value_t = 256)]
    cache_mib: u64,
}

/// Shortest `--timeout`: the object-store client counts in whole milliseconds.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);
/// Longest `--timeout`: one day; anything longer is a typo, not a timeout.
const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

/// Parses `--timeout` seconds: a finite number from 0.001 to 86400.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    let range = || {
        format!(
            "{s:?} seconds is out of range: use a number from {} to {}",
            MIN_TIMEOUT.as_secs_f64(),
            MAX_TIMEOUT.as_secs_f64()
        )
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(range());
    }
    let d = Duration::try_from_secs_f64(secs).map_err(|_| range())?;
    if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&d) {
        return Err(range());
    }
    Ok(d)
}

impl StoreArgs {
    pub fn store_options(&self) -> Result<StoreOptions, String> {
        let mut o = StoreOptions {
            timeout: self.timeout,
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
            cache_bytes: self.cache_mib.saturating_mul(1 << 20),
            store: self.store_options()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_accepts_finite_positive_seconds() {
        assert_eq!(parse_timeout("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_timeout("0.001"), Ok(MIN_TIMEOUT));
        assert_eq!(parse_timeout("86400"), Ok(MAX_TIMEOUT));
    }

    #[test]
    fn timeout_rejects_what_is_not_a_timeout() {
        for bad in [
            "inf", "-inf", "nan", "NaN", "1e20", "86401", "0", "-0", "-5", "0.0001", "", "x",
        ] {
            let e = parse_timeout(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }
}
