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
//! | `discard` | `madvise(MADV_DONTNEED)` (`MADV_FREE` for lazy), with the copy lock held exclusive: later faults come back to the pager; nothing while a handler applies a `REMOVE` event |
//! | `guard` (`MADV_GUARD_INSTALL`/`REMOVE` through the `Mm`) | the same `madvise` on the real range, with the copy lock held exclusive for an install (it drops the pages as a discard does): a real access there gets `SIGSEGV` too |
//! | `install` (a fault pervma itself handled: `Mm::access_read`, `MAP_POPULATE`) | the page resolved through the [`Contents`] here (as the pager would: `UFFDIO_COPY`, `ZEROPAGE`, ...; `EEXIST` is fine) |
//! | `read`, `write` (a user copy: `Mm::access_read`/`access_write`, `read_nofault`/`write_nofault`) | with the copy lock held shared: `mincore` of the page, resolved as by `install` if it is not there (unless pagemap says a racing guard install made it a guard region: then `PageGone`, and pervma faults again and sees the guard), then a raw copy; never a userfault, so never a wait for a handler thread, and never a touch of a guard |
//!
//! Pages are always private anonymous memory: a `MAP_SHARED` file
//! mapping reads its file through the pager, but stores do not reach the
//! file.
//!
//! # User copies never wait for a handler
//!
//! pervma calls `read` and `write` under the VMA's read lock, after its
//! record showed the page mapped. A raw copy that touched a missing page
//! would raise a real userfault and wait for a handler thread, which
//! resolves under `Mm::lock_vma`; if a writer (`munmap`, `mprotect`,
//! `mremap` of the same VMA through the `Mm`) is then waiting in
//! `vma_start_write` for the copier's read lock, the handler's fast path
//! fails, it waits for `mmap_lock` behind the writer, and the three wait
//! for each other (the regression test `copy_vs_discard_deadlock` hung
//! within a second, every run). The record alone cannot rule that out:
//! `MADV_DONTNEED` does not write-lock the VMA (faults race with it, as in
//! Linux), and it drops the real pages (`discard`) *before* it zaps the
//! record, so a copy may find the page in the record and not in memory.
//!
//! So a copy makes sure of the page itself, with a lock of its own
//! (`copying`, a `std` `RwLock`) held shared, which `discard` holds
//! exclusive around its real `madvise`:
//!
//! 1. If a copy found the page present since the last discard (a
//!    direct-mapped cache of 512 pages, each with the count of discards
//!    at the time, which only a discard, holding the lock exclusive,
//!    bumps), it still is: go to 3.
//! 2. `mincore(2)` of the page: for private anonymous memory 0 means the
//!    PTE is none, exactly when a touch would raise a userfault (a
//!    swapped-out page reads 0 too; resolving it gives `EEXIST`, and the
//!    touch swaps it in without a userfault).
//!    Not resident: resolve it as `install` does, from the [`Contents`]
//!    and the VMA's [`Mapping`] (which pervma passes for this). `EEXIST`
//!    is fine; `EAGAIN` (a non-cooperative event is queued, see below) is
//!    retried. Then the cache remembers the page.
//! 3. The raw copy. The page stays: a discard through the `Mm` waits for
//!    the shared lock, and `munmap`/`mprotect`/`mremap` for the VMA read
//!    lock pervma holds. Swap-out, migration and NUMA hinting change the
//!    PTE without a userfault on the next touch.
//!
//! The shared lock never waits for a handler or an `Mm` lock while held
//! (steps 1-3 make none of those waits), so a discard waiting for it
//! waits for copies that finish; copies queue behind a discard only for
//! its `madvise`. A racing discard's outcome is Linux's: the copy reads
//! the old page or the new one, a store may land just before the discard
//! drops it.
//!
//! Why a page the cache remembers is still there: only a discard drops
//! a page of a VMA pervma's record shows mapped (`munmap` and `mremap`
//! drop or move the record with the pages, under the VMA write lock, and
//! a later record entry comes from an `install`, which resolves the page).
//! pervma's record may even show a page that a discard took (a fault's
//! `install` just before the real `madvise`, its record entry just after
//! the zap), but only after a discard, which invalidates the cache.
//!
//! The cost: a shared lock and the cache lookup per page copied; a
//! `mincore` (about 1 us on a VM) for pages not copied since the last
//! discard. Measured with a throwaway release-mode test (`access_read`
//! of 8 bytes, cycling over 64 present pages, best of 5 x 200k, 2 vCPU
//! VM, shared): 30-80 ns before and with the cache alike (the spread is
//! the machine's noise), 1.1-1.4 us with a `mincore` every time. pervma's own paths pay
//! nothing (the `Mapping` is built only when a backend is plugged in).
//! The alternatives, and why not:
//!
//! - Resolving every time (`UFFDIO_COPY` answers `EEXIST` when the page is
//!   there): a system call too, and for file pages it asks the
//!   [`Contents`] for a page of bytes each time.
//! - Copying with a call that cannot wait (`process_vm_readv` on this
//!   process, which fails with `EFAULT` on a missing page of a
//!   `UFFD_USER_MODE_ONLY` userfaultfd): a system call per copy as well,
//!   works only with `user_mode_only`, and still needs steps 1-2 to get
//!   the page in.
//! - Write-locking the VMA in pervma's `MADV_DONTNEED`, or zapping the
//!   record before the real discard: a change of pervma's locking (Linux
//!   lets faults race with `MADV_DONTNEED`) for one backend's sake, and the
//!   second still leaves a copy that checked the record just before.
//! - A lock per page instead of one `RwLock`: copies of different pages
//!   do not exclude each other anyway (shared), and discards are rare.
//! - No cache: the `mincore` per copy made a small copy 20-25 times
//!   slower.
//!
//! While a handler applies a `REMOVE` event (`applying_event`), `discard`
//! does nothing and takes no lock: the kernel dropped the pages already,
//! so there is nothing to exclude, and waiting for copies there could
//! deadlock: a copy may be retrying `EAGAIN` until the event queue is
//! read, by the very handler that would wait.
//!
//! What this does not cover: pages dropped by a real `madvise` not made
//! through the `Mm` (a balloon thread's) can still make a copy touch a
//! missing page; and a userfaultfd with non-cooperative events
//! (`EVENT_REMOVE`, `EVENT_UNMAP`, ...) makes pervma's own `munmap` and
//! `madvise` of registered memory wait, under `Mm` locks, for a handler to
//! read the event (the kernel drops `mmap_lock` there first; pervma
//! cannot), which this backend does not try to avoid: give it a
//! userfaultfd without them (the default [`OpenOptions`]). A range
//! registered for write-protect faults would need the same care for
//! stores to write-protected pages (`mincore` does not see protection).
//!
//! [`OpenOptions`]: crate::OpenOptions

use crate::contents::{Contents, Fault, Resolve};
use crate::sys;
use crate::uffd::{Mode, Uffd, PAGE};
use pervma::{Access, Backend, Errno, Install, Mapping, MmConfig, PageGone, VmFlags};
use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

/// This process's memory behind an `Mm`: see the [module docs](self).
///
/// User copies through the `Mm` (`Mm::access_read`, `access_write`,
/// `read_nofault`, `write_nofault`) never wait for a handler thread: each
/// makes its page present itself (from the [`Contents`], as the pager
/// would) and keeps `MADV_DONTNEED` through the `Mm` out while it copies,
/// since a handler may be waiting for the copy's VMA lock. Give it a
/// userfaultfd without non-cooperative events (the default
/// [`OpenOptions`](crate::OpenOptions)): with them, pervma's own `munmap`
/// and `madvise` of registered memory wait for a handler under `Mm` locks.
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
    /// Held shared by user copies ([`Backend::read`]/[`Backend::write`])
    /// and exclusive by [`Backend::discard`] around its real `madvise`:
    /// a copy's page, once present, stays (module docs).
    copying: RwLock<()>,
    /// Discards so far: bumped only with `copying` held exclusive, so
    /// constant while a copy holds it shared.
    discards: AtomicU64,
    /// Pages a copy found present, with the value of `discards` then
    /// (module docs).
    present: Box<[Slot]>,
    /// Whether a guard region was ever installed (set with `copying`
    /// held exclusive): only then may a page that is not resident be a
    /// guard marker rather than missing or swapped out.
    guarded: AtomicBool,
}

/// One entry of [`OwnMemory::present`]: a page, and the `discards` at
/// which a copy found it present. Stored page first, then (`Release`)
/// the generation; loaded generation first (`Acquire`), then the page.
#[derive(Default)]
struct Slot {
    page: AtomicU64,
    discards: AtomicU64,
}

/// Entries of the present-page cache (direct mapped by page number).
const SLOTS: usize = 512;

const RESERVE_FLAGS: i32 = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;

/// `MADV_GUARD_INSTALL` and `MADV_GUARD_REMOVE` (Linux 6.13; not in the
/// libc crate's list yet).
const MADV_GUARD_INSTALL: i32 = 102;
const MADV_GUARD_REMOVE: i32 = 103;

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
                copying: RwLock::new(()),
                // No page is present yet: generation 0 matches no entry,
                // since every entry's page is 0 (never a reservation's).
                discards: AtomicU64::new(0),
                present: (0..SLOTS).map(|_| Slot::default()).collect(),
                guarded: AtomicBool::new(false),
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

    /// Resolves the missing page at `page` as the pager would; `EEXIST`
    /// (the page is there) is success.
    fn resolve(&self, m: &Mapping<'_>, page: u64, access: Access) -> io::Result<()> {
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
            Resolve::Unprotect => Ok(()), // a missing page: nothing is protected
        };
        match r {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// Makes the page at `page` of `m` present before a user copy
    /// touches it, so the copy raises no userfault; `copying` is held
    /// shared (module docs). `EAGAIN` (a non-cooperative event queued) is
    /// retried until a handler has read the event; other failures are
    /// left to the copy (the page is then there anyway, or the range is no
    /// longer registered, or the process is exiting).
    fn make_present(&self, m: &Mapping<'_>, page: u64, access: Access) -> Result<(), PageGone> {
        let discards = self.discards.load(Ordering::Relaxed);
        let slot = &self.present[(page / PAGE) as usize % SLOTS];
        if slot.discards.load(Ordering::Acquire) == discards
            && slot.page.load(Ordering::Relaxed) == page
        {
            return Ok(()); // found present since the last discard
        }
        if !sys::mincore_page(page).unwrap_or(false) {
            // A guard marker is not resident either, and resolving it
            // fails with EEXIST as for a swapped-out page: ask pagemap.
            // No guard is installed while `copying` is held shared, so
            // the answer stays true; pervma's record shows the guard
            // once the install returns, and its retry faults there.
            if self.guarded.load(Ordering::Relaxed) && sys::pagemap_guard(page).unwrap_or(false) {
                return Err(PageGone);
            }
            while let Err(e) = self.resolve(m, page, access) {
                if e.raw_os_error() != Some(libc::EAGAIN) {
                    return Ok(());
                }
                std::thread::yield_now();
            }
        }
        slot.page.store(page, Ordering::Relaxed);
        slot.discards.store(discards, Ordering::Release);
        Ok(())
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
        // While a handler applies a REMOVE event: the pages are gone
        // already, and no lock (module docs).
        if !self.inside(m.start, m.end) || APPLYING_EVENT.with(Cell::get) {
            return;
        }
        let advice = if lazy {
            libc::MADV_FREE
        } else {
            libc::MADV_DONTNEED
        };
        // No user copy runs while the pages go (module docs).
        let _copying = self.copying.write().unwrap_or_else(PoisonError::into_inner);
        self.discards.fetch_add(1, Ordering::Relaxed);
        // SAFETY: pervma dropped the range's pages; nobody relies on them.
        let _ = unsafe { sys::madvise(m.start, m.end - m.start, advice) };
    }

    fn guard(&self, m: &Mapping<'_>, install: bool) {
        if !self.inside(m.start, m.end) {
            return;
        }
        let advice = if install {
            MADV_GUARD_INSTALL
        } else {
            MADV_GUARD_REMOVE
        };
        // Installing drops the pages, as a discard does: no user copy
        // meanwhile, and the presence cache forgets them (module docs).
        let _copying = self.copying.write().unwrap_or_else(PoisonError::into_inner);
        if install {
            self.discards.fetch_add(1, Ordering::Relaxed);
            self.guarded.store(true, Ordering::Relaxed);
        }
        // SAFETY: pervma dropped the range's pages (install) or found it
        // empty of them (remove); nobody relies on them. A kernel before
        // 6.13 refuses (EINVAL): the real pages then stay, as before.
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
        .map_err(|e| errno(&e))
    }

    fn read(&self, m: &Mapping<'_>, addr: u64, buf: &mut [u8]) -> Result<(), PageGone> {
        let _copying = self.copying.read().unwrap_or_else(PoisonError::into_inner);
        self.make_present(m, addr & !(PAGE - 1), Access::Read)?;
        // SAFETY: pervma reads only inside a VMA that permits it (so the
        // real range is mapped readable: `map`, `change_flags`), under its
        // read lock (so it stays mapped); the page is present (above) and
        // stays (no discard while `copying` is held), so no userfault.
        unsafe { sys::read_at(addr, buf) };
        Ok(())
    }

    fn write(&self, m: &Mapping<'_>, addr: u64, data: &[u8]) -> Result<(), PageGone> {
        let _copying = self.copying.read().unwrap_or_else(PoisonError::into_inner);
        self.make_present(m, addr & !(PAGE - 1), Access::Write)?;
        // SAFETY: as in `read`, for a VMA that permits writing (a zero page
        // there is replaced by the kernel's own write fault, no userfault
        // in MISSING mode); no Rust reference points into the reservation
        // (invariant).
        unsafe { sys::write_at(addr, data) };
        Ok(())
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
