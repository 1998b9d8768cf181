//! Element-wise loops compiled with FMA instructions where the CPU has them.
//!
//! `mul_add` is a fused multiply-add either way (one rounding, the same bits); without the
//! target feature it is a call into libm, which made element-wise passes (GELU, LayerNorm,
//! the optimizer) several times slower than the products around them.

/// Declares `$name(args)`: the body compiled with FMA instructions when the CPU has them,
/// else as is. Both compute the same bits (`mul_add` is a fused multiply-add either way; with
/// the feature it is an instruction instead of a call into libm).
macro_rules! with_fma {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "fma")]
                unsafe fn fused($($arg: $ty),*) {
                    body($($arg),*)
                }
                if std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU supports FMA (checked just above).
                    return unsafe { fused($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

pub(crate) use with_fma;
