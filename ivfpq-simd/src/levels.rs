//! `kernel_levels!`: instantiate generic `pulp` kernels once per instruction-set level.
//!
//! For each `fn name(args) -> R => generic_impl;` it emits `scalar::name`, `v3::name`,
//! `v4::name` (x86-64) and `neon::name` (aarch64). The dispatch table picks one wrapper
//! per level, so a level's token is only made after `Level::is_available` said yes.
//!
//! The x86 bodies are `#[target_feature]` functions that call the generic body, which is
//! `#[inline(always)]`: so it is compiled with the level's features under any profile.
//! Running it inside pulp's `vectorize` instead depends on the optimiser inlining a
//! closure into `vectorize`'s target-feature function, which it does under fat LTO but not
//! always with cargo's default release profile (16 codegen units, no LTO) or the test
//! profile: a kernel left outside runs with no target features and every intrinsic
//! becomes a call (`nearest_l2`: 38 s instead of 4 for the glove50 build; the two-query
//! distance kernels: 2.6k QPS on synth960 against 30k).

macro_rules! kernel_levels {
    // The x86 levels as `#[target_feature]` functions, then the portable ones. (The
    // `target_feature:` marker says so at each use.)
    (target_feature: $( fn $name:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)? => $imp:path; )*) => {
        kernel_levels!(@x86_tf v3, V3,
            "sse,sse2,fxsr,sse3,ssse3,sse4.1,sse4.2,popcnt,avx,avx2,bmi1,bmi2,fma,lzcnt";
            $( fn $name ( $($arg : $ty),* ) $(-> $ret)? => $imp; )*);
        kernel_levels!(@x86_tf v4, V4,
            "sse,sse2,fxsr,sse3,ssse3,sse4.1,sse4.2,popcnt,avx,avx2,bmi1,bmi2,fma,lzcnt,avx512f,avx512bw,avx512cd,avx512dq,avx512vl";
            $( fn $name ( $($arg : $ty),* ) $(-> $ret)? => $imp; )*);
        kernel_levels!(@portable $( fn $name ( $($arg : $ty),* ) $(-> $ret)? => $imp; )*);
    };

    // One x86 level as `#[target_feature]` functions with exactly the token's features.
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

    // The scalar and NEON levels. NEON is part of the aarch64 baseline, so its bodies have
    // their features whether or not `vectorize`'s closure is inlined.
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
}
