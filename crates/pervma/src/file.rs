//! What backs a VMA: files (with an identity) and `anon_vma`s.
//!
//! Linux: include/linux/fs.h (`struct file`), include/linux/rmap.h
//! (`struct anon_vma`), mm/shmem.c (`shmem_zero_setup`).

#![deny(unsafe_code)]

use crate::flags::PAGE_SHIFT;
use crate::mem::cache::PageCache;
use crate::mem::page::page_chunks;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

// Identities only: not part of any lock protocol, so a plain core atomic
// (loom atomics cannot live in statics).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A file that can be mapped: an identity, a name, a size, the device
/// and inode number that `/proc/pid/maps` prints for it, and its page
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
    /// `i_sb->s_dev`, as (major, minor).
    dev: (u32, u32),
    /// `i_ino`.
    ino: u64,
    cache: PageCache,
}

/// Builds a [`File`] with a chosen device and inode number, so that its
/// `/proc/pid/maps` lines match a real file's; from [`File::builder`].
#[derive(Debug)]
#[must_use = "call build() to get the file"]
pub struct FileBuilder {
    name: String,
    size: u64,
    writable: bool,
    dev: (u32, u32),
    ino: Option<u64>,
}

impl FileBuilder {
    /// Opened read-only (see [`File::new_read_only`]).
    pub fn read_only(mut self) -> Self {
        self.writable = false;
        self
    }

    /// The device the file lives on (`MAJOR(dev)`, `MINOR(dev)`); the
    /// default is `00:00`.
    pub fn dev(mut self, major: u32, minor: u32) -> Self {
        self.dev = (major, minor);
        self
    }

    /// The inode number; the default is the file's [`File::id`].
    pub fn inode(mut self, ino: u64) -> Self {
        self.ino = Some(ino);
        self
    }

    /// The file.
    pub fn build(self) -> Arc<File> {
        let id = next_id();
        Arc::new(File {
            id,
            name: self.name,
            size: self.size,
            shmem: false,
            writable: self.writable,
            dev: self.dev,
            ino: self.ino.unwrap_or(id),
            cache: PageCache::new(self.size),
        })
    }
}

impl File {
    /// A regular file opened read-write, of `size` bytes.
    ///
    /// Its device is `00:00` and its inode number its [`File::id`]; use
    /// [`File::builder`] to choose them.
    pub fn new(name: impl Into<String>, size: u64) -> Arc<File> {
        File::builder(name, size).build()
    }

    /// A builder for a file opened read-write, of `size` bytes.
    pub fn builder(name: impl Into<String>, size: u64) -> FileBuilder {
        FileBuilder {
            name: name.into(),
            size,
            writable: true,
            dev: (0, 0),
            ino: None,
        }
    }

    /// A regular file opened read-only: shared writable mappings of it
    /// fail with `EACCES`, and its shared mappings lack `VM_MAYWRITE`.
    pub fn new_read_only(name: impl Into<String>, size: u64) -> Arc<File> {
        File::builder(name, size).read_only().build()
    }

    /// The object behind a shared anonymous mapping.
    ///
    /// Like Linux's: on the internal shmem mount (device `00:01`), with an
    /// inode number of its own.
    pub(crate) fn shmem(size: u64) -> Arc<File> {
        let id = next_id();
        Arc::new(File {
            id,
            name: String::from("shmem"),
            size,
            shmem: true,
            writable: true,
            dev: (0, 1),
            ino: id,
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

    /// The device the file lives on, as (major, minor) (`i_sb->s_dev`).
    pub fn dev(&self) -> (u32, u32) {
        self.dev
    }

    /// The inode number (`i_ino`).
    pub fn inode(&self) -> u64 {
        self.ino
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
            .field("dev", &self.dev)
            .field("ino", &self.ino)
            .finish_non_exhaustive()
    }
}

/// Whether two `vm_file`s are the same file (pointer identity).
pub(crate) fn same_file(a: Option<&Arc<File>>, b: Option<&Arc<File>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}
