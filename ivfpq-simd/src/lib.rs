//! Distance and product-quantization kernels for ivfpq, dispatched at run time.
//!
//! Every kernel is written once, generic over [`pulp::Simd`], and compiled for each
//! instruction-set level: AVX-512 (`x86-64-v4`), AVX2+FMA (`x86-64-v3`), NEON on aarch64,
//! and a portable scalar build. The CPU is detected once; after that a kernel call is one
//! indirect call through a [`Kernels`] table, so callers should dispatch once per batch
//! (one call that scores many rows), never once per element.
//!
//! The environment variable `IVFPQ_SIMD=scalar|avx2|avx512|neon` forces a lower level, so
//! each path can be tested on one machine. Asking for a level this CPU lacks is a
//! [`SimdError`], never an illegal instruction.
//!
//! A plain, obviously-correct implementation of every kernel lives in [`reference`](mod@reference); the
//! property tests check each level against it.
//!
//! ```
//! let k = ivfpq_simd::Kernels::try_active().unwrap();
//! let a = [1.0f32, 2.0, 3.0];
//! let b = [4.0f32, 5.0, 6.0];
//! assert_eq!(k.dot(&a, &b), 32.0);
//! assert_eq!(k.l2sq(&a, &b), 27.0);
//! ```
//!
//! Kernels are building blocks: a length mismatch between two arguments is a caller's bug
//! and panics (see each method's `# Panics`). Everything above this crate returns typed
//! errors instead.

#[macro_use]
mod levels;
mod api;
mod dispatch;
mod distance;
mod hits;
mod lanes;
mod nearest;
mod pq;
mod pq4;
mod pq4_layout;
mod pq4_table;
#[cfg(target_arch = "x86_64")]
mod pq4_vbmi;
mod pq8_bytes;
mod prefetch;
pub mod reference;
mod topk;

pub use dispatch::{Kernels, Level, SimdError, level, try_level};
pub use pq::{PQ8_BLOCK, pack_pq8_blocks, pq8_blocked_len, unpack_pq8_code};
pub use pq4::Pq4Query;
pub use pq4_layout::{
    PQ4_BLOCK, Pq4Layout, pack_pq4_blocks, pq4_blocked_len, pq4_code, pq4_m_pad, pq4_push,
    pq4_relayout,
};
pub use prefetch::{prefetch, prefetch_l2};
pub use topk::{TopK, total_order_bits};
