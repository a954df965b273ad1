//! The CPU's time-stamp counter, for timing sampled polls with a read of a few nanoseconds
//! instead of a `clock_gettime` call.
//!
//! Only an *invariant* counter is offered (x86_64 with CPUID leaf `0x8000_0007`'s
//! invariant-TSC bit): it ticks at a constant rate in every power state and, on the systems
//! that set the bit, is synchronized across cores, so two reads on different cores can be
//! subtracted. Elsewhere [`invariant`] is `false` and callers use the OS clock.

/// Whether this CPU has an invariant time-stamp counter (see the module docs).
#[cfg(target_arch = "x86_64")]
pub(crate) fn invariant() -> bool {
    use std::arch::x86_64::__cpuid;
    #[allow(unused_unsafe, reason = "`__cpuid` is an unsafe fn before Rust 1.87")]
    // SAFETY: CPUID exists on every x86_64 CPU; leaf 0x8000_0000 reports the highest extended
    // leaf, and 0x8000_0007 is read only if that is at least 0x8000_0007.
    let invariant = unsafe {
        __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
    };
    invariant
}

/// Whether this CPU has an invariant time-stamp counter (see the module docs).
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn invariant() -> bool {
    false
}

/// The time-stamp counter. Meaningful only where [`invariant`] is `true`.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn read() -> u64 {
    // SAFETY: RDTSC is available on every x86_64 CPU and only reads a counter.
    unsafe { std::arch::x86_64::_rdtsc() }
}

/// The time-stamp counter. Meaningful only where [`invariant`] is `true` (never, here).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(crate) fn read() -> u64 {
    0
}
