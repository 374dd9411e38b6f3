//! The operations that change an address space, with Linux's semantics.
//!
//! Linux: mm/mmap.c, mm/vma.c, mm/util.c, mm/mprotect.c, mm/mremap.c,
//! mm/madvise.c, mm/mlock.c; arch/x86/mm/pkeys.c for protection keys.
//!
//! Each operation is a method of [`MmapWriteGuard`](crate::MmapWriteGuard)
//! (several can share one write cycle) with a convenience method on
//! [`Mm`](crate::Mm) that takes the lock for one call. Each runs as one
//! `VmaChange`: it validates its arguments and checks every condition that
//! can fail before its first edit, then edits (write-locking every VMA it
//! changes), then publishes the result at once. The calls that Linux lets
//! fail halfway through a range (`mprotect`, `madvise`, `mlock` and
//! `munlock` over a hole or a VMA that refuses; `mremap` after unmapping
//! its target or moving the first VMAs of a range) publish what they did
//! before failing, as Linux leaves it.
//!
//! They change pages as Linux does: `munmap` zaps them and frees page
//! tables, `mremap` moves them, populating faults them in, and
//! `MADV_DONTNEED` drops them. `Mm::madvise` takes only the VMA lock (or
//! `mmap_lock` for read) for the advice that acts on pages alone
//! (`madvise_lock`).
//!
//! Payloads take part in merging: two neighbours merge only if their
//! payloads are equal (`T: PartialEq`, part of [`Payload`](crate::Payload)),
//! as Linux merges only VMAs with the same `vm_ops` and `vm_private_data`.
//!
//! No unsafe code here: everything goes through `VmaChange`.

#![deny(unsafe_code)]

mod brk;
mod fork;
mod madvise;
mod merge;
mod mlock;
mod mmap;
mod mprotect;
mod mremap;
mod mseal;
mod munmap;
mod pkey;
mod populate;
mod stack;
mod truncate;

pub use madvise::Advice;
pub use mmap::MmapError;
pub use stack::STACK_GUARD_GAP;
// For the fault path (fault.rs), which creates anon_vmas on write faults.
