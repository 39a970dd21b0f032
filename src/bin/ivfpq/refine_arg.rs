//! `--refine` values: a factor, or `auto` (adaptive, see `SearchParams::auto_refine`).

use std::fmt;
use std::str::FromStr;

use ivfpq::core::SearchParams;

use crate::report::Val;

/// The upper bound on candidates (`k ×` this) that plain `auto` reranks.
pub const AUTO_MAX_FACTOR: usize = 64;

/// One `--refine` value: `N` (rerank `k·N`), `auto` or `auto:N` (adaptive, at most `k·N`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refine {
    pub factor: usize,
    pub auto: bool,
}

impl FromStr for Refine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("--refine {s:?}: expected a factor (1 = none), auto or auto:N");
        match s.strip_prefix("auto") {
            Some("") => Ok(Refine {
                factor: AUTO_MAX_FACTOR,
                auto: true,
            }),
            Some(rest) => {
                let n = rest.strip_prefix(':').and_then(|n| n.parse().ok());
                n.map(|factor| Refine { factor, auto: true })
                    .ok_or_else(bad)
            }
            None => s
                .parse()
                .map(|factor| Refine {
                    factor,
                    auto: false,
                })
                .map_err(|_| bad()),
        }
    }
}

impl fmt::Display for Refine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.auto, self.factor) {
            (false, n) => write!(f, "{n}"),
            (true, AUTO_MAX_FACTOR) => write!(f, "auto"),
            (true, n) => write!(f, "auto:{n}"),
        }
    }
}

impl Refine {
    /// The report value: the factor as a number, `auto` settings as text.
    pub fn value(self) -> Val {
        if self.auto {
            Val::Str(self.to_string())
        } else {
            Val::Int(self.factor as u64)
        }
    }

    /// Applies this refine setting to `p`.
    pub fn apply(self, p: SearchParams) -> SearchParams {
        if self.auto {
            p.with_auto_refine(self.factor)
        } else {
            p.with_refine(self.factor)
        }
    }
}
