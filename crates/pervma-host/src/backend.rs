//! `impl Backend for HostMemory`: what each call of pervma does to the
//! host reservation (the table in the crate docs), under the invariants
//! stated there.

use super::*;

/// `PROT_*` for the host.
fn host_prot(prot: Prot) -> libc::c_int {
    let mut p = libc::PROT_NONE;
    for (bit, host) in [
        (Prot::READ, libc::PROT_READ),
        (Prot::WRITE, libc::PROT_WRITE),
        (Prot::EXEC, libc::PROT_EXEC),
    ] {
        if prot.contains(bit) {
            p |= host;
        }
    }
    p
}

/// `MADV_GUARD_INSTALL` (Linux 6.13).
const MADV_GUARD_INSTALL: libc::c_int = 102;
/// `MADV_GUARD_REMOVE` (Linux 6.13).
const MADV_GUARD_REMOVE: libc::c_int = 103;

impl Backend for HostMemory {
    fn grow(&self, m: &Mapping<'_>) -> Result<(), Errno> {
        self.grow_in_place(m)
    }

    fn map(&self, m: &Mapping<'_>) -> Result<(), Errno> {
        let (p, len) = self.range(m.start, m.end)?;
        let mut flags = 0;
        if m.flags.contains(VmFlags::NORESERVE) {
            flags |= libc::MAP_NORESERVE;
        }
        if m.flags.contains(VmFlags::GROWSDOWN) {
            flags |= libc::MAP_GROWSDOWN;
        }
        // A locked mapping is born `PROT_NONE` and `VM_LOCKED` without
        // `VM_LOCKONFAULT`, which no other host VMA is (`set_locked`), so
        // it merges with nothing and populates nothing; it is made to
        // lock on fault, and only then gets its protection (Linux's
        // mprotect populates a locked VMA that becomes writable, unless
        // it locks on fault: that page would bring an anon_vma of its
        // own, and the VMA would not merge as Linux's new one does).
        // Mapped unlocked first, it could merge with an unlocked
        // neighbour and keep that one's anon_vma after mlock split it off.
        let locked = m.flags.contains(VmFlags::LOCKED);
        if locked {
            flags |= libc::MAP_LOCKED;
        }
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let (fd, offset) = match m.file {
            None if m.flags.contains(VmFlags::DROPPABLE) => {
                flags |= libc::MAP_DROPPABLE | libc::MAP_ANONYMOUS;
                (None, 0)
            }
            None => {
                flags |= libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
                (None, 0)
            }
            Some(file) => {
                flags |= if m.flags.contains(VmFlags::MAYSHARE) {
                    libc::MAP_SHARED
                } else {
                    libc::MAP_PRIVATE
                };
                let offset = m
                    .pgoff
                    .checked_mul(PAGE_SIZE)
                    .ok_or(Errno::EOVERFLOW.because("file offset overflows"))?;
                (Some(HostMemory::file_fd(&mut files, file)?), offset)
            }
        };
        // SAFETY: inside the reservation, which this `HostMemory` owns;
        // pervma maps only ranges that map nothing (no user copy is in
        // them).
        unsafe {
            sys::mmap_fixed(
                p,
                len,
                if locked {
                    libc::PROT_NONE
                } else {
                    host_prot(m.prot())
                },
                flags,
                fd,
                offset,
                "host mmap of a guest mapping failed",
            )?;
        }
        drop(files);
        let lock_then_protect = || {
            if !locked {
                return Ok(());
            }
            self.set_locked(m, m.flags)?;
            match m.prot() {
                Prot::NONE => Ok(()),
                // SAFETY: inside the reservation; the range was just
                // mapped.
                prot => unsafe { sys::mprotect(p, len, host_prot(prot)) },
            }
        };
        // Fresh from mmap: nothing of what `apply_flags` sets but the lock.
        let fresh = m.flags & VmFlags::LOCKED;
        if let Err(e) = lock_then_protect().and_then(|()| self.apply_flags(m, fresh)) {
            // Leave nothing behind: the operation unmaps the range.
            let _ = self.reserve(m.start, m.end);
            return Err(e);
        }
        Ok(())
    }

    fn unmap(&self, start: u64, end: u64) {
        if self.reserve(start, end).is_ok() {
            return;
        }
        // The host refused a new VMA (its map count, say). Keep the range
        // ours, inaccessible and empty, rather than leave a hole.
        self.lost.fetch_add(1, Ordering::Relaxed);
        if let Ok((p, len)) = self.range(start, end) {
            // SAFETY: inside the reservation; the range is being unmapped,
            // so no user copy is in it.
            unsafe {
                let _ = sys::mprotect(p, len, libc::PROT_NONE);
                let _ = sys::madvise(p, len, libc::MADV_DONTNEED, "");
            }
        }
    }

    fn change_flags(&self, m: &Mapping<'_>, old: VmFlags) -> Result<(), Errno> {
        let (p, len) = self.range(m.start, m.end)?;
        let prot_changed = m.prot() != old.prot();
        if prot_changed {
            // SAFETY: inside the reservation; the range's VMAs are
            // write-locked, so no user copy is in it.
            unsafe { sys::mprotect(p, len, host_prot(m.prot()))? };
        }
        if let Err(e) = self.apply_flags(m, old) {
            if prot_changed {
                // SAFETY: as above: back to what the range allowed.
                let _ = unsafe { sys::mprotect(p, len, host_prot(old.prot())) };
            }
            return Err(e);
        }
        Ok(())
    }

    fn move_range(
        &self,
        from: u64,
        len: u64,
        to: &Mapping<'_>,
        keep_source: bool,
    ) -> Result<(), Errno> {
        if len == 0 {
            // `mremap` of a shared mapping with old length 0: a second
            // mapping of the same pages, nothing moves.
            return self.map(to);
        }
        let end = from
            .checked_add(len)
            .ok_or(Errno::EINVAL.because("source range overflows"))?;
        let (src, len) = self.range(from, end)?;
        let (dst, new_len) = self.range(to.start, to.end)?;
        if new_len < len {
            return Err(Errno::EINVAL.because("mremap moves more than its destination holds"));
        }
        // MREMAP_DONTUNMAP unlocks the whole source VMA, not only the
        // moved part (Linux 6.18's move_vma clears VM_LOCKED_MASK on it),
        // which a plain move leaves locked: a locked source moves plainly.
        let unlocks = !keep_source && to.flags.contains(VmFlags::LOCKED);
        if new_len == len && !unlocks {
            // SAFETY: both ranges are inside the reservation; their VMAs
            // are write-locked, so no user copy is in them.
            // MREMAP_DONTUNMAP leaves the source mapped (empty), so it is
            // never a hole.
            let moved = unsafe { sys::mremap_fixed(src, len, len, dst, libc::MREMAP_DONTUNMAP) };
            match moved {
                Ok(()) if keep_source => return Ok(()),
                Ok(()) => return self.reserve(from, end),
                Err(e) if keep_source => return Err(e),
                // A move the host refuses to do with MREMAP_DONTUNMAP:
                // the plain move below.
                Err(_) => {}
            }
        }
        // A move that grows (Linux makes one VMA of the moved pages and the
        // new ones, which two host calls would not: an anonymous VMA's
        // pages keep their pgoff, a new one gets its address), or one that
        // MREMAP_DONTUNMAP cannot do: a plain move, and the reservation
        // over the hole it leaves. Another thread's mmap could land in the
        // hole meanwhile: this is the one moment the reservation is not
        // whole (QEMU's linux-user has the same window).
        // SAFETY: as above.
        unsafe { sys::mremap_fixed(src, len, new_len, dst, 0)? };
        self.reserve(from, end)
    }

    fn truncate(&self, file: &File, size: u64) {
        // The memfd of a file without a descriptor of its own follows the
        // file's size: shrinking it drops its pages past the end (the
        // host zaps them from every host mapping of it, private copies
        // included, as pervma did), growing it reads as zeroes. A file
        // whose contents have a descriptor is the user's: its contents
        // were told ([`FileContents::truncate`](pervma::FileContents)),
        // and pervma's `discard` of the pages past the end reached the
        // host mappings.
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(memory) = files.get(&file.id()) {
            if sys::ftruncate(memory.fd.as_fd(), size).is_err() {
                self.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn discard(&self, m: &Mapping<'_>, lazy: bool) {
        // Locked memory is discarded by MADV_DONTNEED_LOCKED and by a
        // truncation of its file (which Linux zaps locked or not); the
        // host's MADV_DONTNEED refuses VM_LOCKED VMAs, its
        // MADV_DONTNEED_LOCKED (5.18) does not, and does the same
        // elsewhere.
        let advice = if lazy {
            libc::MADV_FREE
        } else {
            MADV_DONTNEED_LOCKED
        };
        if self
            .advise(m, advice, "host MADV_DONTNEED_LOCKED/FREE failed")
            .is_err()
        {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The host's own guard regions (Linux 6.13+): its page-table markers
    /// make the host fault where pervma's record says `SIGSEGV`, and
    /// leave its VMAs whole, as pervma's.
    fn guard(&self, m: &Mapping<'_>, install: bool) {
        // No user copy runs while a guard goes in (see `read`).
        let _copying = self.copying.write().unwrap_or_else(PoisonError::into_inner);
        if install {
            self.guarded.store(true, Ordering::Relaxed);
        }
        let (advice, what) = if install {
            (MADV_GUARD_INSTALL, "host MADV_GUARD_INSTALL failed")
        } else {
            (MADV_GUARD_REMOVE, "host MADV_GUARD_REMOVE failed")
        };
        if self.advise(m, advice, what).is_err() {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn install(
        &self,
        m: &Mapping<'_>,
        addr: u64,
        access: Access,
        what: Install,
    ) -> Result<(), Errno> {
        let (start, len) = match what {
            Install::Anon { huge: true } => (addr & !(HUGE - 1), HUGE),
            _ => (addr & !(PAGE_SIZE - 1), PAGE_SIZE),
        };
        let write = match what {
            Install::ZeroPage => false,
            Install::Anon { .. } | Install::CowPage => true,
            Install::FilePage => access == Access::Write && m.flags.contains(VmFlags::MAYSHARE),
            _ => access == Access::Write,
        };
        let (p, len) = self.range(start, start + len)?;
        // A guard install racing this fault may have made the host range a
        // guard before pervma's record shows it: touching or populating it
        // would fault (SIGSEGV, EFAULT). Leave it: the host maps the page
        // on the guest's first access anyway, and pervma's record gets the
        // guard when the install ends.
        let _copying = self.copying.read().unwrap_or_else(PoisonError::into_inner);
        if self.guard_in(p, len) {
            return Ok(());
        }
        // Private anonymous memory the host lets this access through
        // (its protection is the VMA's, checked by pervma's fault path):
        // touch it, a real host fault under the host's per-VMA lock,
        // where MADV_POPULATE_* would take the host's mmap_lock and queue
        // behind every map change this backend makes. A store adds 0
        // atomically: the guest's bytes stay as they are. Files are
        // populated instead (a real file may end before pervma thinks:
        // SIGBUS), and so is anything the host might refuse.
        let needed = if write { Prot::WRITE } else { Prot::READ };
        if m.file.is_none() && !m.is_shared() && m.prot().contains(needed) {
            for page in (0..len).step_by(PAGE_SIZE as usize) {
                // SAFETY: the page is mapped (by `map`) with a protection
                // that lets this access through, anonymous (no SIGBUS),
                // and stays so while pervma holds the locks it calls
                // `install` under; the access is atomic.
                let byte = unsafe { AtomicU8::from_ptr(p.add(page)) };
                if write {
                    byte.fetch_add(0, Ordering::Relaxed);
                } else {
                    byte.load(Ordering::Relaxed);
                }
            }
            return Ok(());
        }
        let (advice, reason) = if write {
            (libc::MADV_POPULATE_WRITE, "host MADV_POPULATE_WRITE failed")
        } else {
            (libc::MADV_POPULATE_READ, "host MADV_POPULATE_READ failed")
        };
        let mut tries = 0;
        loop {
            // SAFETY: inside the reservation; populating maps the page
            // the guest faulted on, which no reference of ours covers.
            match unsafe { sys::madvise(p, len, advice, reason) } {
                Ok(()) => return Ok(()),
                Err(e) if e == Errno::EINTR && tries < 8 => tries += 1,
                // MADV_POPULATE_READ refuses a VMA without VM_READ, but
                // x86 reads what it may execute or write (`--x`, `-w-`):
                // the host's own fault path takes a load there.
                Err(e) if e == Errno::EFAULT && !write && m.prot() != Prot::NONE => {
                    for page in (0..len).step_by(PAGE_SIZE as usize) {
                        // SAFETY: the page is mapped (by `map`) with a
                        // protection the host's fault path lets a load
                        // through, and the load is atomic.
                        unsafe { AtomicU8::from_ptr(p.add(page)) }.load(Ordering::Relaxed);
                    }
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A copy racing `MADV_GUARD_INSTALL` of its page may find pervma's
    /// record still showing the page while the host range is a guard
    /// already, and touching it would kill the process (`SIGSEGV`). So
    /// once a guard was ever installed, a copy asks pagemap first, under
    /// the lock a guard install holds exclusive, and answers `PageGone`
    /// for a guard (pervma faults again and sees it).
    fn read(&self, _: &Mapping<'_>, addr: u64, buf: &mut [u8]) -> Result<(), PageGone> {
        debug_assert!(addr + buf.len() as u64 <= self.size);
        let _copying = self.copying.read().unwrap_or_else(PoisonError::into_inner);
        self.not_a_guard(addr)?;
        // SAFETY: pervma reads only a page its fault mapped for reading,
        // under the VMA lock, so the host page is mapped readable (the
        // second invariant); guests store to it atomically or from
        // outside Rust.
        unsafe { copy::copy_from_guest(self.host_ptr(addr), buf) };
        Ok(())
    }

    fn write(&self, _: &Mapping<'_>, addr: u64, data: &[u8]) -> Result<(), PageGone> {
        debug_assert!(addr + data.len() as u64 <= self.size);
        let _copying = self.copying.read().unwrap_or_else(PoisonError::into_inner);
        self.not_a_guard(addr)?;
        // SAFETY: as in `read`, for a page mapped for writing.
        unsafe { copy::copy_to_guest(self.host_ptr(addr), data) };
        Ok(())
    }
}

impl HostMemory {
    /// Whether a host page of `[p, p + len)` may be a guard region: one
    /// was installed once, and pagemap says so. Call with `copying` held
    /// shared, which keeps the answer true.
    fn guard_in(&self, p: *mut u8, len: usize) -> bool {
        // Unreadable pagemap: assume none (a `PageGone` answered forever
        // would make pervma retry forever).
        self.guarded.load(Ordering::Relaxed) && sys::pagemap_guard(p, len).unwrap_or(false)
    }

    /// `PageGone` if the host page of `addr` is a guard region; call with
    /// `copying` held shared.
    fn not_a_guard(&self, addr: u64) -> Result<(), PageGone> {
        if self.guard_in(self.host_ptr(addr), 1) {
            return Err(PageGone);
        }
        Ok(())
    }
}
