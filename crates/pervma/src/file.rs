//! What backs a VMA: files (with an identity) and `anon_vma`s.
//!
//! Linux: include/linux/fs.h (`struct file`), include/linux/rmap.h
//! (`struct anon_vma`), mm/shmem.c (`shmem_zero_setup`).

use crate::flags::PAGE_SHIFT;
use crate::mem::cache::PageCache;
use crate::mem::page::page_chunks;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

// Identities only: not part of any lock protocol, so a plain core atomic
// (loom atomics cannot live in statics).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A file that can be mapped: an identity, a name, a size, and its page
/// cache (the contents, zeroes until written).
///
/// Two VMAs map "the same file" when they hold the same `Arc<File>`
/// (`vma->vm_file`), which is what merging compares. Shared anonymous
/// mappings get a file of their own (a shmem object), as Linux gives
/// each one a shmem object.
pub struct File {
    id: u64,
    name: String,
    size: u64,
    shmem: bool,
    writable: bool,
    cache: PageCache,
}

impl File {
    /// A regular file opened read-write, of `size` bytes.
    pub fn new(name: impl Into<String>, size: u64) -> Arc<File> {
        File::build(name.into(), size, false, true)
    }

    /// A regular file opened read-only: shared writable mappings of it
    /// fail with `EACCES`, and its shared mappings lack `VM_MAYWRITE`.
    pub fn new_read_only(name: impl Into<String>, size: u64) -> Arc<File> {
        File::build(name.into(), size, false, false)
    }

    /// The object behind a shared anonymous mapping.
    pub(crate) fn shmem(size: u64) -> Arc<File> {
        File::build(String::from("shmem"), size, true, true)
    }

    fn build(name: String, size: u64, shmem: bool, writable: bool) -> Arc<File> {
        Arc::new(File {
            id: next_id(),
            name,
            size,
            shmem,
            writable,
            cache: PageCache::new(size),
        })
    }

    /// A number that identifies the file for as long as it lives.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The file's name (`"shmem"` for shared anonymous memory).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether this is the shmem object of a shared anonymous mapping.
    pub fn is_shmem(&self) -> bool {
        self.shmem
    }

    /// Whether the file was opened for writing.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The page cache.
    pub(crate) fn cache(&self) -> &PageCache {
        &self.cache
    }

    /// `pread`: copies file contents from `offset` into `buf`, stopping at
    /// the end of the file. Returns the number of bytes read (0 at or past
    /// the end). Sees every store made through shared mappings.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        let len = self.clip(offset, buf.len());
        for c in page_chunks(offset, len) {
            let out = &mut buf[c.done..c.done + c.len];
            match self.cache.peek(c.addr >> PAGE_SHIFT) {
                Some(page) => page.read(c.in_page, out),
                None => out.fill(0),
            }
        }
        len
    }

    /// `pwrite`: copies `data` into the file at `offset`, stopping at the
    /// end of the file (files do not grow). Returns the number of bytes
    /// written. Shared mappings of the file see the new contents at once;
    /// private ones until they write the page (copy-on-write).
    pub fn write_at(&self, offset: u64, data: &[u8]) -> usize {
        let len = self.clip(offset, data.len());
        for c in page_chunks(offset, len) {
            if let Some(page) = self.cache.get(c.addr >> PAGE_SHIFT) {
                page.write(c.in_page, &data[c.done..c.done + c.len]);
            }
        }
        len
    }

    /// How many of `len` bytes from `offset` are inside the file.
    fn clip(&self, offset: u64, len: usize) -> usize {
        self.size.saturating_sub(offset).min(len as u64) as usize
    }
}

impl core::fmt::Debug for File {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("File")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("size", &self.size)
            .field("shmem", &self.shmem)
            .field("writable", &self.writable)
            .finish_non_exhaustive()
    }
}

/// The identity of the anonymous memory of one or more private VMAs.
///
/// Created by the first write fault in a private mapping (and by the other
/// events that need anonymous pages); split VMAs share it, and a new VMA
/// may reuse a neighbour's. Two VMAs with different `anon_vma`s never merge.
#[derive(Debug)]
pub struct AnonVma {
    id: u64,
}

impl AnonVma {
    /// A fresh `anon_vma`.
    pub fn new() -> Arc<AnonVma> {
        Arc::new(AnonVma { id: next_id() })
    }

    /// A number that identifies it for as long as it lives.
    pub fn id(&self) -> u64 {
        self.id
    }
}
