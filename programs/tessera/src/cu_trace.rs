//! Compute-unit markers for profiling (`scripts/cu-profile.sh`). Built with the `cu-trace`
//! feature, [`cu_mark!`] logs `cu:<label>` and the units left; `tessera-cu-profile` turns the
//! logs into the per-part breakdown of `docs/CU.md`. Without the feature it compiles to nothing.

/// Log a profiling marker (only in a `cu-trace` build).
#[macro_export]
macro_rules! cu_mark {
    ($label:literal) => {
        #[cfg(all(feature = "cu-trace", any(target_os = "solana", target_arch = "bpf")))]
        {
            ::anchor_lang::solana_program::log::sol_log(concat!("cu:", $label));
            // SAFETY: the syscall takes no arguments and only logs.
            unsafe { ::solana_define_syscall::definitions::sol_log_compute_units_() };
        }
    };
}
