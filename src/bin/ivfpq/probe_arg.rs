//! `--probe-ratio` values: `off` (probe `nprobe` lists) or a ratio (adaptive probing, see
//! `SearchParams::probe_ratio`).

use std::fmt;
use std::str::FromStr;

use ivfpq::core::SearchParams;

use crate::report::Val;

/// One `--probe-ratio` value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbeRatio(pub Option<f32>);

impl FromStr for ProbeRatio {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "off" {
            return Ok(ProbeRatio(None));
        }
        // The range is checked where the search starts, with a typed error.
        s.parse()
            .map(|r| ProbeRatio(Some(r)))
            .map_err(|_| format!("--probe-ratio {s:?}: expected off or a ratio ≥ 1"))
    }
}

impl fmt::Display for ProbeRatio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => write!(f, "off"),
            Some(r) => write!(f, "{r}"),
        }
    }
}

impl ProbeRatio {
    /// The report value: the ratio as a number, `off` as text.
    pub fn value(self) -> Val {
        self.0
            .map_or(Val::Str("off".into()), |r| Val::Float(f64::from(r)))
    }

    /// Applies this setting to `p`.
    pub fn apply(self, mut p: SearchParams) -> SearchParams {
        p.probe_ratio = self.0;
        p
    }
}
