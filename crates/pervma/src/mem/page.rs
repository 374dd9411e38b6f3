//! A page of memory: 4 KiB of bytes that any thread may read and write.
//!
//! Linux: `struct page`/`struct folio` and the memory they describe.
//!
//! The bytes are atomics (relaxed, byte-wise) because user memory is shared
//! without locks: two threads may store to the same page at once, and a
//! thread may copy out of a page that a `munmap` on another thread is about
//! to free (RCU keeps it alive). With plain bytes either would be a data
//! race; with relaxed atomics it is what hardware gives a racy program:
//! each byte reads some value that was written to it. They are `core`'s
//! atomics even under loom: the models check who owns a page, and which
//! store a copy sees only for byte 0 (`byte0`).

#![deny(unsafe_code)]

use crate::flags::PAGE_SIZE;
use core::sync::atomic::{AtomicU8, Ordering};

/// Bytes in a page, as a `usize`.
pub(crate) const PAGE_BYTES: usize = PAGE_SIZE as usize;

/// One page frame. Aligned so that page-table entries can keep tag bits in
/// the low bits of its address.
#[repr(C, align(64))]
pub(crate) struct Page {
    bytes: [AtomicU8; PAGE_BYTES],
    /// Under loom, a modelled atomic set when the page is built and read
    /// by every copy: a copy that does not happen after the page's
    /// construction (a publication with too weak an ordering) makes the
    /// model fail with a causality violation. The bytes themselves are
    /// invisible to loom.
    #[cfg(loom)]
    canary: loom::sync::atomic::AtomicU32,
    /// Under loom, byte 0 of the page again, as a modelled atomic: every
    /// access that covers byte 0 also stores or loads this one (and
    /// reads return its value), so a model can check which store a copy
    /// sees (the page cache's dirty-bit protocol).
    #[cfg(loom)]
    byte0: loom::sync::atomic::AtomicU8,
}

/// The low address bits of a `Page` pointer that are always zero.
pub(crate) const PAGE_PTR_TAG_BITS: usize = 0b11_1111;

impl Page {
    /// A page of zeroes (`alloc_zeroed_user_highpage`).
    pub(crate) fn zeroed() -> Self {
        Page {
            bytes: [const { AtomicU8::new(0) }; PAGE_BYTES],
            #[cfg(loom)]
            canary: loom::sync::atomic::AtomicU32::new(1),
            #[cfg(loom)]
            byte0: loom::sync::atomic::AtomicU8::new(0),
        }
    }

    /// Under loom, checks that this thread's view of the page happens
    /// after its construction (see `canary`).
    #[inline(always)]
    fn visit(&self) {
        #[cfg(loom)]
        assert_eq!(self.canary.load(core::sync::atomic::Ordering::Relaxed), 1);
    }

    /// A copy of `src` (`copy_user_highpage`, the copy of copy-on-write).
    pub(crate) fn copy_of(src: &Page) -> Self {
        src.visit();
        let page = Page::zeroed();
        for (d, s) in page.bytes.iter().zip(&src.bytes) {
            d.store(s.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        #[cfg(loom)]
        page.byte0.store(
            src.byte0.load(core::sync::atomic::Ordering::Relaxed),
            core::sync::atomic::Ordering::Relaxed,
        );
        page
    }

    /// Whether every byte is zero (`pages_identical` with the zero page).
    pub(crate) fn is_zero(&self) -> bool {
        self.visit();
        self.bytes.iter().all(|b| b.load(Ordering::Relaxed) == 0)
    }

    /// Copies `buf.len()` bytes from `offset` into `buf`.
    ///
    /// # Panics
    ///
    /// If `offset + buf.len()` is past the end of the page (callers split
    /// accesses at page boundaries).
    pub(crate) fn read(&self, offset: usize, buf: &mut [u8]) {
        self.visit();
        let src = &self.bytes[offset..offset + buf.len()];
        for (d, s) in buf.iter_mut().zip(src) {
            *d = s.load(Ordering::Relaxed);
        }
        #[cfg(loom)]
        if offset == 0 && !buf.is_empty() {
            buf[0] = self.byte0.load(core::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Copies `data` into the page at `offset`.
    ///
    /// # Panics
    ///
    /// If `offset + data.len()` is past the end of the page.
    pub(crate) fn write(&self, offset: usize, data: &[u8]) {
        self.visit();
        for (d, s) in self.bytes[offset..offset + data.len()].iter().zip(data) {
            d.store(*s, Ordering::Relaxed);
        }
        #[cfg(loom)]
        if offset == 0 && !data.is_empty() {
            self.byte0
                .store(data[0], core::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// One page's part of an access: `len` bytes at `addr`, which is
/// `in_page` bytes into its page, and `done` bytes into the access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub(crate) addr: u64,
    pub(crate) in_page: usize,
    pub(crate) done: usize,
    pub(crate) len: usize,
}

/// Splits `[start, start + len)` at page boundaries. The range must not
/// wrap around the address space (callers check).
pub(crate) fn page_chunks(start: u64, len: usize) -> impl Iterator<Item = Chunk> {
    let mut done = 0;
    core::iter::from_fn(move || {
        if done == len {
            return None;
        }
        let addr = start + done as u64;
        let in_page = (addr % PAGE_SIZE) as usize;
        let n = (PAGE_BYTES - in_page).min(len - done);
        let chunk = Chunk {
            addr,
            in_page,
            done,
            len: n,
        };
        done += n;
        Some(chunk)
    })
}
