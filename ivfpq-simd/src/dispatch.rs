//! CPU detection and the table of kernel entry points for each level.

use std::sync::OnceLock;

use crate::{distance, nearest, pq, pq4, pq4_table, pq8_bytes};

/// An instruction-set level that kernels are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Portable code; what every CPU runs.
    Scalar,
    /// aarch64 Advanced SIMD (128-bit).
    Neon,
    /// x86-64-v3: AVX2 and FMA (256-bit).
    Avx2,
    /// x86-64-v4: AVX-512 F/BW/DQ/VL (512-bit).
    Avx512,
}

impl Level {
    /// The name used by `IVFPQ_SIMD`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Neon => "neon",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// Parses a level name as written in `IVFPQ_SIMD`.
    pub fn parse(name: &str) -> Result<Level, SimdError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "scalar" => Ok(Level::Scalar),
            "neon" => Ok(Level::Neon),
            "avx2" => Ok(Level::Avx2),
            "avx512" => Ok(Level::Avx512),
            other => Err(SimdError::UnknownLevel(other.to_string())),
        }
    }

    /// Whether this CPU can run kernels of this level.
    pub fn is_available(self) -> bool {
        match self {
            Level::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => pulp::x86::V3::is_available(),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => pulp::x86::V4::is_available(),
            #[cfg(target_arch = "aarch64")]
            Level::Neon => pulp::aarch64::Neon::is_available(),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The best level this CPU supports.
    pub fn detect() -> Level {
        [Level::Avx512, Level::Avx2, Level::Neon]
            .into_iter()
            .find(|l| l.is_available())
            .unwrap_or(Level::Scalar)
    }

    /// Every level this CPU can run, lowest first.
    pub fn available() -> Vec<Level> {
        [Level::Scalar, Level::Neon, Level::Avx2, Level::Avx512]
            .into_iter()
            .filter(|l| l.is_available())
            .collect()
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why kernels of a requested level cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimdError {
    /// `IVFPQ_SIMD` names no known level.
    #[error("IVFPQ_SIMD={0:?} is not a SIMD level; use one of scalar, avx2, avx512, neon")]
    UnknownLevel(String),
    /// The requested level needs instructions this CPU lacks.
    #[error("IVFPQ_SIMD asks for {requested}, but this CPU supports at most {best}")]
    Unsupported {
        /// The level asked for.
        requested: Level,
        /// The best level this CPU has.
        best: Level,
    },
}

/// `pq8_scan_bounded(lut, codes, m, bias, Some((suffix_min, threshold)), out)`.
type Pq8ScanBounded = fn(&[f32], &[u8], usize, f32, Option<(&[f32], f32)>, &mut [f32]);

/// The kernel entry points of one level.
///
/// Obtain one with [`Kernels::try_active`] (honours `IVFPQ_SIMD`) or
/// [`Kernels::for_level`], once per batch of work, and call its methods in the hot loop.
pub struct Kernels {
    pub(crate) level: Level,
    pub(crate) dot: fn(&[f32], &[f32]) -> f32,
    pub(crate) l2sq: fn(&[f32], &[f32]) -> f32,
    pub(crate) cosine: fn(&[f32], &[f32]) -> f32,
    pub(crate) norms_sq: fn(&[f32], usize, &mut [f32]),
    pub(crate) dot_many: fn(&[f32], &[f32], &mut [f32]),
    pub(crate) l2sq_many: fn(&[f32], &[f32], &mut [f32]),
    pub(crate) dot_many2: Many2,
    pub(crate) l2sq_many2: Many2,
    pub(crate) cosine_many: fn(&[f32], &[f32], &mut [f32]),
    pub(crate) pq_lut_l2: fn(&[f32], &[f32], usize, &mut [f32]),
    pub(crate) pq_lut_dot: fn(&[f32], &[f32], usize, &mut [f32]),
    pub(crate) pq8_scan: fn(&[f32], &[u8], usize, f32, &mut [f32]),
    pub(crate) pq8_scan_bounded: Pq8ScanBounded,
    pub(crate) select_below: fn(&[f32], f32, &mut Vec<u32>),
    pub(crate) argmin_sum: fn(&[f32], &[f32]) -> (usize, f32),
    pub(crate) nearest_l2: NearestL2,
    pub(crate) add: fn(&[f32], &[f32], &mut [f32]),
    pub(crate) row_mins: fn(&[f32], usize, &mut [f32]),
    pub(crate) row_maxs: fn(&[f32], usize, &mut [f32]),
    pub(crate) pq4: pq4::Pq4Kernels,
    pub(crate) pq4_quantize: fn(&[f32], &mut [u8]) -> (f32, f32),
    pub(crate) pq4_quantize_sum: Pq4QuantizeSum,
    pub(crate) pq8_quantize: fn(&[f32], &mut [u8]) -> (f32, f32),
    pub(crate) pq8_quantize_sum: Pq4QuantizeSum,
    pub(crate) pq8_byte_scan: pq8_bytes::Pq8ByteScan,
}

/// `dot_many2(q0, q1, rows, out0, out1)` and the L2² form.
pub(crate) type Many2 = fn(&[f32], &[f32], &[f32], &mut [f32], &mut [f32]);

/// `nearest_l2(rows, ct, norms, labels, dists)`.
pub(crate) type NearestL2 = fn(&[f32], &[f32], &[f32], &mut [u32], &mut [f32]);

/// `pq4_quantize_sum(a, b, lo, hi, out) -> (scale, base)`.
pub(crate) type Pq4QuantizeSum = fn(&[f32], &[f32], &[f32], &[f32], &mut [u8]) -> (f32, f32);

/// Builds the table for one level from the per-level modules that `kernel_levels!` made.
macro_rules! table {
    ($level:expr, $m:ident) => {
        table!($level, $m, pq8_bytes::pq8_byte_scan_scalar)
    };
    ($level:expr, $m:ident, $byte_scan:path) => {
        Kernels {
            level: $level,
            dot: distance::$m::dot,
            l2sq: distance::$m::l2sq,
            cosine: distance::$m::cosine,
            norms_sq: distance::$m::norms_sq,
            dot_many: distance::$m::dot_many,
            l2sq_many: distance::$m::l2sq_many,
            dot_many2: distance::pair::$m::dot_many2,
            l2sq_many2: distance::pair::$m::l2sq_many2,
            cosine_many: distance::$m::cosine_many,
            pq_lut_l2: pq::$m::pq_lut_l2,
            pq_lut_dot: pq::$m::pq_lut_dot,
            pq8_scan: pq::pq8_scan,
            pq8_scan_bounded: pq::pq8_scan_bounded,
            select_below: distance::$m::select_below,
            argmin_sum: distance::$m::argmin_sum,
            nearest_l2: nearest::$m::nearest_l2,
            add: distance::$m::add,
            row_mins: distance::$m::row_mins,
            row_maxs: distance::$m::row_maxs,
            pq4: pq4::$m::PQ4,
            pq4_quantize: pq4_table::$m::pq4_quantize,
            pq4_quantize_sum: pq4_table::$m::pq4_quantize_sum,
            pq8_quantize: pq4_table::$m::pq8_quantize,
            pq8_quantize_sum: pq4_table::$m::pq8_quantize_sum,
            pq8_byte_scan: $byte_scan,
        }
    };
}

static SCALAR: Kernels = table!(Level::Scalar, scalar);
#[cfg(target_arch = "x86_64")]
static AVX2: Kernels = table!(Level::Avx2, v3);
// AVX-512 implies AVX2 + FMA, so its table may use 256-bit kernels where they are faster
// (see `distance::v4_rows`).
#[cfg(target_arch = "x86_64")]
static AVX512: Kernels = Kernels {
    dot_many: distance::v4_rows::dot_many,
    l2sq_many: distance::v4_rows::l2sq_many,
    dot_many2: distance::v4_rows::dot_many2,
    l2sq_many2: distance::v4_rows::l2sq_many2,
    ..table!(Level::Avx512, v4, pq8_bytes::pq8_byte_scan_avx512)
};
#[cfg(target_arch = "aarch64")]
static NEON: Kernels = table!(Level::Neon, neon);

static ACTIVE: OnceLock<Result<&'static Kernels, SimdError>> = OnceLock::new();

impl Kernels {
    /// The table for `level`, or an error if this CPU cannot run it.
    pub fn for_level(level: Level) -> Result<&'static Kernels, SimdError> {
        if !level.is_available() {
            return Err(SimdError::Unsupported {
                requested: level,
                best: Level::detect(),
            });
        }
        // The tables of levels the CPU lacks are unreachable: the check above guards the
        // `new_unchecked` tokens inside their kernels.
        match level {
            Level::Scalar => Ok(&SCALAR),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => Ok(&AVX2),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => Ok(&AVX512),
            #[cfg(target_arch = "aarch64")]
            Level::Neon => Ok(&NEON),
            #[allow(unreachable_patterns)]
            _ => Err(SimdError::Unsupported {
                requested: level,
                best: Level::detect(),
            }),
        }
    }

    /// The table chosen once per process: `IVFPQ_SIMD` if set, else the best level.
    pub fn try_active() -> Result<&'static Kernels, SimdError> {
        ACTIVE
            .get_or_init(|| match std::env::var("IVFPQ_SIMD") {
                Ok(v) if !v.trim().is_empty() && v.trim() != "auto" => {
                    Kernels::for_level(Level::parse(&v)?)
                }
                _ => Kernels::for_level(Level::detect()),
            })
            .clone()
    }

    /// Like [`Kernels::try_active`].
    ///
    /// # Panics
    /// If `IVFPQ_SIMD` names an unknown level or one this CPU lacks. Programs should call
    /// [`try_level`] at startup to report that as an error instead.
    pub fn active() -> &'static Kernels {
        match Kernels::try_active() {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        }
    }

    /// The level these kernels were compiled for.
    pub fn level(&self) -> Level {
        self.level
    }
}

/// The active level (see [`Kernels::try_active`]).
pub fn try_level() -> Result<Level, SimdError> {
    Kernels::try_active().map(|k| k.level)
}

/// The active level.
///
/// # Panics
/// As [`Kernels::active`].
pub fn level() -> Level {
    Kernels::active().level
}
