//! A userfaultfd: opening it, the `UFFDIO_API` handshake, registering
//! ranges, resolving faults, reading events.
//!
//! Linux: fs/userfaultfd.c, mm/userfaultfd.c; Documentation/admin-guide/mm/userfaultfd.rst.

#![deny(unsafe_code)]

use crate::sys;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// The size of the pages this crate serves (`PAGE_SIZE`, 4 KiB).
pub const PAGE: u64 = pervma::PAGE_SIZE;

/// What to ask of the kernel when opening a userfaultfd.
#[derive(Clone, Copy, Debug)]
pub struct OpenOptions {
    /// `UFFD_USER_MODE_ONLY` (the default): only faults from user mode
    /// come to the handler; a system call that copies into a missing page
    /// (`read(2)` into the range) fails with `EFAULT` instead. What an
    /// unprivileged process may open when `vm.unprivileged_userfaultfd` is
    /// 0. `/dev/userfaultfd` honours it too.
    pub user_mode_only: bool,
    /// The features to enable (`UFFD_FEATURE_*`, see [`features`]). Those
    /// the kernel lacks are left out; [`Uffd::features`] says what was
    /// enabled, [`Uffd::offered`] what the kernel has.
    pub features: u64,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            user_mode_only: true,
            features: features::THREAD_ID | features::POISON,
        }
    }
}

/// The `UFFD_FEATURE_*` bits this crate knows.
///
/// Which register modes a kernel has for which memory, from
/// [`Uffd::offered`]:
///
/// | mode | memory | feature |
/// |---|---|---|
/// | MISSING | private anonymous | always |
/// | MISSING | shmem | `MISSING_SHMEM` |
/// | WP | private anonymous | [`PAGEFAULT_FLAG_WP`](features::PAGEFAULT_FLAG_WP) |
/// | WP | shmem, hugetlbfs | [`WP_HUGETLBFS_SHMEM`](features::WP_HUGETLBFS_SHMEM) |
/// | MINOR | shmem | [`MINOR_SHMEM`](features::MINOR_SHMEM) |
///
/// The ioctls a registered range supports are what
/// [`Uffd::register`] returns ([`ioctls`](crate::ioctls)).
pub mod features {
    use crate::sys;
    /// `UFFD_FEATURE_PAGEFAULT_FLAG_WP`: write-protect faults (WP mode) on
    /// anonymous memory. The kernel offers it where the architecture's
    /// page tables have a uffd-wp bit (x86-64 among them).
    pub const PAGEFAULT_FLAG_WP: u64 = sys::UFFD_FEATURE_PAGEFAULT_FLAG_WP;
    /// `UFFD_FEATURE_EVENT_FORK`.
    pub const EVENT_FORK: u64 = sys::UFFD_FEATURE_EVENT_FORK;
    /// `UFFD_FEATURE_EVENT_REMAP`: `mremap` of a registered range.
    pub const EVENT_REMAP: u64 = sys::UFFD_FEATURE_EVENT_REMAP;
    /// `UFFD_FEATURE_EVENT_REMOVE`: `madvise(MADV_DONTNEED/REMOVE)`.
    pub const EVENT_REMOVE: u64 = sys::UFFD_FEATURE_EVENT_REMOVE;
    /// `UFFD_FEATURE_EVENT_UNMAP`: `munmap` of a registered range.
    pub const EVENT_UNMAP: u64 = sys::UFFD_FEATURE_EVENT_UNMAP;
    /// `UFFD_FEATURE_THREAD_ID`: the faulting thread's id in each fault.
    pub const THREAD_ID: u64 = sys::UFFD_FEATURE_THREAD_ID;
    /// `UFFD_FEATURE_MINOR_SHMEM`: minor faults on shmem (MINOR mode).
    pub const MINOR_SHMEM: u64 = sys::UFFD_FEATURE_MINOR_SHMEM;
    /// `UFFD_FEATURE_WP_HUGETLBFS_SHMEM`: WP mode on shmem and hugetlbfs.
    pub const WP_HUGETLBFS_SHMEM: u64 = sys::UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
    /// `UFFD_FEATURE_WP_UNPOPULATED`:
    /// [`Uffd::write_protect`](crate::Uffd::write_protect) protects the
    /// range's pages that are not there yet too (anonymous memory; Linux
    /// 6.4), with a marker in the page table. Without it only present
    /// pages are protected, and a write to a missing page takes no
    /// write-protect fault.
    ///
    /// With it, a touch of a marked page is still a *missing* fault (in
    /// MISSING mode), and the kernel (6.18) treats the marker unevenly:
    /// `UFFDIO_ZEROPAGE` fails with `EEXIST` (as if the page were there),
    /// `UFFDIO_COPY` replaces the marker, the protection with it unless
    /// [`copy_protected`](crate::Uffd::copy_protected). The
    /// [`Pager`](crate::Pager) turns a refused zero page into a protected
    /// copy of zeroes; a [`Resolve::Copy`](crate::Resolve::Copy) is a
    /// plain copy (the page comes unprotected).
    pub const WP_UNPOPULATED: u64 = sys::UFFD_FEATURE_WP_UNPOPULATED;
    /// `UFFD_FEATURE_POISON`: `UFFDIO_POISON`.
    pub const POISON: u64 = sys::UFFD_FEATURE_POISON;
}

/// The range ioctls a registered range supports: the bits of what
/// [`Uffd::register`] returns (`1 << _UFFDIO_*`).
pub mod ioctls {
    use crate::sys;
    /// `UFFDIO_WAKE`.
    pub const WAKE: u64 = 1 << sys::_UFFDIO_WAKE;
    /// `UFFDIO_COPY` ([`Uffd::copy`](crate::Uffd::copy)).
    pub const COPY: u64 = 1 << sys::_UFFDIO_COPY;
    /// `UFFDIO_ZEROPAGE` (not on hugetlbfs).
    pub const ZEROPAGE: u64 = 1 << sys::_UFFDIO_ZEROPAGE;
    /// `UFFDIO_WRITEPROTECT`: only for ranges registered in WP mode.
    pub const WRITEPROTECT: u64 = 1 << sys::_UFFDIO_WRITEPROTECT;
    /// `UFFDIO_CONTINUE`: only for ranges registered in MINOR mode.
    pub const CONTINUE: u64 = 1 << sys::_UFFDIO_CONTINUE;
    /// `UFFDIO_POISON`.
    pub const POISON: u64 = 1 << sys::_UFFDIO_POISON;
}

/// How a range is registered (`UFFDIO_REGISTER_MODE_*`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Mode {
    /// Faults on missing pages (`MISSING`).
    pub missing: bool,
    /// Writes to write-protected pages (`WP`): a page is protected by
    /// [`Uffd::write_protect`] and stays so until unprotected; reads do
    /// not fault.
    pub wp: bool,
    /// Faults on pages that are in the page cache but not mapped (`MINOR`,
    /// shmem and hugetlbfs); [`Uffd::continue_minor`] maps them.
    pub minor: bool,
}

impl Mode {
    /// `MISSING` alone: what a pager needs.
    pub const MISSING: Mode = Mode {
        missing: true,
        wp: false,
        minor: false,
    };

    /// `MINOR` alone: the page cache is filled elsewhere (another mapping
    /// of the same shmem file), and each mapping of a page waits for the
    /// handler.
    pub const MINOR: Mode = Mode {
        missing: false,
        wp: false,
        minor: true,
    };

    fn bits(self) -> u64 {
        (if self.missing {
            sys::UFFDIO_REGISTER_MODE_MISSING
        } else {
            0
        }) | (if self.wp {
            sys::UFFDIO_REGISTER_MODE_WP
        } else {
            0
        }) | (if self.minor {
            sys::UFFDIO_REGISTER_MODE_MINOR
        } else {
            0
        })
    }
}

/// One message read from a userfaultfd (`struct uffd_msg`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A thread faulted at `address` (`UFFD_EVENT_PAGEFAULT`).
    PageFault {
        /// The faulting address (page-aligned unless
        /// `UFFD_FEATURE_EXACT_ADDRESS`).
        address: u64,
        /// A store.
        write: bool,
        /// A write-protect fault (WP mode).
        wp: bool,
        /// A minor fault (MINOR mode): the page is in the page cache.
        minor: bool,
        /// The faulting thread (with `UFFD_FEATURE_THREAD_ID`, else 0).
        thread: u32,
    },
    /// The process forked; `ufd` is the child's userfaultfd, installed
    /// in this process (`UFFD_EVENT_FORK`).
    Fork {
        /// The child's descriptor.
        ufd: RawFd,
    },
    /// `mremap` moved `[from, from + len)` to `to` (`UFFD_EVENT_REMAP`).
    Remap {
        /// The old start.
        from: u64,
        /// The new start.
        to: u64,
        /// The old length.
        len: u64,
    },
    /// `madvise(MADV_DONTNEED/MADV_REMOVE)` dropped `[start, end)`'s pages
    /// (`UFFD_EVENT_REMOVE`): they fault again (missing) afterwards.
    Remove {
        /// The first address.
        start: u64,
        /// One past the last.
        end: u64,
    },
    /// `munmap` removed `[start, end)` (`UFFD_EVENT_UNMAP`).
    Unmap {
        /// The first address.
        start: u64,
        /// One past the last.
        end: u64,
    },
    /// An event this crate does not know.
    Unknown(u8),
}

impl Event {
    fn from_msg(m: &sys::uffd_msg) -> Event {
        let [a, b, c] = m.arg;
        match m.event {
            sys::UFFD_EVENT_PAGEFAULT => Event::PageFault {
                address: b,
                write: a & sys::UFFD_PAGEFAULT_FLAG_WRITE != 0,
                wp: a & sys::UFFD_PAGEFAULT_FLAG_WP != 0,
                minor: a & sys::UFFD_PAGEFAULT_FLAG_MINOR != 0,
                thread: c as u32,
            },
            sys::UFFD_EVENT_FORK => Event::Fork {
                ufd: a as u32 as RawFd,
            },
            sys::UFFD_EVENT_REMAP => Event::Remap {
                from: a,
                to: b,
                len: c,
            },
            sys::UFFD_EVENT_REMOVE => Event::Remove { start: a, end: b },
            sys::UFFD_EVENT_UNMAP => Event::Unmap { start: a, end: b },
            other => Event::Unknown(other),
        }
    }
}

/// A buffer of messages for [`Uffd::read_events`].
pub struct Events {
    msgs: Vec<sys::uffd_msg>,
    len: usize,
}

impl Events {
    /// Room for `n` messages.
    pub fn with_capacity(n: usize) -> Events {
        Events {
            msgs: vec![sys::uffd_msg::default(); n.max(1)],
            len: 0,
        }
    }

    /// The messages of the last read.
    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.msgs[..self.len].iter().map(Event::from_msg)
    }
}

/// A userfaultfd descriptor, after the `UFFDIO_API` handshake.
///
/// Every resolving call ([`copy`](Uffd::copy), [`zeropage`](Uffd::zeropage),
/// [`poison`](Uffd::poison), [`continue_minor`](Uffd::continue_minor))
/// fills pages that are *missing* in a registered range and fails with
/// `EEXIST` where one is present, so it never changes a byte that anybody
/// has read: they are safe. [`write_protect`](Uffd::write_protect) changes
/// no byte either. Registering is what hands a range's missing pages (and
/// with WP its protected pages' writes) to this descriptor's holder, and
/// is `unsafe` ([`register`](Uffd::register)).
#[derive(Debug)]
pub struct Uffd {
    fd: OwnedFd,
    /// Enabled: asked for and offered.
    features: u64,
    /// What the kernel has.
    offered: u64,
}

impl Uffd {
    /// Opens a userfaultfd (nonblocking, close-on-exec) and makes the
    /// `UFFDIO_API` handshake with the features of `opts` that this kernel
    /// has: `userfaultfd(2)`, and if that is not permitted,
    /// `/dev/userfaultfd`.
    ///
    /// # Errors
    ///
    /// `PermissionDenied` naming the sysctl `vm.unprivileged_userfaultfd`
    /// and `/dev/userfaultfd` when neither way is open to this process;
    /// the kernel's error otherwise.
    pub fn open(opts: OpenOptions) -> io::Result<Uffd> {
        let flags = libc::O_CLOEXEC
            | libc::O_NONBLOCK
            | if opts.user_mode_only {
                sys::UFFD_USER_MODE_ONLY
            } else {
                0
            };
        let fd = match sys::userfaultfd(flags) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                let dev = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/userfaultfd")
                    .and_then(|dev| sys::userfaultfd_dev(&dev, flags));
                match dev {
                    Ok(fd) => fd,
                    Err(dev_err) => {
                        return Err(io::Error::new(
                            io::ErrorKind::PermissionDenied,
                            format!(
                                "userfaultfd: not permitted (userfaultfd(2): {e}; /dev/userfaultfd: \
                                 {dev_err}); allow it with `sysctl vm.unprivileged_userfaultfd=1`, \
                                 by giving this user read-write access to /dev/userfaultfd, or \
                                 with CAP_SYS_PTRACE{}",
                                if opts.user_mode_only {
                                    ""
                                } else {
                                    " (or ask for user-mode-only faults)"
                                }
                            ),
                        ));
                    }
                }
            }
            Err(e) => return Err(e),
        };
        // Ask what the kernel has, then for what we want of it: features
        // the kernel lacks fail UFFDIO_API with EINVAL, and the handshake
        // can be made once per descriptor, so probe on a second one.
        let available = Self::probe(flags).unwrap_or(opts.features);
        let features = opts.features & available;
        let mut api = sys::uffdio_api {
            api: sys::UFFD_API,
            features,
            ioctls: 0,
        };
        sys::uffd_ioctl_api(fd.as_raw_fd(), &mut api)?;
        // The kernel answers with every feature it has, not the ones it
        // enabled (fs/userfaultfd.c: "report all available features").
        Ok(Uffd {
            fd,
            features,
            offered: api.features,
        })
    }

    /// The features this kernel offers (a handshake with none requested,
    /// on a descriptor of its own).
    fn probe(flags: i32) -> io::Result<u64> {
        let fd = match sys::userfaultfd(flags) {
            Ok(fd) => fd,
            Err(_) => {
                let dev = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/userfaultfd")?;
                sys::userfaultfd_dev(&dev, flags)?
            }
        };
        let mut api = sys::uffdio_api {
            api: sys::UFFD_API,
            features: 0,
            ioctls: 0,
        };
        sys::uffd_ioctl_api(fd.as_raw_fd(), &mut api)?;
        Ok(api.features)
    }

    /// A userfaultfd some other process opened and handed over (a VMM,
    /// through `SCM_RIGHTS`), its handshake made with `features`. Makes it
    /// nonblocking (a flag its opener shares). What the kernel
    /// [`offered`](Uffd::offered) is asked on a descriptor of our own
    /// (`features` when this process may not open one).
    ///
    /// # Errors
    ///
    /// When `fcntl` fails (not a descriptor).
    pub fn from_fd(fd: OwnedFd, features: u64) -> io::Result<Uffd> {
        sys::set_nonblocking(fd.as_raw_fd())?;
        let flags = libc::O_CLOEXEC | libc::O_NONBLOCK | sys::UFFD_USER_MODE_ONLY;
        let offered = Self::probe(flags).unwrap_or(features);
        Ok(Uffd {
            fd,
            features,
            offered,
        })
    }

    /// The userfaultfd of a child of this one's process (a `FORK` event's
    /// descriptor): the kernel gave it this one's features
    /// (`dup_userfaultfd`), and it runs on the same kernel, so nothing is
    /// asked again.
    pub(crate) fn forked(&self, fd: OwnedFd) -> io::Result<Uffd> {
        sys::set_nonblocking(fd.as_raw_fd())?;
        Ok(Uffd {
            fd,
            features: self.features,
            offered: self.offered,
        })
    }

    /// The features the handshake enabled (`UFFD_FEATURE_*`, [`features`]):
    /// those [`OpenOptions::features`] asked for that the kernel has.
    pub fn features(&self) -> u64 {
        self.features
    }

    /// The features the kernel has, enabled or not (what `UFFDIO_API`
    /// answers): whether WP mode works on anonymous memory
    /// ([`features::PAGEFAULT_FLAG_WP`]) or MINOR mode on shmem
    /// ([`features::MINOR_SHMEM`]); see [`features`] for the table.
    pub fn offered(&self) -> u64 {
        self.offered
    }

    /// Registers `[start, start + len)` (page-aligned, in this process)
    /// with `mode`; returns the ioctls the range supports (a bit per
    /// `_UFFDIO_*` number, [`ioctls`](crate::ioctls): `WRITEPROTECT` only
    /// with `wp`, `CONTINUE` only with `minor`).
    ///
    /// # Errors
    ///
    /// The kernel's: `EINVAL` for a range that is not page-aligned or
    /// whose memory the mode does not support (WP where the kernel lacks
    /// [`features::PAGEFAULT_FLAG_WP`], MINOR on private anonymous memory
    /// or without [`features::MINOR_SHMEM`]), `EBUSY` for a range
    /// registered with another userfaultfd.
    ///
    /// # Safety
    ///
    /// From now on the range's missing pages (`missing`) hold what this
    /// descriptor's holder puts there (or SIGBUS, with `poison`), and an
    /// access to one waits until it does: nothing in the process may rely
    /// on them reading as zeroes (memory from a Rust allocator that was
    /// zeroed by `mmap` does), nor on an access to them completing while
    /// no handler serves this descriptor. With `wp`, a write to a page
    /// the holder [write-protected](Uffd::write_protect) waits until the
    /// holder unprotects it; with `minor`, any access to a page of the
    /// page cache that the range does not map yet waits until the holder
    /// [continues](Uffd::continue_minor) it: nothing may rely on those
    /// completing without a handler either.
    #[allow(unsafe_code)] // the contract is the caller's; the call is safe
    pub unsafe fn register(&self, start: u64, len: u64, mode: Mode) -> io::Result<u64> {
        let mut reg = sys::uffdio_register {
            range: sys::uffdio_range { start, len },
            mode: mode.bits(),
            ioctls: 0,
        };
        sys::uffd_ioctl_register(self.fd.as_raw_fd(), &mut reg)?;
        Ok(reg.ioctls)
    }

    /// Unregisters `[start, start + len)`; threads waiting on it are woken
    /// (and fault again without the handler).
    ///
    /// # Errors
    ///
    /// The kernel's (`EINVAL` for a bad range).
    pub fn unregister(&self, start: u64, len: u64) -> io::Result<()> {
        let mut range = sys::uffdio_range { start, len };
        sys::uffd_ioctl_range(self.fd.as_raw_fd(), sys::UFFDIO_UNREGISTER, &mut range)
    }

    /// `UFFDIO_COPY`: maps a new page (or pages) at `dst` holding `src`
    /// (`src.len()` a multiple of the page size) and wakes the threads
    /// waiting on it.
    ///
    /// # Errors
    ///
    /// `EEXIST`: a page was there already (another handler thread served
    /// it; [`wake`](Uffd::wake) the range). `EAGAIN`: the mapping is
    /// changing (a `REMOVE`/`UNMAP`/`REMAP` event is pending): read the
    /// events, then try again. `ENOENT`/`ESRCH`: the range is no longer
    /// registered or its process is exiting.
    pub fn copy(&self, dst: u64, src: &[u8]) -> io::Result<()> {
        let mut copy = sys::uffdio_copy {
            dst,
            src: src.as_ptr() as u64,
            len: src.len() as u64,
            mode: 0,
            copy: 0,
        };
        sys::uffd_ioctl_copy(self.fd.as_raw_fd(), &mut copy)
    }

    /// [`copy`](Uffd::copy) with `UFFDIO_COPY_MODE_WP`: the new page is
    /// write-protected (as if [`write_protect`](Uffd::write_protect)ed
    /// right after, with no window for a write), so the next write to it
    /// is a write-protect fault. The range must be registered with
    /// [`Mode::wp`].
    ///
    /// # Errors
    ///
    /// As [`copy`](Uffd::copy); `EINVAL` when the range is not registered
    /// in WP mode.
    pub fn copy_protected(&self, dst: u64, src: &[u8]) -> io::Result<()> {
        let mut copy = sys::uffdio_copy {
            dst,
            src: src.as_ptr() as u64,
            len: src.len() as u64,
            mode: sys::UFFDIO_COPY_MODE_WP,
            copy: 0,
        };
        sys::uffd_ioctl_copy(self.fd.as_raw_fd(), &mut copy)
    }

    /// `UFFDIO_ZEROPAGE`: maps the zero page over `[dst, dst + len)` and
    /// wakes. Errors as [`copy`](Uffd::copy)'s.
    ///
    /// # Errors
    ///
    /// As [`copy`](Uffd::copy).
    pub fn zeropage(&self, dst: u64, len: u64) -> io::Result<()> {
        let mut z = sys::uffdio_zeropage {
            range: sys::uffdio_range { start: dst, len },
            mode: 0,
            zeropage: 0,
        };
        sys::uffd_ioctl_zeropage(self.fd.as_raw_fd(), &mut z)
    }

    /// Whether the process whose memory this userfaultfd serves has
    /// exited: an ioctl that needs its address space (`UFFDIO_ZEROPAGE`,
    /// no wake) at `probe`, a page that no range of this userfaultfd
    /// covers, fails with `ESRCH` once the address space is gone
    /// (`mmget_not_zero` in fs/userfaultfd.c) and with `ENOENT` (nothing
    /// registered there) while it lives. The kernel has no other signal:
    /// a userfaultfd whose process exited just never reports again.
    pub fn process_exited(&self, probe: u64) -> bool {
        let mut z = sys::uffdio_zeropage {
            range: sys::uffdio_range {
                start: probe,
                len: PAGE,
            },
            mode: sys::UFFDIO_COPY_MODE_DONTWAKE, // bit 0: DONTWAKE in ZEROPAGE too
            zeropage: 0,
        };
        let r = sys::uffd_ioctl_zeropage(self.fd.as_raw_fd(), &mut z);
        r.is_err_and(|e| e.raw_os_error() == Some(libc::ESRCH))
    }

    /// `UFFDIO_POISON`: accesses to `[dst, dst + len)` get `SIGBUS` until
    /// the range is unmapped or discarded; wakes.
    ///
    /// # Errors
    ///
    /// As [`copy`](Uffd::copy); `EINVAL` when the kernel lacks
    /// `UFFD_FEATURE_POISON` (Linux < 6.6).
    pub fn poison(&self, dst: u64, len: u64) -> io::Result<()> {
        let mut p = sys::uffdio_poison {
            range: sys::uffdio_range { start: dst, len },
            mode: 0,
            updated: 0,
        };
        sys::uffd_ioctl_poison(self.fd.as_raw_fd(), &mut p)
    }

    /// `UFFDIO_CONTINUE`: maps the page-cache pages already there (a
    /// minor fault) and wakes.
    ///
    /// # Errors
    ///
    /// As [`copy`](Uffd::copy).
    pub fn continue_minor(&self, dst: u64, len: u64) -> io::Result<()> {
        let mut c = sys::uffdio_continue {
            range: sys::uffdio_range { start: dst, len },
            mode: 0,
            mapped: 0,
        };
        sys::uffd_ioctl_continue(self.fd.as_raw_fd(), &mut c)
    }

    /// `UFFDIO_WRITEPROTECT`: with `protect`, write-protects the present
    /// pages of `[start, start + len)` (with [`features::WP_UNPOPULATED`],
    /// the missing ones of anonymous memory too): a write to one becomes
    /// a fault for this descriptor ([`Event::PageFault`] with `wp`), reads
    /// go on. Protecting wakes nobody. Without `protect`, the pages are
    /// unprotected (writable as their mapping allows) and the threads
    /// waiting on the range are woken: how a write-protect fault is
    /// resolved, once the holder has done what it wanted with the page
    /// (copied it for a snapshot, noted it dirty).
    ///
    /// The range must be registered with [`Mode::wp`].
    ///
    /// # Errors
    ///
    /// `EAGAIN`: the mapping is changing (a `REMOVE`/`UNMAP`/`REMAP` event
    /// is pending): read the events, then try again. `ENOENT`: part of the
    /// range is not mapped or not registered in WP mode. `EINVAL`: the
    /// range is not page-aligned. `ESRCH`: the process is exiting.
    pub fn write_protect(&self, start: u64, len: u64, protect: bool) -> io::Result<()> {
        let mut wp = sys::uffdio_writeprotect {
            range: sys::uffdio_range { start, len },
            mode: if protect {
                sys::UFFDIO_WRITEPROTECT_MODE_WP
            } else {
                0
            },
        };
        sys::uffd_ioctl_writeprotect(self.fd.as_raw_fd(), &mut wp)
    }

    /// `UFFDIO_WAKE`: wakes the threads waiting on `[start, start + len)`
    /// (they fault again: on a page that another thread mapped, on a range
    /// that is gone).
    ///
    /// # Errors
    ///
    /// The kernel's (`EINVAL` for a bad range).
    pub fn wake(&self, start: u64, len: u64) -> io::Result<()> {
        let mut range = sys::uffdio_range { start, len };
        sys::uffd_ioctl_range(self.fd.as_raw_fd(), sys::UFFDIO_WAKE, &mut range)
    }

    /// Reads as many messages as `buf` holds without waiting; `Ok(0)` when
    /// none is queued.
    ///
    /// # Errors
    ///
    /// The kernel's (`EINVAL` before the handshake).
    pub fn read_events(&self, buf: &mut Events) -> io::Result<usize> {
        buf.len = 0;
        buf.len = sys::read_msgs(self.fd.as_raw_fd(), &mut buf.msgs)?;
        Ok(buf.len)
    }
}

impl AsFd for Uffd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Uffd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
