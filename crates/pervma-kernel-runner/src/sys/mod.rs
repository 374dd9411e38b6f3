//! The system calls: the only place besides [`probe`] with `unsafe`.
//!
//! Raw core, safe shell. The raw layer is one `unsafe fn` per system call,
//! made through `syscall(2)` rather than the libc wrappers so the kernel
//! sees the script's arguments exactly (glibc's wrappers check and adjust
//! some of them on some targets). Their common contract: the range is not
//! memory the program uses.
//!
//! The safe layer is [`Zone`]: proof that the window and its spill zone
//! were free at start, with one method per operation that takes *relative*
//! addresses, refuses (panics on) any range [`mmscript::range_allowed`]
//! does not allow, makes the rest absolute with [`window::absolute`], and
//! calls the raw layer. An allowed range lies in the zone, which holds only
//! the script's mappings, or is one Linux refuses to act on (a start above
//! the user address space, an end past 2^64); either way it is not the
//! program's memory, which is the raw contract.

pub(crate) mod probe;

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};

use libc::{c_int, c_long};
use mmscript::{range_allowed, Errno};

use self::probe::Probe;
pub(crate) use self::probe::Touched;
use crate::window;

/// The errno of the call that just failed.
fn last_errno() -> Errno {
    Errno::new(io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

/// `-1` means failure, as `syscall(2)` reports it; anything else is the
/// result.
fn check(ret: c_long) -> Result<u64, Errno> {
    if ret == -1 {
        Err(last_errno())
    } else {
        // A result that is not -1 is non-negative or an address; addresses
        // of user space fit in 63 bits, so this is the value itself.
        Ok(ret as u64)
    }
}

/// Passes a 64-bit argument in a syscall register.
fn arg(value: u64) -> c_long {
    value as c_long
}

/// `mmap(addr, len, prot, flags, fd, offset)`.
///
/// # Safety
///
/// If `flags` has `MAP_FIXED`, the range `[addr, addr + len)` (rounded up
/// to pages) must hold no memory that the program uses other than through
/// [`Zone`]: a fixed mapping replaces whatever was there. (Without it, the
/// kernel only maps into free address space.)
unsafe fn mmap(
    addr: u64,
    len: u64,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    offset: u64,
) -> Result<u64, Errno> {
    // SAFETY: the caller promises the range is not the program's memory, so
    // replacing or adding a mapping there affects no Rust object.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mmap,
            arg(addr),
            arg(len),
            c_long::from(prot),
            c_long::from(flags),
            c_long::from(fd),
            arg(offset),
        )
    };
    check(ret)
}

/// `munmap(addr, len)`.
///
/// # Safety
///
/// The range must hold no memory that the program uses other than through
/// this module and [`probe`].
unsafe fn munmap(addr: u64, len: u64) -> Result<(), Errno> {
    // SAFETY: the caller promises the range is not the program's memory.
    let ret = unsafe { libc::syscall(libc::SYS_munmap, arg(addr), arg(len)) };
    check(ret).map(drop)
}

/// `mprotect(addr, len, prot)`.
///
/// # Safety
///
/// The range must hold no memory that the program uses other than through
/// this module and [`probe`] (taking write access away from the program's
/// own memory would break it).
unsafe fn mprotect(addr: u64, len: u64, prot: c_int) -> Result<(), Errno> {
    // SAFETY: the caller promises the range is not the program's memory.
    let ret = unsafe { libc::syscall(libc::SYS_mprotect, arg(addr), arg(len), c_long::from(prot)) };
    check(ret).map(drop)
}

/// `mremap(old, old_len, new_len, flags, new)`.
///
/// # Safety
///
/// The old range, the old start with the new length, and with
/// `MREMAP_FIXED` the new range must hold no memory that the program uses
/// other than through [`Zone`].
unsafe fn mremap(
    old: u64,
    old_len: u64,
    new_len: u64,
    flags: c_int,
    new: u64,
) -> Result<u64, Errno> {
    // SAFETY: the caller promises the ranges are not the program's memory;
    // a move without MREMAP_FIXED only lands in free address space.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mremap,
            arg(old),
            arg(old_len),
            arg(new_len),
            c_long::from(flags),
            arg(new),
        )
    };
    check(ret)
}

/// `madvise(addr, len, advice)`.
///
/// # Safety
///
/// The range must hold no memory that the program uses other than through
/// this module and [`probe`] (`MADV_DONTNEED` and `MADV_FREE` discard
/// contents).
unsafe fn madvise(addr: u64, len: u64, advice: c_int) -> Result<(), Errno> {
    // SAFETY: the caller promises the range is not the program's memory.
    let ret =
        unsafe { libc::syscall(libc::SYS_madvise, arg(addr), arg(len), c_long::from(advice)) };
    check(ret).map(drop)
}

/// `mlock(addr, len)`: pins and faults in pages, changes no contents.
fn mlock(addr: u64, len: u64) -> Result<(), Errno> {
    // SAFETY: mlock only faults pages in and marks VMAs locked; it reads or
    // writes no memory on the program's behalf, whatever the range.
    let ret = unsafe { libc::syscall(libc::SYS_mlock, arg(addr), arg(len)) };
    check(ret).map(drop)
}

/// `mlock2(addr, len, flags)`: as [`mlock`]; with `MLOCK_ONFAULT` it
/// faults nothing in.
fn mlock2(addr: u64, len: u64, flags: c_int) -> Result<(), Errno> {
    // SAFETY: as mlock: it only faults pages in and marks VMAs locked.
    let ret = unsafe { libc::syscall(libc::SYS_mlock2, arg(addr), arg(len), c_long::from(flags)) };
    check(ret).map(drop)
}

/// `mlockall(flags)`: locks (and with `MCL_CURRENT` faults in) every
/// mapping of the process, the runner's own included, and with
/// `MCL_FUTURE` every mapping to come; changes no contents.
fn mlockall(flags: c_int) -> Result<(), Errno> {
    // SAFETY: mlockall only marks VMAs locked, changes mm->def_flags and
    // faults pages in (as reads, or as writes where the memory is
    // private and writable, which changes no byte); it reads or writes
    // no memory contents on the program's behalf.
    let ret = unsafe { libc::syscall(libc::SYS_mlockall, c_long::from(flags)) };
    check(ret).map(drop)
}

/// `munlockall()`: changes no contents.
fn munlockall() -> Result<(), Errno> {
    // SAFETY: munlockall only clears VM_LOCKED_MASK and mm->def_flags.
    let ret = unsafe { libc::syscall(libc::SYS_munlockall) };
    check(ret).map(drop)
}

/// `ftruncate(fd, size)` with `size` as the kernel's `off_t` (so 2^63 and
/// above are negative: `EINVAL`).
pub(crate) fn ftruncate(fd: c_int, size: u64) -> Result<(), Errno> {
    // SAFETY: ftruncate changes the file's size; the pages it drops are
    // only mapped by the script's mappings (the runner maps its memfds
    // nowhere else), which the runner reaches only through `Zone` (the
    // touch probe survives the SIGBUS that follows).
    let ret = unsafe { libc::syscall(libc::SYS_ftruncate, c_long::from(fd), size as c_long) };
    check(ret).map(drop)
}

/// `munlock(addr, len)`: changes no contents.
fn munlock(addr: u64, len: u64) -> Result<(), Errno> {
    // SAFETY: munlock only clears VM_LOCKED; it touches no memory contents.
    let ret = unsafe { libc::syscall(libc::SYS_munlock, arg(addr), arg(len)) };
    check(ret).map(drop)
}

/// `mseal(addr, len, 0)`: seals the VMAs of the range.
///
/// # Safety
///
/// The range must hold no memory that the program uses other than through
/// this module and [`probe`]: sealed memory can never be unmapped or
/// changed again in this process.
unsafe fn mseal(addr: u64, len: u64) -> Result<(), Errno> {
    // SAFETY: the caller promises the range is not the program's memory.
    let ret = unsafe { libc::syscall(libc::SYS_mseal, arg(addr), arg(len), 0 as c_long) };
    check(ret).map(drop)
}

/// `pkey_mprotect(addr, len, prot, pkey)`.
///
/// # Safety
///
/// As [`mprotect`]: the range must hold no memory that the program uses
/// other than through this module and [`probe`] (a key whose rights deny
/// access, like a protection that does, would break it).
unsafe fn pkey_mprotect(addr: u64, len: u64, prot: c_int, pkey: c_int) -> Result<(), Errno> {
    // SAFETY: the caller promises the range is not the program's memory.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pkey_mprotect,
            arg(addr),
            arg(len),
            c_long::from(prot),
            c_long::from(pkey),
        )
    };
    check(ret).map(drop)
}

/// `pkey_alloc(0, rights)`: a new key, whose rights (in this thread's PKRU)
/// are `rights`.
fn pkey_alloc(rights: u32) -> Result<i32, Errno> {
    // SAFETY: pkey_alloc changes no mapping and no memory contents. It sets
    // the new key's rights in PKRU, which only affects pages that carry the
    // key; only `pkey_mprotect` through `Zone` (and the kernel's
    // execute-only key, for `PROT_EXEC`-only mappings, which only the
    // script makes) puts a key other than 0 on pages, so those pages are
    // the script's. (A freed key may still be on the script's VMAs; that is
    // for the script to see.)
    let ret = unsafe { libc::syscall(libc::SYS_pkey_alloc, 0 as c_long, c_long::from(rights)) };
    // A key is a small non-negative int.
    check(ret).map(|key| key as i32)
}

/// `pkey_free(key)`.
fn pkey_free(key: c_int) -> Result<(), Errno> {
    // SAFETY: pkey_free only marks the key free in the mm's allocation map;
    // it changes no mapping, no memory and no PKRU rights.
    let ret = unsafe { libc::syscall(libc::SYS_pkey_free, c_long::from(key)) };
    check(ret).map(drop)
}

/// What [`fork`] returned in this process.
pub(crate) enum Forked {
    /// This is the child.
    Child,
    /// This is the parent; the child's pid.
    Parent(libc::pid_t),
}

/// `fork(2)`.
///
/// The runner is single-threaded (it never spawns a thread), so the child
/// is a complete copy of the only thread: every lock it holds (standard
/// output's) is held by the same thread in the child, and nothing is
/// half-done. The window's mappings are copied as the script expects.
pub(crate) fn fork() -> Result<Forked, Errno> {
    // SAFETY: a single-threaded process may fork and go on running any
    // code in the child (see above); fork has no memory-safety
    // preconditions of its own.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(last_errno()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// In a child of `fork parent`: does nothing, printing nothing, until
/// killed (by the parent at the end of the script, or with it:
/// `PR_SET_PDEATHSIG`). Never returns.
pub(crate) fn idle_until_killed(parent: libc::pid_t) -> ! {
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets this process's signal on
    // its parent's death; getppid and pause have no preconditions; _exit
    // ends the process without running destructors or flushing standard
    // output (which the parent owns).
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != parent {
            libc::_exit(0);
        }
        loop {
            libc::pause();
        }
    }
}

/// In the parent of `fork child`: waits for the child, kills `others` (its
/// children from `fork parent`) and exits with the child's status (128 +
/// the signal if a signal killed it), printing nothing. Never returns.
pub(crate) fn wait_and_exit(child: libc::pid_t, others: &[libc::pid_t]) -> ! {
    let mut status = 0;
    // SAFETY: waitpid writes only `status`; kill signals our own children.
    let code = unsafe {
        while libc::waitpid(child, &mut status, 0) == -1 {
            if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                break;
            }
        }
        kill_children(others);
        if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else if libc::WIFSIGNALED(status) {
            128 + libc::WTERMSIG(status)
        } else {
            1
        }
    };
    // SAFETY: _exit ends the process at once: no destructors, no flush of
    // standard output, which the child wrote after our last line.
    unsafe { libc::_exit(code) }
}

/// Kills and reaps the children of `fork parent`.
pub(crate) fn kill_children(children: &[libc::pid_t]) {
    for &pid in children {
        // SAFETY: `pid` is a child of this process that has not been
        // reaped, so the pid cannot have been reused; kill and waitpid
        // touch no memory of ours but `status`.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
        }
    }
}

/// `RLIMIT_STACK` for the script's stacks (`growsdown` mappings), what the
/// model assumes: 8 MiB.
pub(crate) const STACK_LIMIT: u64 = 8 << 20;

/// Sets the soft `RLIMIT_STACK` to [`STACK_LIMIT`] (raising the hard limit
/// to it if it is lower, which needs root), so that how far a script's
/// stack grows does not depend on the shell that started the runner.
fn pin_stack_limit() -> Result<(), String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given, nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut limit) } != 0 {
        return Err(format!(
            "getrlimit(RLIMIT_STACK): {}",
            io::Error::last_os_error()
        ));
    }
    limit.rlim_cur = STACK_LIMIT;
    limit.rlim_max = limit.rlim_max.max(STACK_LIMIT);
    // SAFETY: setrlimit reads the struct; a smaller stack limit does not
    // shrink the main thread's stack VMA, only how far it may grow, and
    // the runner's own stack stays far below 8 MiB.
    if unsafe { libc::setrlimit(libc::RLIMIT_STACK, &limit) } != 0 {
        return Err(format!(
            "cannot set RLIMIT_STACK to 8 MiB: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// A new memfd called `name` (so `/proc` shows `/memfd:NAME (deleted)`),
/// read-write, close-on-exec, sized `size` bytes (sparse: it costs nothing
/// until written).
pub(crate) fn memfd(name: &str, size: u64) -> io::Result<File> {
    let c_name = CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: c_name is a valid NUL-terminated string for the whole call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_memfd_create,
            c_name.as_ptr(),
            c_long::from(libc::MFD_CLOEXEC),
        )
    };
    let fd = c_int::try_from(check(ret).map_err(|e| io::Error::from_raw_os_error(e.raw()))?)
        .map_err(|_| io::Error::other("memfd_create returned a huge fd"))?;
    // SAFETY: memfd_create just returned this descriptor; nothing else owns
    // it, so the File becomes its only owner.
    let file = unsafe { File::from_raw_fd(fd) };
    file.set_len(size)?;
    debug_assert_eq!(file.as_raw_fd(), fd);
    Ok(file)
}

/// The window and spill zone, checked free: the safe way to run the
/// script's system calls. Addresses in and out are relative to the window.
///
/// # Invariants
///
/// `[BASE, BASE + ZONE_SIZE)` held no mapping when the `Zone` was made, and
/// since then only `Zone` methods have mapped anything there, so every
/// mapping in it is the script's.
pub(crate) struct Zone {
    probe: Probe,
}

impl Zone {
    /// Checks in `/proc/self/maps` that the zone is free and installs the
    /// touch probe's fault handlers; the error says what is in the way.
    pub(crate) fn claim() -> Result<Zone, String> {
        let maps = std::fs::read_to_string("/proc/self/maps")
            .map_err(|e| format!("cannot read /proc/self/maps: {e}"))?;
        window::check_free(&maps)?;
        pin_stack_limit()?;
        let probe = Probe::install().map_err(|e| format!("cannot install fault handlers: {e}"))?;
        // INVARIANT: the zone is free now, and nothing else maps into it.
        Ok(Zone { probe })
    }

    /// Panics unless a script may name the range: the parser has already
    /// refused such scripts, so this is a bug, and running it could hit the
    /// runner's own memory.
    fn allow(start: u64, len: u64) {
        assert!(
            range_allowed(start, len),
            "range {start:#x}+{len:#x} is outside the zone (the parser should have refused it)"
        );
    }

    /// `mmap`; returns the relative address. The range is checked if `flags`
    /// has `MAP_FIXED` or `MAP_FIXED_NOREPLACE`; a hint is not (the kernel
    /// only puts a hinted mapping in free space).
    pub(crate) fn mmap(
        &self,
        addr: u64,
        len: u64,
        prot: c_int,
        flags: c_int,
        fd: c_int,
        offset: u64,
    ) -> Result<u64, Errno> {
        if flags & (libc::MAP_FIXED | libc::MAP_FIXED_NOREPLACE) != 0 {
            Zone::allow(addr, len);
        }
        // SAFETY: a fixed range is allowed, so by the invariant it holds
        // only the script's mappings or Linux rejects it; a hint replaces
        // nothing.
        let addr = unsafe { mmap(window::absolute(addr), len, prot, flags, fd, offset)? };
        Ok(window::relative(addr))
    }

    /// `munmap`.
    pub(crate) fn munmap(&self, addr: u64, len: u64) -> Result<(), Errno> {
        Zone::allow(addr, len);
        // SAFETY: allowed, so the script's memory or rejected (invariant).
        unsafe { munmap(window::absolute(addr), len) }
    }

    /// `mprotect`.
    pub(crate) fn mprotect(&self, addr: u64, len: u64, prot: c_int) -> Result<(), Errno> {
        Zone::allow(addr, len);
        // SAFETY: allowed, so the script's memory or rejected (invariant).
        unsafe { mprotect(window::absolute(addr), len, prot) }
    }

    /// `mremap` with `MREMAP_FIXED` to `new` if it is some (the caller
    /// puts `MREMAP_FIXED` in `flags` too), else a new address of 0.
    /// Returns the relative address.
    pub(crate) fn mremap(
        &self,
        old: u64,
        old_len: u64,
        new_len: u64,
        flags: c_int,
        new: Option<u64>,
    ) -> Result<u64, Errno> {
        Zone::allow(old, old_len);
        Zone::allow(new.unwrap_or(old), new_len);
        let new = new.map_or(0, window::absolute);
        // SAFETY: the old range, and the new one (or the old start grown
        // in place) are allowed, so the script's memory or rejected
        // (invariant); a move without MREMAP_FIXED lands in free space.
        let addr = unsafe { mremap(window::absolute(old), old_len, new_len, flags, new)? };
        Ok(window::relative(addr))
    }

    /// `madvise`.
    pub(crate) fn madvise(&self, addr: u64, len: u64, advice: c_int) -> Result<(), Errno> {
        Zone::allow(addr, len);
        // SAFETY: allowed, so the script's memory or rejected (invariant).
        unsafe { madvise(window::absolute(addr), len, advice) }
    }

    /// `mlock`.
    pub(crate) fn mlock(&self, addr: u64, len: u64) -> Result<(), Errno> {
        Zone::allow(addr, len);
        mlock(window::absolute(addr), len)
    }

    /// `mlock2`.
    pub(crate) fn mlock2(&self, addr: u64, len: u64, flags: c_int) -> Result<(), Errno> {
        Zone::allow(addr, len);
        mlock2(window::absolute(addr), len, flags)
    }

    /// `mlockall`: of the whole process (the window's mappings are the
    /// script's; the runner's own get locked too, which changes none of
    /// its memory).
    pub(crate) fn mlockall(&self, flags: c_int) -> Result<(), Errno> {
        mlockall(flags)
    }

    /// `munlockall`.
    pub(crate) fn munlockall(&self) -> Result<(), Errno> {
        munlockall()
    }

    /// `munlock`.
    pub(crate) fn munlock(&self, addr: u64, len: u64) -> Result<(), Errno> {
        Zone::allow(addr, len);
        munlock(window::absolute(addr), len)
    }

    /// `mseal` (flags 0). A sealed mapping stays until the process exits:
    /// each run is a process of its own, so the next run starts free.
    pub(crate) fn mseal(&self, addr: u64, len: u64) -> Result<(), Errno> {
        Zone::allow(addr, len);
        // SAFETY: allowed, so the script's memory or rejected (invariant).
        unsafe { mseal(window::absolute(addr), len) }
    }

    /// `pkey_mprotect`; `pkey` -1 keeps the default key (as `mprotect`).
    pub(crate) fn pkey_mprotect(
        &self,
        addr: u64,
        len: u64,
        prot: c_int,
        pkey: c_int,
    ) -> Result<(), Errno> {
        Zone::allow(addr, len);
        // SAFETY: allowed, so the script's memory or rejected (invariant).
        unsafe { pkey_mprotect(window::absolute(addr), len, prot, pkey) }
    }

    /// `pkey_alloc(0, rights)`; returns the key.
    pub(crate) fn pkey_alloc(&self, rights: u32) -> Result<i32, Errno> {
        pkey_alloc(rights)
    }

    /// `pkey_free`.
    pub(crate) fn pkey_free(&self, key: c_int) -> Result<(), Errno> {
        pkey_free(key)
    }

    /// A one-byte load or store (of 0) at `addr`, surviving a fault.
    pub(crate) fn touch(&self, addr: u64, write: bool) -> Touched {
        Zone::allow(addr, 1);
        // SAFETY: allowed, so the byte is the script's memory or outside
        // user space (where it faults) by the invariant.
        unsafe { self.probe.touch(window::absolute(addr), write) }
    }
}
