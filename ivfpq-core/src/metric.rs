//! Distance metrics. Smaller is always nearer.

use std::fmt;
use std::str::FromStr;

use crate::error::{IvfPqError, invalid};

/// How two vectors are compared.
///
/// Cosine is served as L2 on unit vectors: vectors are normalised at ingest and queries at
/// search time, and `1 − cos(a, b) = ‖a − b‖² / 2` for unit vectors, so the L2 machinery
/// (residuals, precomputed tables) applies unchanged and the reported distance is halved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Squared Euclidean distance.
    L2,
    /// `1 − cos(a, b)`.
    Cosine,
    /// Negated inner product, `−a·b`.
    Dot,
}

impl Metric {
    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Cosine => "cosine",
            Metric::Dot => "dot",
        }
    }

    /// Whether vectors are compared through L2 internally (L2 and cosine).
    pub fn is_l2_family(self) -> bool {
        !matches!(self, Metric::Dot)
    }

    /// Converts an internal distance (L2² for L2 and cosine, `−dot` for dot) to the metric's.
    #[inline]
    pub fn from_internal(self, d: f32) -> f32 {
        match self {
            Metric::Cosine => 0.5 * d,
            _ => d,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = IvfPqError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "l2" | "euclidean" => Ok(Metric::L2),
            "cosine" | "cos" => Ok(Metric::Cosine),
            "dot" | "ip" | "inner_product" => Ok(Metric::Dot),
            other => Err(invalid(
                "metric",
                format!("unknown metric {other:?}; use l2, cosine or dot"),
            )),
        }
    }
}
