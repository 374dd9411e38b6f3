//! Memory behind the VMAs: pages, the page table, the page cache.
//!
//! Linux: mm/memory.c, mm/filemap.c, mm/shmem.c.
//!
//! Anonymous pages belong to the `Mm`'s [`PageTable`](pte::PageTable);
//! file pages live in the file's [`PageCache`](cache::PageCache) and are
//! mapped into page tables, so shared mappings of one file (or one shmem
//! object) see each other's stores, and a private file mapping reads the
//! file until it writes, when it gets an anonymous copy.
//!
//! Lock order, outermost first: `mmap_lock` -> VMA lock -> page-table
//! entry. Entries are changed by single atomic operations, never locked,
//! so faults on different pages run concurrently (Linux needs split PTE
//! locks for that).

pub(crate) mod cache;
pub(crate) mod memory;
pub(crate) mod page;
pub(crate) mod pte;
pub(crate) mod radix;
mod smaps;

pub use smaps::VmaMemory;

#[cfg(all(test, loom))]
mod loom_tests;
