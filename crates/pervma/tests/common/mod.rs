//! Argument strategies the operation proptests share: mostly sensible,
//! sometimes unaligned or extreme, so every class of bad input comes up.

use proptest::prelude::*;

pub(crate) const P: u64 = 4096;

/// Addresses: mostly pages in a 64-page window at `base`, sometimes
/// unaligned, sometimes extreme.
pub(crate) fn addr(base: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => (0u64..64).prop_map(move |p| base + p * P),
        1 => (0u64..64 * P).prop_map(move |o| base + o),
        1 => prop::sample::select(vec![0, P, 1 << 47, u64::MAX - P + 1, u64::MAX]),
    ]
}

/// Lengths: mostly 1-15 pages, sometimes unaligned, zero or huge.
pub(crate) fn len() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => (1u64..16).prop_map(|p| p * P),
        1 => 0u64..3 * P,
        1 => prop::sample::select(vec![0, u64::MAX, u64::MAX - P + 2, 1 << 47]),
    ]
}
