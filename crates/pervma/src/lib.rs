//! pervma: Linux's address-space management with per-VMA locks.
#![no_std]
#![doc(test(attr(deny(warnings))))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub(crate) mod sync;
pub(crate) mod tree;
