//! What a fault's page holds: the [`Contents`] trait, and
//! [`FileContents`], Linux's answer for anonymous and file memory.

#![deny(unsafe_code)]

use crate::sys::Mmap;
use crate::uffd::PAGE;
use pervma::Mapping;
use std::collections::HashMap;
use std::io;
use std::sync::Arc;

/// A fault to resolve, as the pager hands it to [`Contents::resolve`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fault {
    /// The address the kernel reported.
    pub address: u64,
    /// The page it falls in.
    pub page: u64,
    /// A store.
    pub write: bool,
    /// A minor fault (the page is in the page cache, not mapped here;
    /// MINOR mode): [`Resolve::Continue`] maps it.
    pub minor: bool,
    /// A write-protect fault (WP mode): a store to a present page that was
    /// write-protected; [`Resolve::Unprotect`] lets it go on.
    pub wp: bool,
    /// The faulting thread (with `UFFD_FEATURE_THREAD_ID`, else 0).
    pub thread: u32,
}

/// How to resolve one fault ([`Contents::resolve`]).
#[derive(Debug)]
pub enum Resolve<'a> {
    /// Map a new page holding these bytes (`UFFDIO_COPY`; one page long).
    Copy(&'a [u8]),
    /// Map the zero page (`UFFDIO_ZEROPAGE`).
    Zero,
    /// Accesses get `SIGBUS` (`UFFDIO_POISON`): past the end of a file,
    /// in a hole.
    Poison,
    /// Map the page-cache page that is there (`UFFDIO_CONTINUE`, minor
    /// faults).
    Continue,
    /// Write-protect faults: the page is there; take its write protection
    /// off and wake the writer (`UFFDIO_WRITEPROTECT` without
    /// `MODE_WP`), so the store goes on. Whatever had to happen before
    /// the page changes (a snapshot's copy of it, a dirty bit) happens in
    /// [`Contents::resolve`], before it answers this.
    Unprotect,
    /// Map nothing; wake the thread to fault again (`UFFDIO_WAKE`).
    Wake,
}

/// Where the pager gets a page's contents. Called with the VMA's read
/// lock held (`lock_vma`): a `munmap` or `mprotect` of the range waits
/// until the page is resolved, so the answer cannot be stale; it must
/// not call back into the `Mm`.
///
/// Which answers fit which fault: a missing page ([`Fault::wp`] and
/// [`Fault::minor`] false) takes [`Resolve::Copy`], [`Resolve::Zero`] or
/// [`Resolve::Poison`]; a minor fault [`Resolve::Continue`]; a
/// write-protect fault [`Resolve::Unprotect`]. [`Resolve::Wake`] fits
/// all, and makes the thread fault again. The page of a minor or
/// write-protect fault is there already, so a fill answer finds it
/// (`EEXIST`): the pager wakes the thread, which faults again, and again.
pub trait Contents: Send + Sync {
    /// What the page `fault.page` of `m` (the whole VMA) holds. `buf` is a
    /// page to fill when the bytes are not in memory already.
    fn resolve<'a>(&'a self, m: &Mapping<'_>, fault: &Fault, buf: &'a mut [u8]) -> Resolve<'a>;
}

/// A file's bytes: mapped from a real file, or in memory.
enum Source {
    Mapped(Mmap),
    Bytes(Arc<[u8]>),
}

impl Source {
    fn bytes(&self) -> &[u8] {
        match self {
            Source::Mapped(m) => m.bytes(),
            Source::Bytes(b) => b,
        }
    }
}

/// Linux's rule for what a missing page holds:
///
/// | the VMA | the page |
/// |---|---|
/// | anonymous (private, or shared: a new shmem object) | zeroes ([`Resolve::Zero`]) |
/// | a file this value knows, the page inside it | the file's bytes at `pgoff`, the last page padded with zeroes ([`Resolve::Copy`]) |
/// | a file, the page past its end (the smaller of the pervma [`File`](pervma::File)'s size and the source's), or a file it does not know | `SIGBUS` ([`Resolve::Poison`]) |
/// | a minor fault | the page-cache page ([`Resolve::Continue`]) |
/// | a write-protect fault | the page as it is, made writable ([`Resolve::Unprotect`]) |
///
/// Files are told apart by [`File::id`](pervma::File::id): a VMA that maps
/// the pervma file `f` reads the source given for `f`.
#[derive(Default)]
pub struct FileContents {
    files: HashMap<u64, Source>,
}

impl FileContents {
    /// Knows no file yet: anonymous memory reads zeroes, files `SIGBUS`.
    pub fn new() -> Self {
        Self::default()
    }

    /// VMAs mapping `file` read the real file `real` (mapped read-only,
    /// private, now).
    ///
    /// # Errors
    ///
    /// When `real` cannot be mapped.
    pub fn with_file(mut self, file: &pervma::File, real: &std::fs::File) -> io::Result<Self> {
        self.files
            .insert(file.id(), Source::Mapped(Mmap::file(real)?));
        Ok(self)
    }

    /// VMAs mapping `file` read `bytes`.
    pub fn with_bytes(mut self, file: &pervma::File, bytes: Arc<[u8]>) -> Self {
        self.files.insert(file.id(), Source::Bytes(bytes));
        self
    }
}

impl Contents for FileContents {
    fn resolve<'a>(&'a self, m: &Mapping<'_>, fault: &Fault, buf: &'a mut [u8]) -> Resolve<'a> {
        if fault.wp {
            return Resolve::Unprotect;
        }
        if fault.minor {
            return Resolve::Continue;
        }
        let Some(file) = m.file else {
            return Resolve::Zero;
        };
        let Some(source) = self.files.get(&file.id()) else {
            return if file.is_shmem() {
                Resolve::Zero
            } else {
                Resolve::Poison
            };
        };
        let bytes = source.bytes();
        let size = (file.size()).min(bytes.len() as u64);
        let off = m.page_index(fault.page) * PAGE;
        if off >= size {
            return Resolve::Poison;
        }
        let end = size.min(off + PAGE);
        if end - off == PAGE {
            Resolve::Copy(&bytes[off as usize..end as usize])
        } else {
            let n = (end - off) as usize;
            buf[..n].copy_from_slice(&bytes[off as usize..end as usize]);
            buf[n..].fill(0);
            Resolve::Copy(buf)
        }
    }
}
