//! A file's page cache: the pages that shared mappings of the file share,
//! read in from the file's contents and written back when dirty.
//!
//! Linux: mm/filemap.c (`filemap_fault`, `__filemap_get_folio`,
//! `filemap_read_folio`, `filemap_write_and_wait_range`),
//! mm/page-writeback.c (`folio_mark_dirty`, `clear_page_dirty_for_io`),
//! mm/shmem.c (`shmem_fault`).
//!
//! A page, once in the cache, stays there until the file is truncated
//! below it ([`PageCache::truncate`]: it leaves the cache then, but is
//! kept on the cache's retired list) or dropped (there is no reclaim in
//! pervma), so `&Page`s borrowed from the cache live as long as the cache.
//! A page is brought in ([`PageCache::get`])
//! by reading it from the file's [`FileContents`]
//! (`address_space_operations::read_folio`), or as zeroes for a file
//! without contents (a shmem object, or a file that starts out as zeroes
//! until written). Two threads that bring one page in at once may both
//! read it; one copy wins, and nobody sees a page before it was read
//! whole (Linux makes the second wait on the locked folio instead).
//!
//! # Dirty pages and writeback
//!
//! A store that reaches a cached page of a file with contents (through a
//! shared mapping, or `File::write_at`) marks the page dirty
//! ([`PageCache::write`]); [`PageCache::writeback`] (`File::sync`, and the
//! cache's drop) writes the dirty pages back through
//! [`FileContents::write_page`]. A store racing with a writeback must not
//! be lost. Linux gets that from write protection: `clear_page_dirty_for_io`
//! clears the dirty bit and write-protects the page's PTEs before the
//! copy goes out, so the next store faults and dirties the page again.
//! pervma's stores never fault once mapped, so the two sides meet in the
//! leaf word instead:
//!
//! | store (`write`) | writeback |
//! |---|---|
//! | 1. store the bytes | 1. clear `DIRTY` |
//! | 2. `fence(SeqCst)` | 2. `fence(SeqCst)` |
//! | 3. load the word; if `DIRTY` is clear, set it | 3. copy the page out, `write_page` it |
//!
//! The fences order the two sides: if the writeback's fence comes first,
//! the store's load sees the cleared bit (or a later set) and the page
//! stays dirty for the next writeback; if the store's fence comes first,
//! the writeback's copy sees the stored bytes. Either way no store is
//! lost, and the common case (a page already dirty) costs a store one
//! fence and one load of a shared word, no read-modify-write. Writebacks
//! run one at a time per file (`writeback_lock`), so an older copy of a
//! page can never reach the contents after a newer one
//! (`folio_wait_writeback`). `loom_tests.rs` models the protocol.
//!
//! # Invariants
//!
//! - A leaf word is null or `Arc::<Page>::into_raw` of a page, possibly
//!   with `DIRTY` (bit 0, free because `Page` is 64-byte aligned) or
//!   `HOLE` (bit 1) set, owning one strong count. It changes only from
//!   null to a clean page (by CAS), and then only in its `DIRTY` and
//!   `HOLE` bits: the page is never replaced (a punched hole zeroes it).
//! - `DIRTY` is only ever set on pages of a cache with contents.
//! - A page leaves its leaf word only in [`PageCache::truncate`], which
//!   swaps the word to null and pushes the page's strong count onto
//!   `retired`, from which nothing is taken until the cache is dropped:
//!   every page ever published lives as long as the cache. (Linux frees a
//!   truncated folio when its last reference goes; pervma's borrowers hold
//!   no count, so it keeps them all.)

use super::page::{Page, PAGE_BYTES};
use super::radix::{Leaf, Radix};
use crate::errno::Errno;
use crate::file::FileContents;
use crate::flags::PAGE_SHIFT;
use crate::sync::prim::{fence, AtomicPtr, AtomicU64, Ordering};
use crate::sync::rwsem::RawRwSem;
use alloc::sync::Arc;
use alloc::vec;
use core::ptr;

/// The leaf word's dirty bit (`PG_dirty`).
const DIRTY: usize = 1;
/// The leaf word's hole bit: the page was punched out of the file
/// (`MADV_REMOVE`, `shmem_fallocate(PUNCH_HOLE)`) and zeroed; the cache
/// no longer holds it ([`PageCache::peek`] says so) until it is brought in
/// again ([`PageCache::get`] clears the bit). The page itself stays
/// allocated, so that `&Page`s lent out before stay valid.
const HOLE: usize = 2;
/// The leaf word's written bit, for files without contents (shmem): a
/// store reached the page (a shared write fault, or a write), so reclaim
/// could not drop it without swap (`PG_dirty` of a shmem folio; `DIRTY`
/// is for writeback, which such files do not have).
const WRITTEN: usize = 4;

/// The page a leaf word holds, if any.
fn page_of(word: *mut ()) -> Option<*const Page> {
    let w = word as usize & !(DIRTY | HOLE | WRITTEN);
    (w != 0).then_some(w as *const Page)
}

/// `MAX_LFS_FILESIZE`: the largest size a file can have (the `s_maxbytes`
/// of shmem). The radix tree has a fixed height, so every cache can hold
/// the pages of a file this large, whatever size it was made with: six
/// levels, whose nodes below the root are allocated as pages come in.
pub(crate) const MAX_LFS_FILESIZE: u64 = i64::MAX as u64;

/// A page taken out of the cache by a truncation, on the retired list.
struct Retired {
    page: *const Page,
    next: *mut Retired,
}

/// The page cache of one file.
pub(crate) struct PageCache {
    radix: Radix,
    /// The file's size in bytes (`i_size`): changed by truncation only.
    size: AtomicU64,
    /// Pages truncated away, each owning a strong count: a push-only list
    /// (a `Box<Retired>` per page), emptied when the cache is dropped.
    retired: AtomicPtr<Retired>,
    /// Where pages are read from and written back to; `None`: zeroes
    /// until written, never written back.
    contents: Option<Arc<dyn FileContents>>,
    /// Held (for write) by a writeback for its whole walk.
    writeback_lock: RawRwSem,
}

impl PageCache {
    /// A cache for a file of `size` bytes, backed by `contents` if any.
    pub(crate) fn new(size: u64, contents: Option<Arc<dyn FileContents>>) -> Self {
        // Any size the file may be truncated to later. Under loom (four
        // slots a level) that would be 26 levels, which no model explores:
        // the models' files keep their size, so their caches fit it.
        #[cfg(not(loom))]
        let limit = size.max(MAX_LFS_FILESIZE);
        #[cfg(loom)]
        let limit = size;
        let pages = limit.div_ceil(1 << PAGE_SHIFT);
        PageCache {
            radix: Radix::new(u64::BITS - pages.leading_zeros()),
            size: AtomicU64::new(size),
            retired: AtomicPtr::new(ptr::null_mut()),
            contents,
            writeback_lock: RawRwSem::new(),
        }
    }

    /// The contents pages are read from and written back to.
    pub(crate) fn contents(&self) -> Option<&Arc<dyn FileContents>> {
        self.contents.as_ref()
    }

    /// The file's size in bytes (`i_size_read`).
    pub(crate) fn size(&self) -> u64 {
        // Acquire: pairs with the Release of `truncate`, so that a fault
        // that sees the new size sees the pages it dropped gone.
        self.size.load(Ordering::Acquire)
    }

    /// How many bytes of page `index` are inside the file.
    fn bytes_in_file(&self, index: u64) -> usize {
        let start = index << PAGE_SHIFT;
        self.size().saturating_sub(start).min(PAGE_BYTES as u64) as usize
    }

    /// Sets the size to `size` (at most [`MAX_LFS_FILESIZE`]) and returns
    /// the old one (`i_size_write`). Nothing else changes.
    pub(crate) fn set_size(&self, size: u64) -> u64 {
        debug_assert!(size <= MAX_LFS_FILESIZE);
        self.size.swap(size, Ordering::AcqRel)
    }

    /// `truncate_inode_pages(mapping, size)` after the size became `size`
    /// ([`set_size`](Self::set_size)): drops every page wholly past it,
    /// dirty or not (nothing is written back), and zeroes the part of the
    /// last page past it (`truncate_inode_partial_folio`), which stays.
    /// Runs with writebacks excluded, so none copies a page being dropped.
    pub(crate) fn truncate(&self, size: u64) {
        self.writeback_lock.write();
        let _unlock = WritebackGuard(&self.writeback_lock);
        let first_gone = size.div_ceil(1 << PAGE_SHIFT);
        let in_page = (size % (1 << PAGE_SHIFT)) as usize;
        if in_page != 0 {
            if let Some(page) = self.peek(size >> PAGE_SHIFT) {
                page.write(in_page, &[0; PAGE_BYTES][in_page..]);
            }
        }
        self.radix.for_each(first_gone, u64::MAX, |_, leaf| {
            let word = leaf.swap(ptr::null_mut(), Ordering::AcqRel);
            if let Some(page) = page_of(word) {
                self.retire(page);
            }
        });
    }

    /// Pushes `page` (a strong count taken out of a leaf word) onto the
    /// retired list.
    fn retire(&self, page: *const Page) {
        let node = alloc::boxed::Box::into_raw(alloc::boxed::Box::new(Retired {
            page,
            next: ptr::null_mut(),
        }));
        let mut head = self.retired.load(Ordering::Relaxed);
        loop {
            // SAFETY: `node` is ours until the CAS publishes it.
            unsafe { (*node).next = head };
            // Release publishes `next`; only the drop (`&mut self`) reads
            // the list.
            match self.retired.compare_exchange_weak(
                head,
                node,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// The page at page offset `index`, if it is in the cache.
    pub(crate) fn peek(&self, index: u64) -> Option<&Page> {
        let word = self.radix.leaf(index)?.load(Ordering::Acquire);
        if word as usize & HOLE != 0 {
            return None;
        }
        // SAFETY: a page word is a live page that stays in the cache as
        // long as `self` (invariants).
        page_of(word).map(|p| unsafe { &*p })
    }

    /// The page at `index`, read in if absent (`filemap_fault` ->
    /// `filemap_read_folio`): from the contents, or as zeroes for a file
    /// without. `Ok(None)` if the index is past what the file could hold.
    ///
    /// # Errors
    ///
    /// The contents' read error; nothing is cached, so a later call reads
    /// again.
    pub(crate) fn get(&self, index: u64) -> Result<Option<&Page>, Errno> {
        Ok(self.get_with_leaf(index)?.map(|(_, page)| page))
    }

    /// [`get`](Self::get), with the page's leaf word.
    fn get_with_leaf(&self, index: u64) -> Result<Option<(&Leaf, &Page)>, Errno> {
        let Some(leaf) = self.radix.leaf_or_alloc(index) else {
            return Ok(None);
        };
        let mut word = leaf.load(Ordering::Acquire);
        if word as usize & HOLE != 0 {
            // Brought in again: the zeroed page, in the cache once more.
            let back = (word as usize & !HOLE) as *mut ();
            word = match leaf.compare_exchange(word, back, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => back,
                Err(now) => now,
            };
        }
        if word.is_null() {
            let page = Page::zeroed();
            if let Some(contents) = &self.contents {
                let len = self.bytes_in_file(index);
                if len > 0 {
                    let mut buf = vec![0u8; len];
                    contents.read_page(index, &mut buf)?;
                    page.write(0, &buf);
                }
            }
            let new = Arc::into_raw(Arc::new(page)).cast_mut().cast::<()>();
            // Release publishes the page, read whole; Acquire on failure
            // reads the winner's.
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
        Ok(page_of(word).map(|p| (leaf, unsafe { &*p })))
    }

    /// Stores `data` at `offset` into the page at `index`, reading it in
    /// first if absent ([`get`](Self::get)), and marks it dirty if the
    /// file has contents (`folio_mark_dirty`; the store side of the
    /// protocol in the module docs). `Ok(false)` if the index is past what
    /// the file could hold.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get); nothing is stored.
    ///
    /// # Panics
    ///
    /// If `offset + data.len()` is past the end of the page.
    pub(crate) fn write(&self, index: u64, offset: usize, data: &[u8]) -> Result<bool, Errno> {
        let Some((leaf, page)) = self.get_with_leaf(index)? else {
            return Ok(false);
        };
        page.write(offset, data);
        if self.contents.is_some() {
            mark_dirty(leaf);
        } else {
            set_bit(leaf, WRITTEN);
        }
        Ok(true)
    }

    /// A write fault of a shared mapping mapped page `index` (which the
    /// cache holds): for a file without contents, the page is written
    /// from now on (see `WRITTEN`). Files with contents get `DIRTY` from
    /// the stores themselves.
    pub(crate) fn mark_written(&self, index: u64) {
        if self.contents.is_some() {
            return;
        }
        if let Some(leaf) = self.radix.leaf(index) {
            if !leaf.load(Ordering::Acquire).is_null() {
                set_bit(leaf, WRITTEN);
            }
        }
    }

    /// Reclaim of page `index` of a file without contents (`MADV_PAGEOUT`
    /// with no swap, after its last mapping went): a page no store
    /// reached leaves the cache (`__remove_mapping`; it holds zeroes, as
    /// the hole it leaves does), a written one stays (`shmem_writeout`
    /// finds no swap). Files with contents keep their pages (pervma
    /// models no reclaim of them).
    pub(crate) fn reclaim(&self, index: u64) {
        if self.contents.is_some() {
            return;
        }
        if let Some(leaf) = self.radix.leaf(index) {
            let word = leaf.load(Ordering::Acquire);
            if !word.is_null() && word as usize & (WRITTEN | DIRTY | HOLE) == 0 {
                let hole = (word as usize | HOLE) as *mut ();
                let _ = leaf.compare_exchange(word, hole, Ordering::AcqRel, Ordering::Relaxed);
            }
        }
    }

    /// Writes every dirty page back through the contents' `write_page`
    /// (`filemap_write_and_wait_range` over the whole file), each as it is
    /// when its dirty bit is cleared or later (module docs). Returns the
    /// first error; a page that failed stays dirty, and the walk goes on
    /// with the others.
    pub(crate) fn writeback(&self) -> Result<(), Errno> {
        let Some(contents) = &self.contents else {
            return Ok(());
        };
        self.writeback_lock.write();
        let _unlock = WritebackGuard(&self.writeback_lock);
        let mut buf = vec![0u8; PAGE_BYTES];
        let mut result = Ok(());
        self.radix.for_each(0, u64::MAX, |index, leaf| {
            // Acquire: the page's bytes as published (`get`).
            let dirty = leaf.load(Ordering::Acquire);
            if dirty as usize & DIRTY == 0 {
                return;
            }
            let Some(page) = page_of(dirty) else {
                return;
            };
            // clear_page_dirty_for_io. Only writebacks clear the bit, and
            // they hold the lock; stores only set it.
            leaf.store(page.cast_mut().cast::<()>(), Ordering::Relaxed);
            // Orders the clear before the copy against a store's bytes
            // before its load of the word (module docs).
            fence(Ordering::SeqCst);
            // SAFETY: a page word is a live page that stays in the cache
            // as long as `self` (invariants).
            let page = unsafe { &*page };
            let out = &mut buf[..self.bytes_in_file(index)];
            page.read(0, out);
            if let Err(errno) = contents.write_page(index, out) {
                // Still dirty: a later writeback tries again.
                leaf.store(dirty, Ordering::Relaxed);
                if result.is_ok() {
                    result = Err(errno);
                }
            }
        });
        result
    }

    /// `shmem_fallocate(FALLOC_FL_PUNCH_HOLE)` of pages `[first, last)`:
    /// each cached page is zeroed and leaves the cache (see `HOLE`), clean.
    /// Only for files without contents (shmem): a file with contents
    /// would need the hole punched there too, which pervma does not model.
    pub(crate) fn punch_hole(&self, first: u64, last: u64) {
        if first >= last || self.contents.is_some() {
            return;
        }
        let zeroes = [0u8; PAGE_BYTES];
        self.radix.for_each(first, last - 1, |_, leaf| {
            let word = leaf.load(Ordering::Acquire);
            if let Some(page) = page_of(word) {
                // SAFETY: a page word is a live page (invariants).
                unsafe { &*page }.write(0, &zeroes);
                let hole = ((word as usize & !(DIRTY | WRITTEN)) | HOLE) as *mut ();
                let _ = leaf.compare_exchange(word, hole, Ordering::AcqRel, Ordering::Relaxed);
            }
        });
    }

    /// Whether the page at `index` is dirty (for tests).
    #[cfg(all(test, loom))]
    pub(crate) fn is_dirty(&self, index: u64) -> bool {
        self.radix
            .leaf(index)
            .is_some_and(|leaf| leaf.load(Ordering::Relaxed) as usize & DIRTY != 0)
    }
}

/// Sets `DIRTY` in `leaf`, a page's word, after a store to the page (the
/// store side of the protocol in the module docs).
fn mark_dirty(leaf: &Leaf) {
    // Orders the store's bytes before the load below against a
    // writeback's clear before its copy.
    fence(Ordering::SeqCst);
    let word = leaf.load(Ordering::Relaxed);
    if word as usize & DIRTY == 0 {
        // A plain store: the word changes only in this bit (invariants),
        // and only writebacks clear it. One that clears it before this
        // store leaves the page dirty; one that clears it after copies
        // the page after its fence, which follows ours, so it copies our
        // bytes.
        leaf.store((word as usize | DIRTY) as *mut (), Ordering::Relaxed);
    }
}

/// Sets `bit` in a page's leaf word (a CAS loop: the word's other bits
/// may change meanwhile).
fn set_bit(leaf: &Leaf, bit: usize) {
    let mut word = leaf.load(Ordering::Acquire);
    while word as usize & bit == 0 {
        let new = (word as usize | bit) as *mut ();
        match leaf.compare_exchange_weak(word, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(now) => word = now,
        }
    }
}

/// Releases the writeback lock, also on unwinding out of `write_page`.
struct WritebackGuard<'a>(&'a RawRwSem);

impl Drop for WritebackGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: built right after `write()` took the lock, dropped once.
        unsafe { self.0.write_unlock() };
    }
}

impl Drop for PageCache {
    /// Writes dirty pages back, ignoring errors (as the last `fput` of a
    /// Linux file does not report writeback errors either), then frees
    /// the pages.
    fn drop(&mut self) {
        let _ = self.writeback();
        self.radix.for_each(0, u64::MAX, |_, leaf| {
            let word = leaf.swap(ptr::null_mut(), Ordering::Relaxed);
            if let Some(page) = page_of(word) {
                // SAFETY: `&mut self`: nobody borrows the pages; the word
                // owned one strong count.
                drop(unsafe { Arc::from_raw(page) });
            }
        });
        let mut node = self.retired.swap(ptr::null_mut(), Ordering::Acquire);
        while !node.is_null() {
            // SAFETY: every node was made by `Box::into_raw` in `retire`
            // and is on the list once; `&mut self`: nobody else reads it.
            let retired = unsafe { alloc::boxed::Box::from_raw(node) };
            // SAFETY: the node owned one strong count of its page, and
            // nobody borrows the pages any more.
            drop(unsafe { Arc::from_raw(retired.page) });
            node = retired.next;
        }
    }
}
