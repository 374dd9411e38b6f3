//! The host system calls, one thin wrapper each: host errors become
//! pervma [`Errno`]s with a reason, never panics.
//!
//! The calls that change mappings are `unsafe fn`s: changing what an
//! address maps can pull memory from under any Rust reference into it,
//! so the caller must own the range (for [`HostMemory`](crate::HostMemory):
//! it lies inside its reservation, which nothing else in the process
//! maps or references).

use pervma::Errno;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The `Errno` of the host's last error, with `reason`; `ENOMEM` for a
/// number pervma does not know.
fn last_error(reason: &'static str) -> Errno {
    let raw = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    Errno::from_raw(raw)
        .unwrap_or(Errno::ENOMEM)
        .because(reason)
}

/// `Ok` for a return value other than -1, else the host's error.
fn check(ret: libc::c_int, reason: &'static str) -> Result<(), Errno> {
    if ret == -1 {
        Err(last_error(reason))
    } else {
        Ok(())
    }
}

/// `memfd_create(name, MFD_CLOEXEC)`.
pub(crate) fn memfd_create(name: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: `name` is a valid NUL-terminated string; the call creates a
    // new descriptor and touches no memory of ours.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by `memfd_create`, open and owned by
    // nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `ftruncate(fd, size)`.
pub(crate) fn ftruncate(fd: BorrowedFd<'_>, size: u64) -> Result<(), Errno> {
    let size = i64::try_from(size).map_err(|_| Errno::EFBIG.because("file size above 2^63"))?;
    // SAFETY: no memory is touched; `fd` is open for the call's duration.
    check(
        unsafe { libc::ftruncate(fd.as_raw_fd(), size) },
        "host ftruncate of a file's memfd failed",
    )
}

/// `mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
/// MAP_NORESERVE)`: address space nobody uses yet, anywhere.
pub(crate) fn reserve_anywhere(len: usize) -> io::Result<*mut u8> {
    // SAFETY: without MAP_FIXED the host picks free address space, so
    // nothing of ours changes.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_NONE,
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

/// `mmap(addr, len, prot, flags | MAP_FIXED, fd, offset)`.
///
/// # Safety
///
/// The caller owns `[addr, addr + len)`: no other code maps it, and no
/// live reference points into it that the new mapping could invalidate.
pub(crate) unsafe fn mmap_fixed(
    addr: *mut u8,
    len: usize,
    prot: libc::c_int,
    flags: libc::c_int,
    fd: Option<BorrowedFd<'_>>,
    offset: u64,
    reason: &'static str,
) -> Result<(), Errno> {
    let offset =
        i64::try_from(offset).map_err(|_| Errno::EOVERFLOW.because("file offset above 2^63"))?;
    let fd = fd.map_or(-1, |fd| fd.as_raw_fd());
    // SAFETY: the caller owns the range (the contract above); MAP_FIXED
    // replaces only it.
    let p = unsafe { libc::mmap(addr.cast(), len, prot, flags | libc::MAP_FIXED, fd, offset) };
    if p == libc::MAP_FAILED {
        Err(last_error(reason))
    } else {
        debug_assert_eq!(p.cast::<u8>(), addr);
        Ok(())
    }
}

/// `munmap(addr, len)`.
///
/// # Safety
///
/// As [`mmap_fixed`]: the caller owns the range.
pub(crate) unsafe fn munmap(addr: *mut u8, len: usize) -> Result<(), Errno> {
    // SAFETY: the caller owns the range.
    check(
        unsafe { libc::munmap(addr.cast(), len) },
        "host munmap failed",
    )
}

/// `mprotect(addr, len, prot)`.
///
/// # Safety
///
/// As [`mmap_fixed`]: the caller owns the range (taking a permission away
/// would fault any reference into it).
pub(crate) unsafe fn mprotect(addr: *mut u8, len: usize, prot: libc::c_int) -> Result<(), Errno> {
    // SAFETY: the caller owns the range.
    check(
        unsafe { libc::mprotect(addr.cast(), len, prot) },
        "host mprotect failed",
    )
}

/// `madvise(addr, len, advice)`.
///
/// # Safety
///
/// As [`mmap_fixed`]: the caller owns the range (`MADV_DONTNEED` zeroes
/// private pages under any reference into them).
pub(crate) unsafe fn madvise(
    addr: *mut u8,
    len: usize,
    advice: libc::c_int,
    reason: &'static str,
) -> Result<(), Errno> {
    // SAFETY: the caller owns the range.
    check(unsafe { libc::madvise(addr.cast(), len, advice) }, reason)
}

/// `mlock2(addr, len, flags)`.
///
/// # Safety
///
/// As [`mmap_fixed`]: the caller owns the range (locking faults it in).
pub(crate) unsafe fn mlock2(addr: *mut u8, len: usize, flags: libc::c_uint) -> Result<(), Errno> {
    // SAFETY: the caller owns the range.
    check(
        unsafe { libc::mlock2(addr.cast(), len, flags) },
        "host mlock2 failed",
    )
}

/// `munlock(addr, len)`.
///
/// # Safety
///
/// As [`mmap_fixed`]: the caller owns the range.
pub(crate) unsafe fn munlock(addr: *mut u8, len: usize) -> Result<(), Errno> {
    // SAFETY: the caller owns the range.
    check(
        unsafe { libc::munlock(addr.cast(), len) },
        "host munlock failed",
    )
}

/// `mremap(from, len, new_len, MREMAP_MAYMOVE | MREMAP_FIXED | extra, to)`.
///
/// # Safety
///
/// As [`mmap_fixed`]: the caller owns both ranges.
pub(crate) unsafe fn mremap_fixed(
    from: *mut u8,
    len: usize,
    new_len: usize,
    to: *mut u8,
    extra: libc::c_int,
) -> Result<(), Errno> {
    // SAFETY: the caller owns both ranges.
    let p = unsafe {
        libc::mremap(
            from.cast(),
            len,
            new_len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED | extra,
            to.cast::<libc::c_void>(),
        )
    };
    if p == libc::MAP_FAILED {
        Err(last_error("host mremap failed"))
    } else {
        Ok(())
    }
}

/// `mremap(addr, len, new_len, 0)`: grows the mapping in place.
///
/// # Safety
///
/// As [`mmap_fixed`]: the caller owns `[addr, addr + new_len)`.
pub(crate) unsafe fn mremap_in_place(
    addr: *mut u8,
    len: usize,
    new_len: usize,
) -> Result<(), Errno> {
    // SAFETY: the caller owns the range; without MREMAP_MAYMOVE nothing
    // moves.
    let p = unsafe { libc::mremap(addr.cast(), len, new_len, 0) };
    if p == libc::MAP_FAILED {
        Err(last_error("host mremap growing in place failed"))
    } else {
        Ok(())
    }
}

/// Whether a host page of `[addr, addr + len)` is a guard region
/// (`MADV_GUARD_INSTALL`): bit 58 (`PM_GUARD_REGION`, Linux 6.15) of its
/// `/proc/self/pagemap` entry. Reading pagemap touches nothing.
///
/// # Errors
///
/// When pagemap cannot be read.
pub(crate) fn pagemap_guard(addr: *mut u8, len: usize) -> io::Result<bool> {
    use std::os::unix::fs::FileExt;
    const PM_GUARD_REGION: u64 = 1 << 58;
    let page = pervma::PAGE_SIZE as usize;
    let first = addr as usize / page;
    let pages = (addr as usize + len.max(1)).div_ceil(page) - first;
    let pagemap = std::fs::File::open("/proc/self/pagemap")?;
    let mut entries = vec![0u8; pages * 8];
    pagemap.read_exact_at(&mut entries, first as u64 * 8)?;
    Ok(entries
        .chunks_exact(8)
        .any(|e| u64::from_ne_bytes(e.try_into().unwrap()) & PM_GUARD_REGION != 0))
}
