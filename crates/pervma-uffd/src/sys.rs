//! The userfaultfd uapi and the raw system calls: the only module with
//! `unsafe` code.
//!
//! Linux: include/uapi/linux/userfaultfd.h, fs/userfaultfd.c.
//!
//! The structs and ioctl numbers are written out here (no bindgen, no
//! libclang); `tests/uapi.rs` checks each against the kernel headers when
//! the machine has them (and against the values of torvalds/linux for the
//! ones older headers lack: `UFFDIO_POISON`, `UFFD_FEATURE_WP_UNPOPULATED`).
//! Raw core, safe shell: each function here is one system call; the types above ([`crate::Uffd`],
//! [`crate::OwnMemory`]) decide when calling it is sound.
//!
//! | ioctl | dir | nr | argument | size |
//! |---|---|---|---|---|
//! | `UFFDIO_API` | RW | 0x3f | `uffdio_api` | 24 |
//! | `UFFDIO_REGISTER` | RW | 0x00 | `uffdio_register` | 32 |
//! | `UFFDIO_UNREGISTER` | R | 0x01 | `uffdio_range` | 16 |
//! | `UFFDIO_WAKE` | R | 0x02 | `uffdio_range` | 16 |
//! | `UFFDIO_COPY` | RW | 0x03 | `uffdio_copy` | 40 |
//! | `UFFDIO_ZEROPAGE` | RW | 0x04 | `uffdio_zeropage` | 32 |
//! | `UFFDIO_WRITEPROTECT` | RW | 0x06 | `uffdio_writeprotect` | 24 |
//! | `UFFDIO_CONTINUE` | RW | 0x07 | `uffdio_continue` | 32 |
//! | `UFFDIO_POISON` | RW | 0x08 | `uffdio_poison` | 32 |
//! | `USERFAULTFD_IOC_NEW` (on `/dev/userfaultfd`) | none | 0x00 | none | 0 |
//!
//! (`UNREGISTER` and `WAKE` are `_IOR` though they only pass data in: the
//! header says the mistake is ABI now.)

#![allow(non_camel_case_types, missing_docs)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `UFFD_API`.
pub const UFFD_API: u64 = 0xaa;
/// The ioctl type of every `UFFDIO_*` (`UFFDIO`, `USERFAULTFD_IOC`).
pub const UFFDIO: u64 = 0xaa;
/// `UFFD_USER_MODE_ONLY`: faults from kernel mode (`copy_to_user`) are
/// not handled; what an unprivileged process may ask for.
pub const UFFD_USER_MODE_ONLY: i32 = 1;

// The ioctl numbers (`_UFFDIO_*`); `UFFDIO_REGISTER` returns the range
// ioctls a range supports as a bit per number (`1 << _UFFDIO_COPY`, ...).
pub const _UFFDIO_WAKE: u64 = 0x02;
pub const _UFFDIO_COPY: u64 = 0x03;
pub const _UFFDIO_ZEROPAGE: u64 = 0x04;
pub const _UFFDIO_WRITEPROTECT: u64 = 0x06;
pub const _UFFDIO_CONTINUE: u64 = 0x07;
pub const _UFFDIO_POISON: u64 = 0x08;

const IOC_NONE: u64 = 0;
const IOC_WRITE: u64 = 1;
const IOC_READ: u64 = 2;

/// `_IOC(dir, UFFDIO, nr, size)` (asm-generic/ioctl.h).
const fn ioc(dir: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | (UFFDIO << 8) | nr
}

pub const UFFDIO_API: u64 = ioc(IOC_READ | IOC_WRITE, 0x3f, size_of::<uffdio_api>());
pub const UFFDIO_REGISTER: u64 = ioc(IOC_READ | IOC_WRITE, 0x00, size_of::<uffdio_register>());
pub const UFFDIO_UNREGISTER: u64 = ioc(IOC_READ, 0x01, size_of::<uffdio_range>());
pub const UFFDIO_WAKE: u64 = ioc(IOC_READ, 0x02, size_of::<uffdio_range>());
pub const UFFDIO_COPY: u64 = ioc(IOC_READ | IOC_WRITE, 0x03, size_of::<uffdio_copy>());
pub const UFFDIO_ZEROPAGE: u64 = ioc(IOC_READ | IOC_WRITE, 0x04, size_of::<uffdio_zeropage>());
pub const UFFDIO_WRITEPROTECT: u64 =
    ioc(IOC_READ | IOC_WRITE, 0x06, size_of::<uffdio_writeprotect>());
pub const UFFDIO_CONTINUE: u64 = ioc(IOC_READ | IOC_WRITE, 0x07, size_of::<uffdio_continue>());
pub const UFFDIO_POISON: u64 = ioc(IOC_READ | IOC_WRITE, 0x08, size_of::<uffdio_poison>());
pub const USERFAULTFD_IOC_NEW: u64 = ioc(IOC_NONE, 0x00, 0);

// `uffd_msg.event`.
pub const UFFD_EVENT_PAGEFAULT: u8 = 0x12;
pub const UFFD_EVENT_FORK: u8 = 0x13;
pub const UFFD_EVENT_REMAP: u8 = 0x14;
pub const UFFD_EVENT_REMOVE: u8 = 0x15;
pub const UFFD_EVENT_UNMAP: u8 = 0x16;

// `uffd_msg.arg.pagefault.flags`.
pub const UFFD_PAGEFAULT_FLAG_WRITE: u64 = 1 << 0;
pub const UFFD_PAGEFAULT_FLAG_WP: u64 = 1 << 1;
pub const UFFD_PAGEFAULT_FLAG_MINOR: u64 = 1 << 2;

// `uffdio_api.features`.
pub const UFFD_FEATURE_PAGEFAULT_FLAG_WP: u64 = 1 << 0;
pub const UFFD_FEATURE_EVENT_FORK: u64 = 1 << 1;
pub const UFFD_FEATURE_EVENT_REMAP: u64 = 1 << 2;
pub const UFFD_FEATURE_EVENT_REMOVE: u64 = 1 << 3;
pub const UFFD_FEATURE_MISSING_HUGETLBFS: u64 = 1 << 4;
pub const UFFD_FEATURE_MISSING_SHMEM: u64 = 1 << 5;
pub const UFFD_FEATURE_EVENT_UNMAP: u64 = 1 << 6;
pub const UFFD_FEATURE_SIGBUS: u64 = 1 << 7;
pub const UFFD_FEATURE_THREAD_ID: u64 = 1 << 8;
pub const UFFD_FEATURE_MINOR_HUGETLBFS: u64 = 1 << 9;
pub const UFFD_FEATURE_MINOR_SHMEM: u64 = 1 << 10;
pub const UFFD_FEATURE_EXACT_ADDRESS: u64 = 1 << 11;
pub const UFFD_FEATURE_WP_HUGETLBFS_SHMEM: u64 = 1 << 12;
pub const UFFD_FEATURE_WP_UNPOPULATED: u64 = 1 << 13;
pub const UFFD_FEATURE_POISON: u64 = 1 << 14;

// `uffdio_register.mode`.
pub const UFFDIO_REGISTER_MODE_MISSING: u64 = 1 << 0;
pub const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;
pub const UFFDIO_REGISTER_MODE_MINOR: u64 = 1 << 2;

// The `mode` bits of COPY, ZEROPAGE, CONTINUE and POISON: bit 0 is
// DONTWAKE in each.
pub const UFFDIO_COPY_MODE_DONTWAKE: u64 = 1 << 0;
pub const UFFDIO_COPY_MODE_WP: u64 = 1 << 1;

// `uffdio_writeprotect.mode`: WP protects; without it the range is
// unprotected and its waiting threads woken, unless DONTWAKE (which the
// kernel refuses together with WP: protecting never wakes).
pub const UFFDIO_WRITEPROTECT_MODE_WP: u64 = 1 << 0;
pub const UFFDIO_WRITEPROTECT_MODE_DONTWAKE: u64 = 1 << 1;

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct uffdio_api {
    pub api: u64,
    pub features: u64,
    pub ioctls: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct uffdio_range {
    pub start: u64,
    pub len: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct uffdio_register {
    pub range: uffdio_range,
    pub mode: u64,
    pub ioctls: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct uffdio_copy {
    pub dst: u64,
    pub src: u64,
    pub len: u64,
    pub mode: u64,
    pub copy: i64,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct uffdio_zeropage {
    pub range: uffdio_range,
    pub mode: u64,
    pub zeropage: i64,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct uffdio_writeprotect {
    pub range: uffdio_range,
    pub mode: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct uffdio_continue {
    pub range: uffdio_range,
    pub mode: u64,
    pub mapped: i64,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct uffdio_poison {
    pub range: uffdio_range,
    pub mode: u64,
    pub updated: i64,
}

/// `struct uffd_msg` (packed in the header, 32 bytes either way): the
/// event byte, reserved bytes, and a 24-byte union, kept here as three
/// words:
///
/// | event | `arg[0]` | `arg[1]` | `arg[2]` |
/// |---|---|---|---|
/// | `PAGEFAULT` | flags | address | `ptid` (low 32 bits) |
/// | `FORK` | `ufd` (low 32 bits) | | |
/// | `REMAP` | from | to | len |
/// | `REMOVE`, `UNMAP` | start | end | |
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct uffd_msg {
    pub event: u8,
    pub reserved1: u8,
    pub reserved2: u16,
    pub reserved3: u32,
    pub arg: [u64; 3],
}

/// The result of a system call: `-1` becomes the thread's `errno`.
fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `userfaultfd(flags)`.
pub fn userfaultfd(flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: userfaultfd takes an int and returns a new descriptor (or -1),
    // which we then own alone.
    let fd = check(unsafe { libc::syscall(libc::SYS_userfaultfd, flags) })?;
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `ioctl(USERFAULTFD_IOC_NEW, flags)` on `/dev/userfaultfd`.
pub fn userfaultfd_dev(dev: &std::fs::File, flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: USERFAULTFD_IOC_NEW takes an int argument by value and returns
    // a new descriptor, which we own alone.
    let fd = check(unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            USERFAULTFD_IOC_NEW as _,
            flags as libc::c_long,
        )
    } as libc::c_long)?;
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// One of the `UFFDIO_*` ioctls whose argument is `*arg`. For COPY,
/// ZEROPAGE, CONTINUE and POISON the kernel fills in the result field
/// even on failure.
///
/// # Safety
///
/// `request` is one of the constants above and `A` its argument type.
/// For `UFFDIO_COPY` the source `[src, src + len)` is readable memory of
/// this process. A COPY, ZEROPAGE, CONTINUE or POISON into this process's
/// own memory only fills pages that were missing (the kernel fails with
/// `EEXIST` otherwise), so it changes no byte anybody has read; the caller
/// makes sure nothing that expects those addresses to stay unpopulated
/// (or stay readable: POISON) relies on it.
pub unsafe fn uffd_ioctl<A>(fd: RawFd, request: u64, arg: &mut A) -> io::Result<()> {
    // SAFETY: the caller chose a request whose argument is an `A`; `arg` is
    // a valid, exclusive reference to it for the duration of the call.
    let ret = unsafe { libc::ioctl(fd, request as _, arg as *mut A) };
    check(ret as libc::c_long).map(drop)
}

/// `read(2)` of as many whole messages as fit in `buf`: the number read,
/// or `Ok(0)` when the (nonblocking) descriptor has none (`EAGAIN`).
pub fn read_msgs(fd: RawFd, buf: &mut [uffd_msg]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for `size_of_val(buf)` bytes, and any bytes
    // are a valid `uffd_msg` (integers only).
    let ret = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), size_of_val(buf)) };
    match check(ret as libc::c_long) {
        Ok(n) => Ok(n as usize / size_of::<uffd_msg>()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
        Err(e) => Err(e),
    }
}

/// `poll(2)` for input on `fds`; which of them are readable (or hung up).
pub fn poll_in(fds: &[RawFd], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structs.
    let ret = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    match check(ret as libc::c_long) {
        Ok(_) => Ok(pfds.iter().map(|p| p.revents != 0).collect()),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(vec![false; fds.len()]),
        Err(e) => Err(e),
    }
}

/// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes two ints and returns a new descriptor.
    let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) } as _)?;
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Adds 1 to an eventfd (wakes its pollers).
pub fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64.
    let _ = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

/// Sets `O_NONBLOCK` on `fd` (a file status flag: shared with every
/// descriptor of the same open file, in any process).
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL take and return ints.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) } as _)?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags as i32 | libc::O_NONBLOCK) } as _).map(drop)
}

/// `mmap(addr, len, prot, flags, fd, off)`; the address it mapped.
///
/// # Safety
///
/// With `MAP_FIXED`, `[addr, addr + len)` holds nothing that any live
/// reference or other code of this process still uses (it is replaced).
pub unsafe fn mmap(
    addr: u64,
    len: u64,
    prot: i32,
    flags: i32,
    fd: RawFd,
    off: u64,
) -> io::Result<u64> {
    // SAFETY: the caller vouches for the range a MAP_FIXED mapping replaces;
    // otherwise the kernel picks a free range.
    let ret = unsafe { libc::mmap(addr as *mut _, len as usize, prot, flags, fd, off as i64) };
    if ret == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as u64)
    }
}

/// `munmap(addr, len)`.
///
/// # Safety
///
/// Nothing uses `[addr, addr + len)` any more.
pub unsafe fn munmap(addr: u64, len: u64) -> io::Result<()> {
    // SAFETY: the caller vouches that the range is unused.
    check(unsafe { libc::munmap(addr as *mut _, len as usize) } as _).map(drop)
}

/// `mprotect(addr, len, prot)`.
///
/// # Safety
///
/// No live reference into `[addr, addr + len)` relies on an access that
/// `prot` takes away.
pub unsafe fn mprotect(addr: u64, len: u64, prot: i32) -> io::Result<()> {
    // SAFETY: the caller vouches for the references into the range.
    check(unsafe { libc::mprotect(addr as *mut _, len as usize, prot) } as _).map(drop)
}

/// `madvise(addr, len, advice)`.
///
/// # Safety
///
/// For advice that drops pages (`MADV_DONTNEED`, `MADV_FREE`,
/// `MADV_REMOVE`): nothing relies on the range's bytes.
pub unsafe fn madvise(addr: u64, len: u64, advice: i32) -> io::Result<()> {
    // SAFETY: the caller vouches for the range's bytes.
    check(unsafe { libc::madvise(addr as *mut _, len as usize, advice) } as _).map(drop)
}

/// Whether the page at `page` of this process is a guard region
/// (`MADV_GUARD_INSTALL`): bit 58 (`PM_GUARD_REGION`, Linux 6.15) of its
/// `/proc/self/pagemap` entry. Safe: reading pagemap touches nothing.
///
/// # Errors
///
/// When pagemap cannot be read.
pub(crate) fn pagemap_guard(page: u64) -> io::Result<bool> {
    use std::os::unix::fs::FileExt;
    const PM_GUARD_REGION: u64 = 1 << 58;
    let pagemap = std::fs::File::open("/proc/self/pagemap")?;
    let mut entry = [0u8; 8];
    pagemap.read_exact_at(&mut entry, page / page_size() * 8)?;
    Ok(u64::from_ne_bytes(entry) & PM_GUARD_REGION != 0)
}

/// `mincore(2)` of the one page at `page` (page aligned): whether it is
/// resident. For private anonymous memory, `false` means the page-table
/// entry is none (a touch there raises a userfault in a range registered
/// `MISSING`) or a swap entry whose page is not in the swap cache (a touch
/// swaps it in without a userfault); `true`, a present page (the zero page
/// included).
///
/// # Errors
///
/// `ENOMEM` where nothing is mapped, `EINVAL` for an unaligned `page`.
pub fn mincore_page(page: u64) -> io::Result<bool> {
    let mut resident = 0u8;
    // SAFETY: mincore writes one byte per page of `[page, page + 1)`,
    // which is one page, into `resident`, a live and exclusive u8; it
    // reads and changes nothing of the range itself, so any address is
    // sound (an unmapped one fails with ENOMEM).
    check(unsafe { libc::mincore(page as *mut _, 1, &mut resident) } as _)?;
    Ok(resident & 1 != 0)
}

/// `mremap(old, old_len, new_len, flags, new)`.
///
/// # Safety
///
/// Nothing uses the old range afterwards, nor what `[new, new + new_len)`
/// held (with `MREMAP_FIXED` it is replaced).
pub unsafe fn mremap(
    old: u64,
    old_len: u64,
    new_len: u64,
    flags: i32,
    new: u64,
) -> io::Result<u64> {
    // SAFETY: the caller vouches for both ranges.
    let ret = unsafe {
        libc::mremap(
            old as *mut _,
            old_len as usize,
            new_len as usize,
            flags,
            new as *mut libc::c_void,
        )
    };
    if ret == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as u64)
    }
}

/// The bytes at `[addr, addr + len)` of this process, borrowed.
///
/// # Safety
///
/// The range is mapped readable and stays mapped, with bytes nobody
/// changes, for `'a`.
pub unsafe fn bytes<'a>(addr: u64, len: usize) -> &'a [u8] {
    // SAFETY: the caller's contract is exactly `from_raw_parts`'.
    unsafe { std::slice::from_raw_parts(addr as *const u8, len) }
}

/// Copies `buf.len()` bytes from `addr` of this process.
///
/// # Safety
///
/// `[addr, addr + buf.len())` is mapped readable.
pub unsafe fn read_at(addr: u64, buf: &mut [u8]) {
    // SAFETY: the source is readable (caller), the destination is `buf`;
    // they do not overlap (`buf` is a Rust buffer, not raw memory).
    unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), buf.len()) }
}

/// Copies `data` to `addr` of this process.
///
/// # Safety
///
/// `[addr, addr + data.len())` is mapped writable and no live Rust
/// reference points into it.
pub unsafe fn write_at(addr: u64, data: &[u8]) {
    // SAFETY: the destination is writable and unaliased (caller).
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), addr as *mut u8, data.len()) }
}

/// `sendmsg` of `data` with one descriptor as `SCM_RIGHTS`.
pub fn send_with_fd(sock: RawFd, data: &[u8], fd: RawFd) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut _,
        iov_len: data.len(),
    };
    let space = cmsg_space(1);
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    let msg = msghdr(&mut iov, &mut cbuf);
    // SAFETY: `msg` has a control buffer of `space` bytes, enough for one
    // header with one descriptor, so CMSG_FIRSTHDR is non-null and its
    // data has room for a RawFd.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
    }
    // SAFETY: `msg` points at live buffers (`iov`, `data`, `cbuf`).
    let ret = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
    check(ret as libc::c_long).map(|n| n as usize)
}

/// `CMSG_SPACE` for `fds` descriptors.
fn cmsg_space(fds: usize) -> usize {
    // SAFETY: CMSG_SPACE is a pure computation.
    unsafe { libc::CMSG_SPACE((fds * size_of::<RawFd>()) as u32) as usize }
}

/// A message of one buffer, `iov`, and the control buffer `cbuf` (all of
/// it), both borrowed for as long as the message is used.
fn msghdr(iov: &mut libc::iovec, cbuf: &mut [u64]) -> libc::msghdr {
    // SAFETY: a zeroed msghdr is a valid empty message.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(cbuf) as _;
    msg
}

/// `recvmsg` into `buf`, taking the first descriptor passed as
/// `SCM_RIGHTS` (others are closed).
pub fn recv_with_fd(sock: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = vec![0u64; cmsg_space(4).div_ceil(8)];
    let mut msg = msghdr(&mut iov, &mut cbuf);
    // SAFETY: `msg` points at live, writable buffers.
    let n = check(unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) } as _)?;
    let mut first = None;
    // SAFETY: the kernel filled `msg_controllen` bytes of `cbuf` with
    // well-formed headers; CMSG_FIRSTHDR/NXTHDR stay inside them.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                let count =
                    ((*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / size_of::<RawFd>();
                for i in 0..count {
                    let fd = std::ptr::read_unaligned(data.add(i));
                    // The kernel installed `fd` for us: we own it.
                    let owned = OwnedFd::from_raw_fd(fd);
                    if first.is_none() {
                        first = Some(owned);
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n as usize, first))
}

/// The system's page size.
pub fn page_size() -> u64 {
    // SAFETY: sysconf takes an int.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as u64 }
}

/// `UFFDIO_API`.
pub(crate) fn uffd_ioctl_api(fd: RawFd, api: &mut uffdio_api) -> io::Result<()> {
    // SAFETY: UFFDIO_API takes a uffdio_api; it touches no memory but `api`.
    unsafe { uffd_ioctl(fd, UFFDIO_API, api) }
}

/// `UFFDIO_REGISTER`. Its caller ([`crate::Uffd::register`]) carries the
/// contract of handing the range's missing pages to the descriptor.
pub(crate) fn uffd_ioctl_register(fd: RawFd, reg: &mut uffdio_register) -> io::Result<()> {
    // SAFETY: UFFDIO_REGISTER takes a uffdio_register; what registering
    // means for the range is `Uffd::register`'s (unsafe) contract.
    unsafe { uffd_ioctl(fd, UFFDIO_REGISTER, reg) }
}

/// `UFFDIO_UNREGISTER` or `UFFDIO_WAKE`.
pub(crate) fn uffd_ioctl_range(
    fd: RawFd,
    request: u64,
    range: &mut uffdio_range,
) -> io::Result<()> {
    debug_assert!(request == UFFDIO_UNREGISTER || request == UFFDIO_WAKE);
    // SAFETY: both take a uffdio_range; unregistering gives the range's
    // missing pages back to the kernel (zero fill), waking makes threads
    // fault again: neither changes a byte that was read.
    unsafe { uffd_ioctl(fd, request, range) }
}

/// `UFFDIO_COPY` from the memory `copy.src` points at.
pub(crate) fn uffd_ioctl_copy(fd: RawFd, copy: &mut uffdio_copy) -> io::Result<()> {
    // SAFETY: the source is a live slice of `copy.len` bytes (the caller
    // built `copy` from one); the destination pages are missing pages of a
    // registered range (else EEXIST/ENOENT), whose contents the register
    // contract gave to us.
    unsafe { uffd_ioctl(fd, UFFDIO_COPY, copy) }
}

/// `UFFDIO_ZEROPAGE`.
pub(crate) fn uffd_ioctl_zeropage(fd: RawFd, z: &mut uffdio_zeropage) -> io::Result<()> {
    // SAFETY: fills missing pages of a registered range only (as COPY).
    unsafe { uffd_ioctl(fd, UFFDIO_ZEROPAGE, z) }
}

/// `UFFDIO_POISON`.
pub(crate) fn uffd_ioctl_poison(fd: RawFd, p: &mut uffdio_poison) -> io::Result<()> {
    // SAFETY: marks missing pages of a registered range only (as COPY); an
    // access then gets SIGBUS, which the register contract allows.
    unsafe { uffd_ioctl(fd, UFFDIO_POISON, p) }
}

/// `UFFDIO_CONTINUE`.
pub(crate) fn uffd_ioctl_continue(fd: RawFd, c: &mut uffdio_continue) -> io::Result<()> {
    // SAFETY: maps page-cache pages already there into a registered range's
    // unmapped pages (as COPY, without new bytes).
    unsafe { uffd_ioctl(fd, UFFDIO_CONTINUE, c) }
}

/// `UFFDIO_WRITEPROTECT`.
pub(crate) fn uffd_ioctl_writeprotect(fd: RawFd, wp: &mut uffdio_writeprotect) -> io::Result<()> {
    // SAFETY: UFFDIO_WRITEPROTECT takes a uffdio_writeprotect and changes
    // no byte: it sets or clears the uffd-wp bit of the present pages of
    // a range registered in WP mode (else ENOENT). Protecting makes later
    // writes there wait for the descriptor's holder, which registering in
    // WP mode allowed (`Uffd::register`'s contract); unprotecting gives
    // back the write access the mapping grants, and wakes.
    unsafe { uffd_ioctl(fd, UFFDIO_WRITEPROTECT, wp) }
}

/// A read-only private mapping of a whole file, unmapped on drop.
///
/// # Invariants
///
/// `[addr, addr + len)` is a mapping this value made and owns; nothing
/// else unmaps it or writes to it (it is private and read-only), so its
/// bytes are those of the file when mapped (or later writes to the file:
/// callers accept either).
#[derive(Debug)]
pub struct Mmap {
    addr: u64,
    len: u64,
}

// SAFETY: `Mmap` is a read-only range of memory; sharing or sending the
// pointer between threads is as safe as sharing a `&[u8]`.
unsafe impl Send for Mmap {}
// SAFETY: as above.
unsafe impl Sync for Mmap {}

impl Mmap {
    /// Maps `file` read-only; an empty file maps nothing.
    pub fn file(file: &std::fs::File) -> io::Result<Mmap> {
        let len = file.metadata()?.len();
        if len == 0 {
            return Ok(Mmap { addr: 0, len: 0 });
        }
        // SAFETY: without MAP_FIXED the kernel picks a free range.
        let addr = unsafe {
            mmap(
                0,
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )?
        };
        // INVARIANT: the mapping is new and ours.
        Ok(Mmap { addr, len })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the mapping is ours and read-only for our lifetime
        // (invariant); a file truncated under it gives SIGBUS, not UB.
        unsafe { bytes(self.addr, self.len as usize) }
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: no borrow of `bytes()` outlives `self`.
            let _ = unsafe { munmap(self.addr, self.len) };
        }
    }
}

/// Takes ownership of the descriptor the kernel installed for a
/// `UFFD_EVENT_FORK` message (the child's userfaultfd). The pager's event
/// loop calls it exactly once per such message it read, so the
/// descriptor is ours and nothing else knows it; dropping the result
/// closes it.
pub(crate) fn adopt_fork_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: per the contract above, the kernel installed `fd` for this
    // process in a FORK message that only our caller read, and it adopts
    // it once.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
