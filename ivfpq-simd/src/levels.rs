//! `kernel_levels!`: instantiate generic `pulp` kernels once per instruction-set level.
//!
//! For each `fn name(args) -> R => generic_impl;` it emits `scalar::name`, `v3::name`,
//! `v4::name` (x86-64) and `neon::name` (aarch64). Each wrapper makes the level's token and
//! runs the generic body inside `vectorize`, which compiles it with that level's target
//! features. The dispatch table picks one wrapper per level, so the token is only made
//! after `Level::is_available` said yes.

macro_rules! kernel_levels {
    ($( fn $name:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)? => $imp:path; )*) => {
        pub(crate) mod scalar {
            #[allow(unused_imports)]
            use super::*;
            $( pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
                $imp(pulp::Scalar, $($arg),*)
            } )*
        }

        #[cfg(target_arch = "x86_64")]
        pub(crate) mod v3 {
            #[allow(unused_imports)]
            use super::*;
            $( pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
                // SAFETY: reachable only through the AVX2 and AVX-512 tables, which
                // `Kernels::for_level` returns only when `V3::is_available()` or
                // `V4::is_available()`; pulp's V4 includes every V3 feature.
                let simd = unsafe { pulp::x86::V3::new_unchecked() };
                simd.vectorize(move || $imp(simd, $($arg),*))
            } )*
        }

        #[cfg(target_arch = "x86_64")]
        pub(crate) mod v4 {
            #[allow(unused_imports)]
            use super::*;
            $( pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
                // SAFETY: reachable only through the AVX-512 table, which
                // `Kernels::for_level` returns only when `V4::is_available()`.
                let simd = unsafe { pulp::x86::V4::new_unchecked() };
                simd.vectorize(move || $imp(simd, $($arg),*))
            } )*
        }

        #[cfg(target_arch = "aarch64")]
        pub(crate) mod neon {
            #[allow(unused_imports)]
            use super::*;
            $( pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
                // SAFETY: reachable only through the NEON table, which `Kernels::for_level`
                // returns only when `Neon::is_available()`.
                let simd = unsafe { pulp::aarch64::Neon::new_unchecked() };
                simd.vectorize(move || $imp(simd, $($arg),*))
            } )*
        }
    };
}
