//! `kernel_levels!`: instantiate generic `pulp` kernels once per instruction-set level.
//!
//! For each `fn name(args) -> R => generic_impl;` it emits `scalar::name`, `v3::name`,
//! `v4::name` (x86-64) and `neon::name` (aarch64). Each wrapper makes the level's token and
//! runs the generic body inside `vectorize`, which compiles it with that level's target
//! features. The dispatch table picks one wrapper per level, so the token is only made
//! after `Level::is_available` said yes.
//!
//! `kernel_levels! { target_feature: fn … }` instead compiles the x86 bodies as
//! `#[target_feature]` functions, for kernels that must not depend on the optimiser
//! inlining a closure (see that arm).

macro_rules! kernel_levels {
    // `target_feature:` first: x86 bodies become `#[target_feature]` functions (below).
    (target_feature: $( fn $name:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)? => $imp:path; )*) => {
        kernel_levels!(@x86_tf v3, V3,
            "sse,sse2,fxsr,sse3,ssse3,sse4.1,sse4.2,popcnt,avx,avx2,bmi1,bmi2,fma,lzcnt";
            $( fn $name ( $($arg : $ty),* ) $(-> $ret)? => $imp; )*);
        kernel_levels!(@x86_tf v4, V4,
            "sse,sse2,fxsr,sse3,ssse3,sse4.1,sse4.2,popcnt,avx,avx2,bmi1,bmi2,fma,lzcnt,avx512f,avx512bw,avx512cd,avx512dq,avx512vl";
            $( fn $name ( $($arg : $ty),* ) $(-> $ret)? => $imp; )*);
        kernel_levels!(@portable $( fn $name ( $($arg : $ty),* ) $(-> $ret)? => $imp; )*);
    };

    // One x86 level as `#[target_feature]` functions with exactly the token's features,
    // for kernels too big to trust to `vectorize`: without LTO (the test profile, or a
    // crate linking ivfpq with default release settings) a big closure is not inlined
    // into `vectorize`, so it runs with no target features (`nearest_l2`: 38 s instead of
    // 4 for the glove50 build under `cargo test`).
    (@x86_tf $level:ident, $token:ident, $features:literal;
     $( fn $name:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)? => $imp:path; )*) => {
        #[cfg(target_arch = "x86_64")]
        pub(crate) mod $level {
            #[allow(unused_imports)]
            use super::*;
            $( pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
                // SAFETY: reachable only through this level's table (and, for V3, the
                // AVX-512 one), which `Kernels::for_level` returns only when the token's
                // `is_available()` holds; `tf` enables exactly the token's features.
                unsafe { tf::$name(pulp::x86::$token::new_unchecked(), $($arg),*) }
            } )*

            mod tf {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[target_feature(enable = $features)]
                    pub(super) fn $name(simd: pulp::x86::$token, $($arg: $ty),*) $(-> $ret)? {
                        $imp(simd, $($arg),*)
                    }
                )*
            }
        }
    };

    // The scalar and NEON levels, the same in both modes.
    (@portable $( fn $name:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)? => $imp:path; )*) => {
        pub(crate) mod scalar {
            #[allow(unused_imports)]
            use super::*;
            $( pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
                $imp(pulp::Scalar, $($arg),*)
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

    ($( fn $name:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)? => $imp:path; )*) => {
        kernel_levels!(@portable $( fn $name ( $($arg : $ty),* ) $(-> $ret)? => $imp; )*);

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
    };
}
