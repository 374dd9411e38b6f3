//! A file's page cache: the pages that shared mappings of the file share.
//!
//! Linux: mm/filemap.c (`filemap_fault`, `__filemap_get_folio`),
//! mm/shmem.c (`shmem_fault`).
//!
//! A page, once in the cache, stays there until the file is dropped (there
//! is no truncation or reclaim in pervma), so `&Page`s borrowed from the
//! cache live as long as the cache. New pages read as zeroes: every file
//! starts out as zeroes until written (`File::write_at`, or a store through
//! a shared mapping).
//!
//! # Invariants
//!
//! - A leaf word is null or `Arc::<Page>::into_raw`, owning one strong
//!   count, and changes only from null to a page (by CAS).

use super::page::Page;
use super::radix::Radix;
use crate::flags::PAGE_SHIFT;
use crate::sync::prim::Ordering;
use alloc::sync::Arc;
use core::ptr;

/// The page cache of one file.
pub(crate) struct PageCache {
    radix: Radix,
}

impl PageCache {
    /// A cache for a file of `size` bytes.
    pub(crate) fn new(size: u64) -> Self {
        let pages = size.div_ceil(1 << PAGE_SHIFT);
        PageCache {
            radix: Radix::new(u64::BITS - pages.leading_zeros()),
        }
    }

    /// The page at page offset `index`, if it is in the cache.
    pub(crate) fn peek(&self, index: u64) -> Option<&Page> {
        let word = self.radix.leaf(index)?.load(Ordering::Acquire);
        // SAFETY: a non-null word is a live page that stays in the cache as
        // long as `self` (invariants).
        (!word.is_null()).then(|| unsafe { &*word.cast::<Page>() })
    }

    /// The page at `index`, read in (as zeroes) if absent
    /// (`filemap_fault`). `None` if the index is past what the file could
    /// hold.
    pub(crate) fn get(&self, index: u64) -> Option<&Page> {
        let leaf = self.radix.leaf_or_alloc(index)?;
        let mut word = leaf.load(Ordering::Acquire);
        if word.is_null() {
            let new = Arc::into_raw(Arc::new(Page::zeroed()))
                .cast_mut()
                .cast::<()>();
            // Release publishes the zeroed page; Acquire on failure reads
            // the winner's.
            match leaf.compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => word = new,
                Err(winner) => {
                    // SAFETY: `new` was never published; we own its count.
                    drop(unsafe { Arc::from_raw(new.cast::<Page>()) });
                    word = winner;
                }
            }
        }
        // SAFETY: `word` is a live page that stays in the cache as long as
        // `self` (invariants).
        Some(unsafe { &*word.cast::<Page>() })
    }
}

impl Drop for PageCache {
    fn drop(&mut self) {
        self.radix.for_each(0, u64::MAX, |_, leaf| {
            let word = leaf.swap(ptr::null_mut(), Ordering::Relaxed);
            // SAFETY: `&mut self`: nobody borrows the pages; the word owned
            // one strong count.
            drop(unsafe { Arc::from_raw(word.cast::<Page>().cast_const()) });
        });
    }
}
