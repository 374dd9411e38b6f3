//! Where a runner puts the script's window, and how script addresses map
//! to real ones. Shared by the kernel runner and the model, so that both
//! see the same absolute addresses (and so the same THP alignment and the
//! same anonymous pgoffs).

use crate::{REJECTED_START, ZONE_SIZE};

/// The window base both runners use: 1 GiB-aligned, far from where a
/// process's own mappings go, and with the spill zone below 2^47.
pub const BASE: u64 = 0x2000_0000_0000;

const _: () = assert!(BASE % (1 << 30) == 0, "the base is 1 GiB-aligned");
const _: () = assert!(
    BASE + ZONE_SIZE <= REJECTED_START,
    "the zone is user memory"
);

/// The absolute address of script address `addr`.
///
/// Addresses below 2^47 are offsets into the window. Addresses at or above
/// 2^47 are the ranges Linux rejects wherever the window is: they are
/// passed unchanged, so the call fails as it would have (an offset could
/// wrap round to an address Linux accepts).
pub fn absolute(addr: u64) -> u64 {
    if addr >= REJECTED_START {
        addr
    } else {
        BASE + addr
    }
}

/// The script address of absolute address `addr` (wrapping, for results
/// outside the window).
pub fn relative(addr: u64) -> u64 {
    addr.wrapping_sub(BASE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_below_2_47_are_offset_and_the_rest_kept() {
        assert_eq!(absolute(0), BASE);
        assert_eq!(absolute(0x1000), BASE + 0x1000);
        assert_eq!(absolute(REJECTED_START - 1), BASE + REJECTED_START - 1);
        assert_eq!(absolute(REJECTED_START), REJECTED_START);
        assert_eq!(absolute(u64::MAX), u64::MAX);
        assert_eq!(relative(absolute(0x1234)), 0x1234);
        assert_eq!(relative(0x1000), 0x1000u64.wrapping_sub(BASE));
    }
}
