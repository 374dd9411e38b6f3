//! The live kernel rows: real `mmap`/`munmap`/`mprotect`/`madvise` and
//! real page faults. The only unsafe code of the crate.
//!
//! Every mapping here is one the kernel placed itself (address hint 0,
//! never `MAP_FIXED` outside a mapping we own), so the bench can never
//! replace a mapping of the process (its heap, stacks, the binary). Each
//! owning type unmaps exactly the range it was given, once, on drop, and
//! nothing in the program holds a Rust reference into these ranges: they
//! are touched only through raw volatile writes. Those two facts are the
//! invariants the `SAFETY` comments below rely on.

use std::io;
use std::ptr;

/// The page size the bench assumes (x86-64, arm64 with 4 KiB pages).
pub(crate) const PAGE: usize = 4096;

/// Maps `len` bytes of private anonymous memory wherever the kernel
/// chooses.
fn mmap_anon(len: usize, prot: libc::c_int) -> io::Result<*mut u8> {
    // SAFETY: a new private anonymous mapping at a kernel-chosen address
    // (hint null, no MAP_FIXED) cannot overlap or alter any existing
    // mapping, so no memory the program uses changes.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(p.cast())
    }
}

/// A private anonymous mapping that this value owns.
///
/// # Invariants
///
/// `[addr, addr + len)` was returned by `mmap_anon`, is unmapped only by
/// `drop`, and no Rust reference points into it.
pub(crate) struct Mapping {
    addr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain process memory; the raw pointer is an
// address, not shared Rust data, and every access to the memory is a
// volatile write of a single byte.
unsafe impl Send for Mapping {}
// SAFETY: as for Send; `&Mapping` methods only make system calls on the
// owned range or write single bytes through raw pointers.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// `pages` pages, readable and writable.
    pub(crate) fn new(pages: usize) -> io::Result<Mapping> {
        let len = pages * PAGE;
        let addr = mmap_anon(len, libc::PROT_READ | libc::PROT_WRITE)?;
        // INVARIANT: fresh from mmap_anon, owned by the new value.
        Ok(Mapping { addr, len })
    }

    pub(crate) fn pages(&self) -> usize {
        self.len / PAGE
    }

    /// The first address.
    pub(crate) fn addr(&self) -> u64 {
        self.addr as u64
    }

    /// Registers the mapping with `uffd` (MISSING): its missing pages are
    /// the handler's to fill from now on.
    pub(crate) fn register(&self, uffd: &pervma_uffd::Uffd) -> io::Result<()> {
        // SAFETY: the range is ours (type invariant) and no Rust reference
        // points into it: nothing relies on its missing pages reading as
        // zeroes, and only the bench's touches (served by its handler
        // threads) access it.
        unsafe { uffd.register(self.addr(), self.len as u64, pervma_uffd::Mode::MISSING) }.map(drop)
    }

    /// `mprotect` of pages `[first, first + count)` of the mapping.
    pub(crate) fn protect(&self, first: usize, count: usize, prot: libc::c_int) -> io::Result<()> {
        assert!(first + count <= self.pages(), "outside the mapping");
        // SAFETY: the range lies inside the mapping we own (checked above)
        // and no Rust reference points into it (type invariant), so
        // changing its protection cannot invalidate any reference.
        let r = unsafe { libc::mprotect(self.addr.add(first * PAGE).cast(), count * PAGE, prot) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Makes the middle page of this 3-page mapping read-only (a split in
    /// three) and read-write again (a merge back into one).
    pub(crate) fn split_and_merge(&self) {
        self.protect(1, 1, libc::PROT_READ).expect("mprotect");
        self.protect(1, 1, libc::PROT_READ | libc::PROT_WRITE)
            .expect("mprotect");
    }

    /// `madvise(MADV_DONTNEED)` of the whole mapping: its pages are freed
    /// and the next touch of each faults in a zeroed page.
    pub(crate) fn drop_pages(&self) -> io::Result<()> {
        // SAFETY: the whole range is ours (type invariant) and holds no
        // data anyone reads: dropping its pages only zeroes it.
        let r = unsafe { libc::madvise(self.addr.cast(), self.len, libc::MADV_DONTNEED) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Writes a byte to page `page`, taking a page fault if the page is
    /// not present.
    ///
    /// # Panics
    ///
    /// If `page` is outside the mapping. Touching a page that was made
    /// read-only or `PROT_NONE` with [`Mapping::protect`] would raise
    /// `SIGSEGV`; the workloads touch only mappings they never protect.
    #[inline]
    pub(crate) fn touch(&self, page: usize) {
        assert!(page < self.pages(), "outside the mapping");
        // SAFETY: the address is inside the mapping we own (checked
        // above), which is mapped until drop; no Rust reference points
        // into it (type invariant), so a volatile byte write races with
        // nothing the compiler assumes.
        unsafe { ptr::write_volatile(self.addr.add(page * PAGE), 1) };
    }
}

/// Writes a byte at `addr` of a pager's reservation (an
/// [`OwnMemory`](pervma_uffd::OwnMemory)), taking a page fault (served by
/// the pager) if the page is missing.
///
/// # Panics
///
/// If `addr` is outside the reservation. An address there that the `Mm`
/// does not map writable raises `SIGSEGV`; the workload touches only what
/// it mapped read-write.
#[inline]
pub(crate) fn touch_own(mem: &pervma_uffd::OwnMemory, addr: u64) {
    assert!(
        mem.base() <= addr && addr < mem.base() + mem.len(),
        "outside the reservation"
    );
    // SAFETY: the reservation is owned by `mem`, which is alive, and no
    // Rust reference points into it (OwnMemory's invariant), so a volatile
    // byte write races with nothing the compiler assumes.
    unsafe { ptr::write_volatile(addr as *mut u8, 1) };
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: we own exactly this range (type invariant) and unmap it
        // once; no reference into it survives us.
        unsafe { libc::munmap(self.addr.cast(), self.len) };
    }
}

/// `n` real VMAs in this process: one reservation of `n` pages whose
/// pages alternate between `PROT_READ` and `PROT_NONE`, so that no two
/// neighbours merge.
pub(crate) struct Vmas {
    /// Owned for its drop (the munmap).
    _mapping: Mapping,
}

impl Vmas {
    pub(crate) fn new(n: usize) -> io::Result<Vmas> {
        let m = Mapping::new(n.max(1))?;
        m.protect(0, m.pages(), libc::PROT_NONE)?;
        for page in (0..m.pages()).step_by(2) {
            m.protect(page, 1, libc::PROT_READ)?;
        }
        Ok(Vmas { _mapping: m })
    }

    /// The reserved range, `[start, end)`.
    #[cfg(test)]
    fn range(&self) -> (usize, usize) {
        let start = self._mapping.addr as usize;
        (start, start + self._mapping.len)
    }
}

/// One real `mmap` of a page where the kernel chooses (the gap search),
/// then its `munmap`.
#[inline]
pub(crate) fn mmap_munmap_page() {
    let m = Mapping::new(1).expect("mmap of one page");
    drop(m);
}

/// Reads `/proc/self/maps` into `buf` and returns its number of lines.
pub(crate) fn read_maps(buf: &mut Vec<u8>) -> io::Result<usize> {
    use std::io::Read;
    buf.clear();
    std::fs::File::open("/proc/self/maps")?.read_to_end(buf)?;
    Ok(buf.iter().filter(|&&b| b == b'\n').count())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of /proc/self/maps that start inside `[start, end)`
    /// (other tests map and unmap beside us, so count only our range).
    fn lines_in(start: usize, end: usize) -> usize {
        let mut buf = Vec::new();
        read_maps(&mut buf).unwrap();
        String::from_utf8_lossy(&buf)
            .lines()
            .filter_map(|l| usize::from_str_radix(l.split('-').next()?, 16).ok())
            .filter(|&a| start <= a && a < end)
            .count()
    }

    #[test]
    fn vmas_are_separate() {
        let v = Vmas::new(101).unwrap();
        let (start, end) = v.range();
        assert_eq!(lines_in(start, end), 101);
    }

    #[test]
    fn touch_faults_and_drop_pages_zeroes() {
        let m = Mapping::new(4).unwrap();
        for p in 0..4 {
            m.touch(p);
        }
        m.drop_pages().unwrap();
        m.touch(3);
        m.protect(1, 1, libc::PROT_READ).unwrap();
        m.protect(1, 1, libc::PROT_READ | libc::PROT_WRITE).unwrap();
        mmap_munmap_page();
    }
}
