//! A pervma [`Backend`] on host memory: the guest address space lives in
//! one host reservation, and the host kernel's own VMAs follow pervma's.
//!
//! An emulator that runs a Linux guest's user code on a Linux host
//! (QEMU's linux-user, a gVisor-like sandbox) keeps the guest's address
//! space inside its own: guest address `a` is host address `base + a`,
//! so guest loads and stores are host loads and stores, and the host's
//! MMU checks them. QEMU's linux-user/mmap.c does the bookkeeping by
//! hand; here pervma decides what Linux would do with each `mmap`,
//! `mprotect`, `mremap`, ..., and [`HostMemory`] makes the host's
//! mappings say the same:
//!
//! | pervma calls | the host gets |
//! |---|---|
//! | [`map`](Backend::map) | `mmap(MAP_FIXED)` at `base + start` with the VMA's protection: private anonymous memory, or a memfd per pervma [`File`] (shared anonymous memory is a `File` too), then `mlock2`/`madvise` for the `vm_flags` that split host VMAs |
//! | [`grow`](Backend::grow) | the host VMA before the range grows in place (`mremap` of its last page, without `MREMAP_MAYMOVE`), keeping its pgoff and flags as `vma_merge_extend` does |
//! | [`unmap`](Backend::unmap) | the reservation again (`mmap(MAP_FIXED)` of its memfd) |
//! | [`change_flags`](Backend::change_flags) | `mprotect`, `mlock2`/`munlock`, `madvise` for what changed |
//! | [`move_range`](Backend::move_range) | `mremap(MREMAP_FIXED \| MREMAP_DONTUNMAP)`, then the reservation over the source unless it is kept (a move that grows: a plain `mremap`) |
//! | [`discard`](Backend::discard) | `madvise(MADV_DONTNEED / MADV_FREE)` |
//! | [`truncate`](Backend::truncate) | `ftruncate` of the file's memfd |
//! | [`install`](Backend::install) | `madvise(MADV_POPULATE_READ / _WRITE)` of the page (or the THP's 2 MiB) |
//! | [`read`](Backend::read), [`write`](Backend::write) | relaxed atomic copies through host pointers |
//!
//! # The reservation
//!
//! [`HostMemory::new`] reserves the guest space as one `PROT_NONE`,
//! `MAP_PRIVATE | MAP_NORESERVE` mapping of a memfd named
//! `pervma-reservation`, at file offset = guest address, aligned to 1 GiB
//! (so THP alignment is the same for guest and host). That choice buys
//! three things: a piece of the reservation never merges with a guest
//! mapping (different file), two pieces merge back when the guest
//! unmaps what separated them (same file, consecutive offsets), and
//! `/proc/self/maps` names them, which is how the differential test
//! tells them from guest VMAs. It costs no memory and no commit charge.
//!
//! # What the host does not mirror
//!
//! - `VM_LOCKONFAULT`: every locked host VMA is locked on fault, and
//!   pages come in when pervma installs them (see `set_locked` in the
//!   source), so a VMA locked with `mlock` next to one locked with
//!   `MLOCK_ONFAULT` is two VMAs for pervma and one for the host.
//! - Protection keys: pervma's key numbers are the guest's, not the
//!   host's, and the host may have none; keys are ignored here, so two
//!   guest VMAs that differ only by key are one host VMA.
//! - File contents: a pervma [`File`] whose
//!   [`FileContents`](pervma::FileContents) have a descriptor
//!   ([`raw_fd`](pervma::FileContents::raw_fd)) is mapped from it, so
//!   shared stores reach the file itself; any other `File` from a memfd
//!   of its size that starts as zeroes and lives as long as the `File`.
//!   Either way the host's pages are not pervma's page cache: bytes
//!   written with [`File::write_at`] or read with [`File::read_at`] go
//!   through the cache (and the contents' `read_page`/`write_page`),
//!   not through the host mapping. Files opened read-only are mapped
//!   from a read-write memfd: pervma refuses what the file's mode
//!   forbids before the host sees it.
//! - `VM_GROWSDOWN` growth is pervma's decision. Guest stacks are host
//!   `MAP_GROWSDOWN` mappings (so that they merge and split on the host as
//!   pervma's do, which compares `VM_GROWSDOWN` like any flag), but the
//!   host's own stack expansion never happens inside the reservation:
//!   below a guest VMA there is always a reservation piece or another
//!   guest VMA, never a gap, so the host finds that VMA, not the stack,
//!   and only this backend's accesses (inside guest VMAs) reach it. A
//!   growth comes as [`grow_down`](Backend::grow_down), which maps the new
//!   part like [`map`](Backend::map): a host VMA of its own that merges
//!   with the stack when its page offset continues the stack's (always,
//!   but for a faulted stack moved by `mremap`, whose pgoff stays where
//!   it was: then the host shows two VMAs where pervma has one).
//!
//! # Invariants
//!
//! - `[base, base + size)` is mapped by this `HostMemory`, all of it, from
//!   [`HostMemory::new`] until drop: every page is either a piece of the
//!   reservation or a guest mapping placed by a [`Backend`] method. No
//!   method leaves a hole, even for a moment (replacements are
//!   `MAP_FIXED`, which the host makes atomic; moves leave the source
//!   mapped with `MREMAP_DONTUNMAP` and then replace it), so no other
//!   allocation of the process can land inside, and a `MAP_FIXED` inside
//!   never clobbers memory this `HostMemory` does not own. The
//!   exceptions are two host calls long, where Linux offers no atomic
//!   way: a move that grows or whose source is locked (`mremap` without
//!   `MREMAP_DONTUNMAP`, then the reservation over the source), and a
//!   growth in place ([`Backend::grow`]: the reservation
//!   piece is unmapped, then the VMA before it grows over it). QEMU's
//!   linux-user has the same windows; a process that maps memory from
//!   other threads meanwhile could see it land there.
//! - The host mappings inside change only through the [`Backend`]
//!   methods, which pervma calls under the locks that exclude user
//!   copies ([`Backend::read`], [`Backend::write`]) of the same range:
//!   a copy's page stays mapped, with the permission the fault checked,
//!   until the copy's VMA lock is dropped.
//!
//! Unsafe code is in three places: `sys` (the host calls that change
//! mappings are `unsafe fn`s whose callers own the range), `copy` (the
//! atomic copies) and the few calls of both below, each with a
//! `// SAFETY:` comment naming the invariant it relies on.
//!
//! # Why `libc`
//!
//! The host calls (`mmap`, `mremap`, `mprotect`, `madvise` with
//! `MADV_POPULATE_*`, `mlock2`, `memfd_create`) with Linux's own
//! constants; the workspace already depends on it (pervma-kernel-runner,
//! pervma-cli's bench), and `rustix` would add a second layer over the
//! same calls.
//!
//! # Example
//!
//! ```
//! use pervma::{MapFlags, Mm, MmConfig, Prot};
//! use pervma_host::HostMemory;
//!
//! let host = HostMemory::new(1 << 30).unwrap();
//! let config = MmConfig::new(1 << 30, 0x10000, 1 << 30, 65530);
//! let mm: Mm<()> = Mm::with_backend(config, host.clone());
//! let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
//! mm.mmap(0x10_0000, 0x2000, Prot::READ | Prot::WRITE, flags, None, ()).unwrap();
//! mm.access_write(0x10_0010, b"guest").unwrap();
//! // The same bytes, through the host's own mapping.
//! // SAFETY: the page is mapped writable, and no other thread touches it.
//! let p = unsafe { std::slice::from_raw_parts(host.host_ptr(0x10_0010), 5) };
//! assert_eq!(p, b"guest");
//! ```

#![cfg(target_os = "linux")]
#![doc(test(attr(deny(warnings))))]

mod backend;
mod copy;
mod sys;

use pervma::{Access, Backend, Errno, File, Install, Mapping, PageGone, Prot, VmFlags, PAGE_SIZE};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

/// The alignment of the reservation's base: 1 GiB, as mmscript's window
/// wants, so every 2 MiB-aligned guest block is a 2 MiB-aligned host
/// block and the host's THP decisions are the guest's.
const BASE_ALIGN: u64 = 1 << 30;

/// `MADV_DONTNEED_LOCKED` (Linux 5.18), which the `libc` crate lacks.
const MADV_DONTNEED_LOCKED: libc::c_int = 24;

/// The size of a transparent huge page ([`Install::Anon`] `huge`).
const HUGE: u64 = 2 << 20;

/// The name of the reservation's memfd, as `/proc/self/maps` shows it
/// (`/memfd:pervma-reservation (deleted)`).
pub const RESERVATION_NAME: &str = "pervma-reservation";

/// A guest address space inside one host reservation: guest address `a`
/// is host address [`base()`](HostMemory::base) `+ a`. See the [crate
/// docs](crate).
pub struct HostMemory {
    /// The host address of guest address 0 (as an integer: the type is
    /// `Send + Sync` by its invariants, not by a raw pointer's).
    base: usize,
    size: u64,
    /// The memfd that reservation pieces map (`PROT_NONE`, never
    /// written, size 0: no page of it is ever touched).
    reservation: OwnedFd,
    /// The memfd behind each pervma [`File`] mapped so far, by
    /// [`File::id`].
    files: Mutex<HashMap<u64, FileMemory>>,
    /// Host calls that failed where pervma cannot hear of it
    /// ([`Backend::unmap`], [`Backend::discard`]).
    lost: AtomicU64,
    /// Held shared by user copies ([`Backend::read`]/[`Backend::write`])
    /// and exclusive by a guard install, so that a copy that found its
    /// page no guard keeps it so while it copies.
    copying: RwLock<()>,
    /// Whether a guard region was ever installed (set with `copying` held
    /// exclusive): only then does a copy ask pagemap.
    guarded: AtomicBool,
}

/// The host memory behind one pervma [`File`].
struct FileMemory {
    fd: OwnedFd,
    /// Kept while the `File` lives: a pervma VMA that maps the file holds
    /// it, so a dead `File` means no mapping can ask for the memfd again
    /// (the host's own mappings hold their own reference to it).
    file: Weak<File>,
}

impl HostMemory {
    /// Reserves guest space `[0, size)` (`size` a multiple of the page
    /// size) as one `PROT_NONE` mapping, aligned to 1 GiB.
    ///
    /// # Errors
    ///
    /// The host's, when `memfd_create` or `mmap` fails (no address space
    /// that large is free, say).
    pub fn new(size: u64) -> io::Result<Arc<HostMemory>> {
        if size == 0 || size % PAGE_SIZE != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the size is not a positive multiple of the page size",
            ));
        }
        let too_big = || io::Error::new(io::ErrorKind::InvalidInput, "the size is too large");
        let len = usize::try_from(size).map_err(|_| too_big())?;
        let slack = usize::try_from(BASE_ALIGN).map_err(|_| too_big())?;
        let name = CString::new(RESERVATION_NAME).map_err(|_| too_big())?;
        let reservation = sys::memfd_create(&name)?;
        // Over-reserve, then put the memfd over an aligned part of it and
        // give back the rest: at no moment is any of it a hole.
        let outer = sys::reserve_anywhere(len.checked_add(slack).ok_or_else(too_big)?)?;
        let base = (outer as usize).next_multiple_of(slack);
        let head = base - outer as usize;
        let tail = slack - head;
        // SAFETY: `[outer, outer + len + slack)` was just reserved by us
        // and nothing references it; the memfd goes over an aligned part.
        let placed = unsafe {
            sys::mmap_fixed(
                base as *mut u8,
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_NORESERVE,
                Some(reservation.as_fd()),
                0,
                "host mmap of the reservation failed",
            )
        };
        // SAFETY: the slack at both ends is ours (reserved above) and
        // unused; `munmap` of an empty range is not attempted.
        let trimmed = unsafe {
            let head_done = match head {
                0 => Ok(()),
                _ => sys::munmap(outer, head),
            };
            let tail_done = match tail {
                0 => Ok(()),
                _ => sys::munmap((base + len) as *mut u8, tail),
            };
            head_done.and(tail_done)
        };
        if let Err(e) = placed.and(trimmed) {
            // SAFETY: the whole outer range is still ours.
            let _ = unsafe { sys::munmap(outer, len + slack) };
            return Err(io::Error::from_raw_os_error(e.raw()));
        }
        // INVARIANT: `[base, base + size)` is the reservation, all of it.
        Ok(Arc::new(HostMemory {
            base,
            size,
            reservation,
            files: Mutex::new(HashMap::new()),
            lost: AtomicU64::new(0),
            copying: RwLock::new(()),
            guarded: AtomicBool::new(false),
        }))
    }

    /// The host address of guest address 0.
    pub fn base(&self) -> *mut u8 {
        self.base as *mut u8
    }

    /// The size of the guest space: guest addresses are `[0, size)`.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The host address of `guest_addr` (which must be below
    /// [`size`](HostMemory::size) for the pointer to be into the
    /// reservation).
    ///
    /// Dereferencing it is the caller's business, as a guest's loads and
    /// stores are: sound while the page is mapped with the access
    /// (pervma's VMA lock of the address, held after a successful
    /// [`Mm::handle_fault`](pervma::Mm::handle_fault) or with
    /// [`Mm::access_permitted`](pervma::Mm::access_permitted), keeps it
    /// so), and racing only with atomic or foreign accesses.
    pub fn host_ptr(&self, guest_addr: u64) -> *mut u8 {
        (self.base as *mut u8).wrapping_add(guest_addr as usize)
    }

    /// How many host calls failed where pervma could not be told
    /// ([`Backend::unmap`] and [`Backend::discard`] cannot fail): 0 unless
    /// the host ran out of something (its `vm.max_map_count`, say).
    pub fn lost_calls(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// The host range of guest `[start, end)`, if it is inside the
    /// reservation.
    fn range(&self, start: u64, end: u64) -> Result<(*mut u8, usize), Errno> {
        if start > end || end > self.size || start % PAGE_SIZE != 0 || end % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL.because("range outside the host reservation"));
        }
        Ok((self.host_ptr(start), (end - start) as usize))
    }

    /// Puts the reservation back over guest `[start, end)`, dropping what
    /// was mapped there.
    fn reserve(&self, start: u64, end: u64) -> Result<(), Errno> {
        let (p, len) = self.range(start, end)?;
        // SAFETY: the range is inside the reservation, which this
        // `HostMemory` owns; pervma unmaps only ranges no user copy holds
        // (the VMAs are write-locked).
        unsafe {
            sys::mmap_fixed(
                p,
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_NORESERVE,
                Some(self.reservation.as_fd()),
                start,
                "host mmap of the reservation failed",
            )
        }
    }

    /// `mremap` grew the VMA that ends at `m.start` in place by `m`: the
    /// host's VMA there grows too (`mremap` without `MREMAP_MAYMOVE`), so
    /// it stays one VMA with its pgoff and flags, as Linux's
    /// `vma_merge_extend` keeps it; a new host mapping would not merge
    /// with it when its pgoff is not the one a new mapping gets.
    fn grow_in_place(&self, m: &Mapping<'_>) -> Result<(), Errno> {
        let (p, len) = self.range(m.start, m.end)?;
        // The reservation piece makes room: this range is a hole until
        // the mremap below fills it (the second of the two moments the
        // reservation is not whole, see `move_range`).
        // SAFETY: inside the reservation; the range mapped nothing.
        unsafe { sys::munmap(p, len)? };
        let page = PAGE_SIZE as usize;
        let last = p.wrapping_sub(page);
        // SAFETY: the page before `m` is the growing VMA's last page,
        // inside the reservation (`range` checked `m.start`, and pervma
        // grows only a VMA that ends there); the
        // grown part is the hole just made.
        let grown = unsafe { sys::mremap_in_place(last, page, page + len) };
        if grown.is_err() {
            // Put the reservation back, unless someone took the hole.
            // SAFETY: MAP_FIXED_NOREPLACE replaces nothing.
            let back = unsafe {
                sys::mmap_fixed(
                    p,
                    len,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_NORESERVE | libc::MAP_FIXED_NOREPLACE,
                    Some(self.reservation.as_fd()),
                    m.start,
                    "host mmap of the reservation failed",
                )
            };
            if back.is_err() {
                self.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
        grown
    }

    /// The host file behind `file`: the descriptor of its contents
    /// ([`FileContents::raw_fd`](pervma::FileContents::raw_fd)) if it has
    /// one, so the host's pages are the file's; otherwise a memfd of
    /// zeroes, created (`memfd_create`, `ftruncate` to [`File::size`])
    /// the first time the file is mapped.
    fn file_fd<'a>(
        files: &'a mut HashMap<u64, FileMemory>,
        file: &'a Arc<File>,
    ) -> Result<BorrowedFd<'a>, Errno> {
        // Forget the memfds of files that died: no VMA maps them.
        files.retain(|_, f| f.file.strong_count() > 0);
        if let Some(fd) = file.contents().and_then(|c| c.raw_fd()) {
            if fd < 0 {
                return Err(Errno::EBADF.because("FileContents::raw_fd is negative"));
            }
            // SAFETY: `raw_fd`'s contract keeps the descriptor open while
            // the contents live, and `file` (borrowed for 'a) holds them.
            return Ok(unsafe { BorrowedFd::borrow_raw(fd) });
        }
        let entry = match files.entry(file.id()) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let name = if file.is_shmem() {
                    String::from("pervma-shmem")
                } else {
                    format!("pervma-file:{}", file.name())
                };
                let name = CString::new(name.replace('\0', "?"))
                    .map_err(|_| Errno::EINVAL.because("file name with a NUL"))?;
                let fd = sys::memfd_create(&name).map_err(|e| {
                    Errno::from_raw(e.raw_os_error().unwrap_or(0))
                        .unwrap_or(Errno::ENOMEM)
                        .because("host memfd_create for a file failed")
                })?;
                sys::ftruncate(fd.as_fd(), file.size())?;
                entry.insert(FileMemory {
                    fd,
                    file: Arc::downgrade(file),
                })
            }
        };
        Ok(entry.fd.as_fd())
    }

    /// `madvise(advice)` over `m`, with `reason` if the host refuses.
    fn advise(
        &self,
        m: &Mapping<'_>,
        advice: libc::c_int,
        reason: &'static str,
    ) -> Result<(), Errno> {
        let (p, len) = self.range(m.start, m.end)?;
        // SAFETY: inside the reservation, which this `HostMemory` owns;
        // advice that Linux keeps in `vm_flags` drops no page.
        unsafe { sys::madvise(p, len, advice, reason) }
    }

    /// `mlock2(MLOCK_ONFAULT)` or `munlock` over `m`, as `flags` says.
    ///
    /// Every locked host VMA is locked on fault (`VM_LOCKED |
    /// VM_LOCKONFAULT`), whatever pervma's flags say: a plain `mlock2`
    /// would populate the range on its own, also where Linux does not
    /// (an `mlock` that meets a hole locks the VMAs before it and
    /// populates nothing), and a populated page can give a host VMA an
    /// anon_vma that pervma's does not have, which changes what merges.
    /// Pages come in through [`Backend::install`], as pervma decides.
    fn set_locked(&self, m: &Mapping<'_>, flags: VmFlags) -> Result<(), Errno> {
        let (p, len) = self.range(m.start, m.end)?;
        if flags.contains(VmFlags::LOCKED) {
            // SAFETY: inside the reservation; locking on fault maps
            // nothing.
            unsafe { sys::mlock2(p, len, libc::MLOCK_ONFAULT as libc::c_uint) }
        } else {
            // SAFETY: inside the reservation; unlocking drops no page.
            unsafe { sys::munlock(p, len) }
        }
    }

    /// Applies the flags of `m` that the host keeps in `vm_flags` and
    /// that split host VMAs, coming from `old` (`map` passes the flags a
    /// new host mapping has).
    fn apply_flags(&self, m: &Mapping<'_>, old: VmFlags) -> Result<(), Errno> {
        let new = m.flags;
        if (new ^ old).contains(VmFlags::LOCKED) {
            self.set_locked(m, new)?;
        }
        let advice = [
            (
                VmFlags::HUGEPAGE,
                libc::MADV_HUGEPAGE,
                None,
                "host MADV_HUGEPAGE failed",
            ),
            (
                VmFlags::NOHUGEPAGE,
                libc::MADV_NOHUGEPAGE,
                None,
                "host MADV_NOHUGEPAGE failed",
            ),
            (
                VmFlags::DONTCOPY,
                libc::MADV_DONTFORK,
                Some(libc::MADV_DOFORK),
                "host MADV_DONTFORK/DOFORK failed",
            ),
            (
                VmFlags::WIPEONFORK,
                libc::MADV_WIPEONFORK,
                Some(libc::MADV_KEEPONFORK),
                "host MADV_WIPEONFORK/KEEPONFORK failed",
            ),
            (
                VmFlags::DONTDUMP,
                libc::MADV_DONTDUMP,
                Some(libc::MADV_DODUMP),
                "host MADV_DONTDUMP/DODUMP failed",
            ),
            (
                VmFlags::MERGEABLE,
                libc::MADV_MERGEABLE,
                Some(libc::MADV_UNMERGEABLE),
                "host MADV_MERGEABLE/UNMERGEABLE failed",
            ),
            (
                VmFlags::SEQ_READ,
                libc::MADV_SEQUENTIAL,
                None,
                "host MADV_SEQUENTIAL failed",
            ),
            (
                VmFlags::RAND_READ,
                libc::MADV_RANDOM,
                None,
                "host MADV_RANDOM failed",
            ),
        ];
        for (flag, set, clear, reason) in advice {
            match (old.contains(flag), new.contains(flag)) {
                (false, true) => self.advise(m, set, reason)?,
                (true, false) => {
                    if let Some(clear) = clear {
                        self.advise(m, clear, reason)?;
                    }
                }
                _ => {}
            }
        }
        // Neither read-ahead advice any more: MADV_NORMAL clears both.
        let read_ahead = VmFlags::SEQ_READ | VmFlags::RAND_READ;
        if old.intersects(read_ahead) && !new.intersects(read_ahead) {
            self.advise(m, libc::MADV_NORMAL, "host MADV_NORMAL failed")?;
        }
        Ok(())
    }
}

impl Drop for HostMemory {
    fn drop(&mut self) {
        // SAFETY: the reservation is ours (the first invariant), and with
        // `&mut self` no pervma operation or copy is in it any more.
        let _ = unsafe { sys::munmap(self.base(), self.size as usize) };
    }
}

impl core::fmt::Debug for HostMemory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HostMemory")
            .field("base", &self.base())
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}
