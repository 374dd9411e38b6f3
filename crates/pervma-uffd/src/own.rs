//! [`OwnMemory`]: a pervma [`Backend`] that is this process's own memory,
//! at identity addresses, registered with a userfaultfd.
//!
//! Linux: what `mmap`, `munmap`, `mprotect`, `mremap` and
//! `madvise(MADV_DONTNEED)` do to a userfaultfd-registered range
//! (mm/userfaultfd.c, `mremap_userfaultfd_prep`).
//!
//! The backend owns one reservation, `[base, base + len)`, mapped
//! `PROT_NONE` up front, and confines the `Mm` to it (the [`MmConfig`] it
//! returns), so that an address pervma picks is never one the rest of the
//! process uses. Every change pervma makes lands in the reservation:
//!
//! | pervma | the real memory |
//! |---|---|
//! | `map` | `mmap(MAP_FIXED)` private anonymous memory with the VMA's protection, registered (MISSING) |
//! | `unmap` | `mmap(MAP_FIXED, PROT_NONE)` over the range: its pages and registration go, the reservation stays (so nothing else of the process can land there; a later access gets `SIGSEGV`, as after a real `munmap`) |
//! | `change_flags` | `mprotect` when the protection changed |
//! | `move_range` | `mremap(MREMAP_FIXED)`, then the destination registered again (without `UFFD_FEATURE_EVENT_REMAP` the kernel drops the registration of a moved range) |
//! | `discard` | `madvise(MADV_DONTNEED)` (`MADV_FREE` for lazy): later faults come back to the pager |
//! | `install` (a fault pervma itself handled: `Mm::access_read`, `MAP_POPULATE`) | the page resolved through the [`Contents`] here, so a user copy never waits for a handler thread |
//!
//! Pages are always private anonymous memory: a `MAP_SHARED` file
//! mapping reads its file through the pager, but stores do not reach the
//! file.

use crate::contents::{Contents, Fault, Resolve};
use crate::sys;
use crate::uffd::{Mode, Uffd, PAGE};
use pervma::{Access, Backend, Errno, Install, Mapping, MmConfig, VmFlags};
use std::cell::Cell;
use std::io;
use std::sync::Arc;

/// This process's memory behind an `Mm`: see the [module docs](self).
///
/// # Invariants
///
/// `[base, base + len)` is a mapping this value made and owns until it
/// is dropped; no Rust reference points into it (its bytes are reached
/// only through raw copies, [`Backend::read`]/[`Backend::write`], and the
/// process's own loads and stores, which the user makes knowing it).
pub struct OwnMemory {
    base: u64,
    len: u64,
    uffd: Arc<Uffd>,
    contents: Arc<dyn Contents>,
}

const RESERVE_FLAGS: i32 = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;

fn errno(e: &io::Error) -> Errno {
    match e.raw_os_error() {
        Some(libc::EINVAL) => Errno::EINVAL,
        Some(libc::EPERM) => Errno::EPERM,
        Some(libc::EACCES) => Errno::EACCES,
        _ => Errno::ENOMEM,
    }
}

impl OwnMemory {
    /// Reserves `len` bytes (rounded up to pages) of this process's
    /// address space, whose faults `uffd` will report and `contents`
    /// answer (for pervma's own faults), and the configuration that keeps
    /// an `Mm` inside the reservation (give both to `Mm::with_backend`).
    ///
    /// # Errors
    ///
    /// When the reservation cannot be mapped.
    pub fn reserve(
        len: u64,
        uffd: Arc<Uffd>,
        contents: Arc<dyn Contents>,
    ) -> io::Result<(Arc<OwnMemory>, MmConfig)> {
        let len = len.div_ceil(PAGE) * PAGE;
        // SAFETY: without MAP_FIXED the kernel picks an unused range.
        let base = unsafe { sys::mmap(0, len, libc::PROT_NONE, RESERVE_FLAGS, -1, 0)? };
        let d = MmConfig::default();
        let config = MmConfig::new(base + len, base, base + len, d.max_map_count);
        // INVARIANT: the reservation is new and ours.
        Ok((
            Arc::new(OwnMemory {
                base,
                len,
                uffd,
                contents,
            }),
            config,
        ))
    }

    /// The first address of the reservation.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Its length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it is empty (never: a reservation has at least a page).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `[start, end)` lies in the reservation.
    fn inside(&self, start: u64, end: u64) -> bool {
        self.base <= start && start <= end && end <= self.base + self.len
    }

    fn prot(flags: VmFlags) -> i32 {
        flags.prot().bits() as i32
    }

    /// Resolves the missing page at `page` as the pager would.
    fn resolve(&self, m: &Mapping<'_>, page: u64, access: Access) -> Result<(), Errno> {
        let fault = Fault {
            address: page,
            page,
            write: access == Access::Write,
            minor: false,
            wp: false,
            thread: 0,
        };
        let mut buf = [0u8; PAGE as usize];
        let r = match self.contents.resolve(m, &fault, &mut buf) {
            Resolve::Copy(bytes) => self.uffd.copy(page, bytes),
            Resolve::Zero => self.uffd.zeropage(page, PAGE),
            Resolve::Poison => self.uffd.poison(page, PAGE),
            Resolve::Continue => self.uffd.continue_minor(page, PAGE),
            Resolve::Wake => Ok(()),
        };
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(errno(&e)),
        }
    }
}

impl Drop for OwnMemory {
    fn drop(&mut self) {
        // SAFETY: the reservation is ours (invariant) and the `Mm` that
        // used it is gone (it held the last `Arc`).
        let _ = unsafe { sys::munmap(self.base, self.len) };
    }
}

impl Backend for OwnMemory {
    fn map(&self, m: &Mapping<'_>) -> Result<(), Errno> {
        if !self.inside(m.start, m.end) {
            return Err(Errno::ENOMEM.because("outside the pager's reservation"));
        }
        let flags = RESERVE_FLAGS | libc::MAP_FIXED;
        // SAFETY: the range is in our reservation (checked), where nothing
        // holds a reference (invariant); pervma maps only where it mapped
        // nothing before, so no live page is replaced.
        unsafe { sys::mmap(m.start, m.end - m.start, Self::prot(m.flags), flags, -1, 0) }
            .map_err(|e| errno(&e))?;
        // SAFETY: the range is fresh memory of the reservation, whose
        // missing pages are the pager's to fill by design (module docs).
        unsafe { self.uffd.register(m.start, m.end - m.start, Mode::MISSING) }
            .map(drop)
            .map_err(|e| errno(&e))
    }

    fn unmap(&self, start: u64, end: u64) {
        if !self.inside(start, end) || start == end {
            return;
        }
        let flags = RESERVE_FLAGS | libc::MAP_FIXED;
        // SAFETY: in our reservation (checked); pervma unmapped the range,
        // so nobody may use its pages any more.
        let _ = unsafe { sys::mmap(start, end - start, libc::PROT_NONE, flags, -1, 0) };
    }

    fn change_flags(&self, m: &Mapping<'_>, old: VmFlags) -> Result<(), Errno> {
        if m.prot() == old.prot() || !self.inside(m.start, m.end) {
            return Ok(());
        }
        // SAFETY: in our reservation (checked), where no Rust reference
        // points (invariant).
        unsafe { sys::mprotect(m.start, m.end - m.start, Self::prot(m.flags)) }
            .map_err(|e| errno(&e))
    }

    fn move_range(
        &self,
        from: u64,
        len: u64,
        to: &Mapping<'_>,
        keep_source: bool,
    ) -> Result<(), Errno> {
        let new_len = to.end - to.start;
        if len == 0 || !self.inside(from, from + len) || !self.inside(to.start, to.end) {
            return Err(Errno::EINVAL.because("the pager's memory moves within its reservation"));
        }
        let flags = libc::MREMAP_MAYMOVE
            | libc::MREMAP_FIXED
            | if keep_source {
                libc::MREMAP_DONTUNMAP
            } else {
                0
            };
        // SAFETY: both ranges are in our reservation (checked); pervma
        // moves the source's pages and replaces the destination, which it
        // unmapped.
        unsafe { sys::mremap(from, len, new_len, flags, to.start) }.map_err(|e| errno(&e))?;
        // SAFETY: the moved range's missing pages were the pager's before.
        unsafe { self.uffd.register(to.start, new_len, Mode::MISSING) }.map_err(|e| errno(&e))?;
        if keep_source {
            // SAFETY: as above: the source stays mapped, empty.
            unsafe { self.uffd.register(from, len, Mode::MISSING) }.map_err(|e| errno(&e))?;
        }
        Ok(())
    }

    fn discard(&self, m: &Mapping<'_>, lazy: bool) {
        if !self.inside(m.start, m.end) || APPLYING_EVENT.with(Cell::get) {
            return;
        }
        let advice = if lazy {
            libc::MADV_FREE
        } else {
            libc::MADV_DONTNEED
        };
        // SAFETY: pervma dropped the range's pages; nobody relies on them.
        let _ = unsafe { sys::madvise(m.start, m.end - m.start, advice) };
    }

    fn install(
        &self,
        m: &Mapping<'_>,
        addr: u64,
        access: Access,
        what: Install,
    ) -> Result<(), Errno> {
        let page = addr & !(PAGE - 1);
        match what {
            Install::Anon { huge: true } => {
                let block = addr & !((2 << 20) - 1);
                let (s, e) = (block.max(m.start), (block + (2 << 20)).min(m.end));
                (s..e)
                    .step_by(PAGE as usize)
                    .try_for_each(|p| self.resolve(m, p, access))
            }
            _ => self.resolve(m, page, access),
        }
    }

    fn read(&self, _: &Mapping<'_>, addr: u64, buf: &mut [u8]) {
        // SAFETY: pervma reads only where a fault mapped (and `install`
        // filled) a readable page.
        unsafe { sys::read_at(addr, buf) }
    }

    fn write(&self, _: &Mapping<'_>, addr: u64, data: &[u8]) {
        // SAFETY: pervma writes only where a fault mapped a writable page;
        // no Rust reference points into the reservation (invariant).
        unsafe { sys::write_at(addr, data) }
    }
}

std::thread_local! {
    /// Set while this thread applies a kernel event to the `Mm`
    /// ([`applying_event`]).
    static APPLYING_EVENT: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, which applies a `UFFD_EVENT_REMOVE` to the `Mm`, with
/// [`OwnMemory`]'s `discard` a no-op on this thread: the kernel dropped the
/// pages already, and a real `madvise` of registered memory would queue
/// another `REMOVE` and wait until a handler reads it, which this thread
/// (a handler) never would: with one handler, a deadlock (the regression
/// test `firecracker_eagain` found it).
pub(crate) fn applying_event<R>(f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            APPLYING_EVENT.with(|a| a.set(false));
        }
    }
    APPLYING_EVENT.with(|a| a.set(true));
    let _reset = Reset;
    f()
}
