//! The operations that change an address space, with Linux's semantics.
//!
//! Linux: mm/mmap.c, mm/vma.c, mm/util.c.
//!
//! Each operation is a method of [`MmapWriteGuard`](crate::MmapWriteGuard)
//! (several can share one write cycle) with a convenience method on
//! [`Mm`](crate::Mm) that takes the lock for one call. Each runs as one
//! `VmaChange`: it validates its arguments and checks every condition that
//! can fail before its first edit, then edits (write-locking every VMA it
//! changes), then publishes the result at once.
//!
//! No unsafe code here: everything goes through `VmaChange`.

#![deny(unsafe_code)]

mod mmap;
mod munmap;

pub use mmap::MmapError;
