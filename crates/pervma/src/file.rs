//! What backs a VMA: files (with an identity and, if the user gives
//! them, contents) and `anon_vma`s.
//!
//! Linux: include/linux/fs.h (`struct file`, `struct
//! address_space_operations`), include/linux/rmap.h (`struct anon_vma`),
//! mm/shmem.c (`shmem_zero_setup`).
//!
//! # Contents
//!
//! A [`File`] is an identity (what merging and `/proc/pid/maps` look at)
//! and a page cache. Where the cache's pages come from is the file's
//! [`FileContents`], given with [`FileBuilder::contents`]: an emulator's
//! guest image, a kernel's block device, a pager's snapshot. A fault on a
//! page the cache does not hold yet reads it from the contents
//! ([`FileContents::read_page`]); stores through shared mappings and
//! [`File::write_at`] dirty the cached page, and [`File::sync`] (or
//! dropping the file) writes dirty pages back
//! ([`FileContents::write_page`]). Private mappings read the contents too
//! but their stores go to anonymous copies, which are never written back.
//! A file without contents reads as zeroes until written, and nothing is
//! ever written back. [`FileContents`]' docs have an example.

#![deny(unsafe_code)]

use crate::errno::Errno;
use crate::flags::{PAGE_SHIFT, PAGE_SIZE};
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

/// The contents behind a [`File`]: where its page cache reads pages in
/// from and writes dirty pages back to (Linux's
/// `address_space_operations`, with `read_folio` and `writepage`), given
/// to [`FileBuilder::contents`].
///
/// A fault on a page the cache does not hold yet reads it in
/// ([`read_page`](Self::read_page)); stores through shared mappings and
/// [`File::write_at`] dirty the cached page, and [`File::sync`] (or
/// dropping the file) writes dirty pages back
/// ([`write_page`](Self::write_page)). Private mappings read the contents
/// too, but their stores go to anonymous copies, which are never written
/// back.
///
/// Pages are numbered from the start of the file (page `index` is bytes
/// `index * PAGE_SIZE ..`). Both methods see the page's part inside the
/// file: [`PAGE_SIZE`](crate::PAGE_SIZE) bytes, fewer for the last page of
/// a file whose size is not a multiple of it; the rest of the cached page
/// reads as zeroes and is never written back.
///
/// An `Mm` with a [`Backend`](crate::Backend) keeps no bytes, so its
/// faults never read pages in: the backend maps the file's bytes itself
/// (through [`raw_fd`](Self::raw_fd), say). [`File::read_at`],
/// [`File::write_at`] and [`File::sync`] still go through the cache.
///
/// The methods may be called from any thread, several at once (faults
/// under different VMA locks read pages in concurrently; one writeback of
/// a file runs at a time), with locks of the `Mm` that faulted held: they
/// must not call back into that `Mm`, nor [`File::sync`] on the same file.
///
/// ```
/// use pervma::{Errno, File, FileContents, MapFlags, Mm, Prot, PAGE_SIZE};
/// use std::sync::{Arc, Mutex};
///
/// /// A disk image in memory.
/// struct Image(Mutex<Vec<u8>>);
///
/// impl FileContents for Image {
///     fn read_page(&self, index: u64, buf: &mut [u8]) -> Result<(), Errno> {
///         let at = (index * PAGE_SIZE) as usize;
///         buf.copy_from_slice(&self.0.lock().unwrap()[at..at + buf.len()]);
///         Ok(())
///     }
///     fn write_page(&self, index: u64, data: &[u8]) -> Result<(), Errno> {
///         let at = (index * PAGE_SIZE) as usize;
///         self.0.lock().unwrap()[at..at + data.len()].copy_from_slice(data);
///         Ok(())
///     }
/// }
///
/// let mut bytes = vec![0u8; 8192];
/// bytes[..5].copy_from_slice(b"hello");
/// let image = Arc::new(Image(Mutex::new(bytes)));
/// let file = File::builder("disk.img", 8192).contents(image.clone()).build();
///
/// let mm: Mm<()> = Mm::new();
/// let rw = Prot::READ | Prot::WRITE;
/// let at = mm.mmap(0, 8192, rw, MapFlags::SHARED, Some((file.clone(), 0)), ()).unwrap();
/// let mut buf = [0u8; 5];
/// mm.access_read(at, &mut buf).unwrap(); // faults the page in: read_page
/// assert_eq!(&buf, b"hello");
/// mm.access_write(at, b"HELLO").unwrap(); // a shared store dirties it
/// file.sync().unwrap(); // msync(MS_SYNC): write_page
/// assert_eq!(&image.0.lock().unwrap()[..5], b"HELLO");
/// ```
#[doc(alias = "address_space_operations")]
pub trait FileContents: Send + Sync {
    /// Fills `buf` with the file's bytes from page `index` on
    /// (`read_folio`). Called when a fault, [`File::read_at`] or
    /// [`File::write_at`] needs a page the cache does not hold; `buf`
    /// holds zeroes on entry.
    ///
    /// # Errors
    ///
    /// An I/O error (`EIO`, say): the fault gets `SIGBUS`
    /// ([`FaultError::Bus`](crate::FaultError::Bus)), `read_at` returns
    /// it, nothing is cached, and the next access reads again.
    #[doc(alias = "read_folio", alias = "readpage")]
    fn read_page(&self, index: u64, buf: &mut [u8]) -> Result<(), Errno>;

    /// Writes `data`, page `index` as it is now in the cache, back to the
    /// file (`writepage`). Called by [`File::sync`] and when the file is
    /// dropped, for pages dirtied by stores through shared mappings or
    /// [`File::write_at`]; never for a file that nothing wrote to.
    ///
    /// # Errors
    ///
    /// An I/O error: the page stays dirty, and [`File::sync`] returns
    /// the first error (a drop ignores it).
    #[doc(alias = "writepage", alias = "writepages")]
    fn write_page(&self, index: u64, data: &[u8]) -> Result<(), Errno>;

    /// A Unix file descriptor with the same contents, if there is one.
    ///
    /// A [`Backend`](crate::Backend) that maps real memory (a host
    /// reservation) may map this descriptor itself: a `MAP_SHARED` host
    /// mapping of it shares pages with the file, so stores reach the file
    /// without going through pervma's page cache. pervma never uses it;
    /// the descriptor stays owned by the implementer, open for as long as
    /// the contents live. The default is `None`.
    fn raw_fd(&self) -> Option<i32> {
        None
    }

    /// The file is being truncated to `size` bytes ([`File::truncate`]),
    /// before anything else changes: contents that keep bytes past the
    /// end drop them here, so that a file grown again reads as zeroes
    /// there (pages past the old end are read from the contents like any
    /// other). The default does nothing.
    ///
    /// # Errors
    ///
    /// An I/O error: the truncation fails with it, nothing changed.
    fn truncate(&self, size: u64) -> Result<(), Errno> {
        let _ = size;
        Ok(())
    }
}

/// An address space that may map a [`File`]: what [`File::truncate`]
/// walks to zap the pages past the new end (Linux's `i_mmap`, which the
/// file keeps itself; pervma's callers name the spaces). Implemented by
/// [`Mm`](crate::Mm).
pub trait FileMappings {
    /// `file` was truncated to `size` bytes (the new size is in place):
    /// with `Some(first_page)`, it shrank, and every page of `file` from
    /// page `first_page` on must go from the space's mappings of it
    /// (`unmap_mapping_range` with `even_cows`). Either way the space's
    /// backend hears of the new size.
    fn file_truncated(&self, file: &File, first_page: Option<u64>, size: u64);
}

/// A file that can be mapped: an identity, a name, a size, the device
/// and inode number that `/proc/pid/maps` prints for it, and its page
/// cache, read in from its [`FileContents`] if it has them (zeroes until
/// written otherwise).
///
/// Two VMAs map "the same file" when they hold the same `Arc<File>`
/// (`vma->vm_file`), which is what merging compares. Shared anonymous
/// mappings get a file of their own (a shmem object), as Linux gives
/// each one a shmem object.
pub struct File {
    id: u64,
    name: String,
    shmem: bool,
    writable: bool,
    /// `i_sb->s_dev`, as (major, minor).
    dev: (u32, u32),
    /// `i_ino`.
    ino: u64,
    cache: PageCache,
}

/// Builds a [`File`] with contents, or with a chosen device and inode
/// number so that its `/proc/pid/maps` lines match a real file's; from
/// [`File::builder`].
#[must_use = "call build() to get the file"]
pub struct FileBuilder {
    name: String,
    size: u64,
    writable: bool,
    dev: (u32, u32),
    ino: Option<u64>,
    contents: Option<Arc<dyn FileContents>>,
}

impl core::fmt::Debug for FileBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FileBuilder")
            .field("name", &self.name)
            .field("size", &self.size)
            .field("writable", &self.writable)
            .field("dev", &self.dev)
            .field("ino", &self.ino)
            .field("contents", &self.contents.is_some())
            .finish()
    }
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

    /// What the file holds: its page cache reads pages from `contents`
    /// and writes dirty ones back to it (see [`FileContents`]). Without
    /// it the file reads as zeroes until written.
    pub fn contents(mut self, contents: Arc<dyn FileContents>) -> Self {
        self.contents = Some(contents);
        self
    }

    /// The file.
    pub fn build(self) -> Arc<File> {
        let id = next_id();
        Arc::new(File {
            id,
            name: self.name,
            shmem: false,
            writable: self.writable,
            dev: self.dev,
            ino: self.ino.unwrap_or(id),
            cache: PageCache::new(self.size, self.contents),
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
            contents: None,
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
            shmem: true,
            writable: true,
            dev: (0, 1),
            ino: id,
            cache: PageCache::new(size, None),
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

    /// The file's size in bytes (`i_size_read`): what it was made with,
    /// until [`truncate`](Self::truncate) changes it.
    pub fn size(&self) -> u64 {
        self.cache.size()
    }

    /// `ftruncate(fd, size)`: the file is now `size` bytes long.
    ///
    /// Shrinking it (Linux's `truncate_setsize` and `truncate_pagecache`,
    /// or shmem's `shmem_setattr`):
    ///
    /// 1. the size changes first, so from now on a fault past the new end
    ///    is `SIGBUS` ([`FaultError::Bus`](crate::FaultError::Bus)) and
    ///    populating stops there;
    /// 2. every page from the first page wholly past the end is zapped
    ///    from every mapping of the file in `mappings` (Linux's
    ///    `unmap_mapping_range(mapping, holebegin, 0, even_cows = 1)`:
    ///    the page-cache pages of shared and private mappings *and* the
    ///    private copies that stores to private mappings made there),
    ///    each address space telling its [`Backend`](crate::Backend)
    ///    ([`discard`](crate::Backend::discard) of each zapped range, then
    ///    [`truncate`](crate::Backend::truncate)) and its MMU notifiers
    ///    ([`MmuNotifierEvent::Discard`](crate::MmuNotifierEvent::Discard));
    ///    the mappings themselves stay;
    /// 3. those pages leave the page cache, dirty or not (nothing is
    ///    written back), and the part of the last page past the end reads
    ///    as zeroes from now on.
    ///
    /// Growing it changes the size only: the new part reads as zeroes
    /// (and its pages become faultable again), the mappings of each space
    /// in `mappings` are left as they are, and their backends are told
    /// ([`Backend::truncate`](crate::Backend::truncate)).
    ///
    /// A file knows no mappings of its own (Linux's `i_mmap`): the caller
    /// names the address spaces that may map it; a space not named keeps
    /// whatever it mapped past the end, as if it had raced with the
    /// truncation. Call it without holding any lock of those spaces: each
    /// is write-locked in turn (`mmap_lock`, then the VMAs of the file),
    /// so no fault on the file runs there meanwhile.
    ///
    /// A file with [`FileContents`] is told first
    /// ([`FileContents::truncate`]).
    ///
    /// # Errors
    ///
    /// As Linux's `ftruncate`, checked before anything changes: `EINVAL`
    /// for a size of 2^63 or more (a negative `off_t`), a file opened
    /// read-only, or the shmem object of a shared anonymous mapping
    /// (which no file descriptor names); the contents' error.
    #[doc(
        alias = "ftruncate",
        alias = "truncate_setsize",
        alias = "truncate_pagecache"
    )]
    pub fn truncate(&self, size: u64, mappings: &[&dyn FileMappings]) -> Result<(), Errno> {
        if size > i64::MAX as u64 {
            return Err(Errno::EINVAL.because("a negative length (off_t)"));
        }
        if self.shmem || !self.writable {
            return Err(Errno::EINVAL.because("the file is not open for writing"));
        }
        if let Some(contents) = self.contents() {
            contents.truncate(size)?;
        }
        let old = self.cache.set_size(size);
        let holebegin = size.div_ceil(PAGE_SIZE);
        let shrinks = size < old && old > holebegin << PAGE_SHIFT;
        for m in mappings {
            m.file_truncated(self, shrinks.then_some(holebegin), size);
        }
        if size < old {
            self.cache.truncate(size);
        }
        Ok(())
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

    /// The contents the file's pages are read from and written back to,
    /// if it has any ([`FileBuilder::contents`]).
    pub fn contents(&self) -> Option<&Arc<dyn FileContents>> {
        self.cache.contents()
    }

    /// `pread`: copies file contents from `offset` into `buf`, stopping at
    /// the end of the file. Returns the number of bytes read (0 at or past
    /// the end). Sees every store made through shared mappings. Pages the
    /// cache does not hold yet are read from the file's [`FileContents`]
    /// into the cache (`filemap_read`); a file without contents reads
    /// them as zeroes and caches nothing.
    ///
    /// # Errors
    ///
    /// The contents' read error, if it came before any byte was read;
    /// after some were, the count of those (as `pread` does).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let len = self.clip(offset, buf.len());
        for c in page_chunks(offset, len) {
            let out = &mut buf[c.done..c.done + c.len];
            let index = c.addr >> PAGE_SHIFT;
            let page = match self.cache.peek(index) {
                Some(page) => Some(page),
                None if self.contents().is_none() => None,
                None => match self.cache.get(index) {
                    Ok(page) => page,
                    Err(errno) if c.done == 0 => return Err(errno),
                    Err(_) => return Ok(c.done),
                },
            };
            match page {
                Some(page) => page.read(c.in_page, out),
                None => out.fill(0),
            }
        }
        Ok(len)
    }

    /// `pwrite`: copies `data` into the file at `offset`, stopping at the
    /// end of the file (files do not grow). Returns the number of bytes
    /// written. Shared mappings of the file see the new contents at once;
    /// private ones until they write the page (copy-on-write). A page
    /// the cache does not hold yet is read in from the file's
    /// [`FileContents`] first, and written back by [`File::sync`] (or when
    /// the file is dropped).
    ///
    /// # Errors
    ///
    /// The contents' read error, if it came before any byte was written;
    /// after some were, the count of those (as `pwrite` does).
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        let len = self.clip(offset, data.len());
        for c in page_chunks(offset, len) {
            let index = c.addr >> PAGE_SHIFT;
            match self
                .cache
                .write(index, c.in_page, &data[c.done..c.done + c.len])
            {
                Ok(_) => {}
                Err(errno) if c.done == 0 => return Err(errno),
                Err(_) => return Ok(c.done),
            }
        }
        Ok(len)
    }

    /// `fsync`, or `msync(MS_SYNC)` over every mapping of the file: writes
    /// each dirty page back through [`FileContents::write_page`]. A store
    /// that races with it is either written back by it or leaves the page
    /// dirty for the next `sync`; none is lost. Syncs of one file run one
    /// at a time. Without contents there is nothing to write.
    ///
    /// Dropping the last `Arc<File>` writes dirty pages back too, ignoring
    /// errors, on whichever thread drops it (which may be the thread that
    /// reclaims an unmapped VMA after an RCU grace period): call `sync`
    /// first to see errors and to choose when the writes happen.
    ///
    /// # Errors
    ///
    /// The first error `write_page` returned; the pages that failed stay
    /// dirty, the others were written.
    #[doc(alias = "vfs_fsync_range", alias = "fsync", alias = "msync")]
    pub fn sync(&self) -> Result<(), Errno> {
        self.cache.writeback()
    }

    /// How many of `len` bytes from `offset` are inside the file.
    fn clip(&self, offset: u64, len: usize) -> usize {
        self.size().saturating_sub(offset).min(len as u64) as usize
    }
}

impl core::fmt::Debug for File {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("File")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("size", &self.size())
            .field("shmem", &self.shmem)
            .field("writable", &self.writable)
            .field("dev", &self.dev)
            .field("ino", &self.ino)
            .field("contents", &self.contents().is_some())
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
