//! # pervma-uffd: serving real page faults through per-VMA locks
//!
//! A userfaultfd hands a range's page faults to user space: a thread that
//! touches a missing page sleeps until a handler maps one there
//! (`UFFDIO_COPY`, `UFFDIO_ZEROPAGE`, ...). Snapshot restore (Firecracker),
//! live migration, far memory (UMap) and sandboxes all serve faults this
//! way, and each handler keeps a map of what every range is. Kept behind
//! one lock, that map makes every fault wait whenever the process maps,
//! unmaps or protects *anything*: the stall per-VMA locks removed from
//! Linux's own fault path.
//!
//! This crate keeps the map in a [`pervma::Mm`] at the memory's real
//! addresses (guest address == host address) and resolves each fault
//! under [`Mm::lock_vma`](pervma::Mm::lock_vma): the fault reads its VMA
//! without waiting for changes to other ranges, and holds its read lock
//! while it maps the page, so a change to *its* range waits for it and the
//! answer is never stale. The VMA says what the page holds (anonymous:
//! zeroes; a file: its bytes at the VMA's `pgoff`; past the end: `SIGBUS`)
//! and a [`Contents`] turns that into bytes ([`FileContents`] is Linux's
//! rule).
//!
//! ## The pieces
//!
//! - [`Uffd`]: opening (`userfaultfd(2)` with `UFFD_USER_MODE_ONLY`, else
//!   `/dev/userfaultfd`; a refusal names `vm.unprivileged_userfaultfd`),
//!   registering (MISSING, WP, MINOR), write-protecting, resolving,
//!   waking, reading [`Event`]s. [`sys`] is the uapi, written out and checked against the
//!   kernel headers by `tests/uapi.rs`.
//! - [`Pager`]: N handler threads on one userfaultfd ([`PagerConfig`]:
//!   [`Wait::Block`] or [`Wait::Spin`], what to do where the `Mm` maps
//!   nothing, whether to apply non-cooperative events); its module docs
//!   give the races (`EEXIST`, `EAGAIN`, ranges that went away) and how
//!   each is handled. [`Stats`] counts what it did.
//! - [`Contents`]: what a fault's page holds, as a [`Resolve`];
//!   [`FileContents`] is Linux's rule (and answers write-protect and
//!   minor faults as below).
//! - [`OwnMemory`]: this process's memory as a pervma
//!   [`Backend`](pervma::Backend): `munmap`, `mprotect`, `mremap` and
//!   `MADV_DONTNEED` made through the `Mm` reach the real memory, under
//!   the operation's locks; user copies through the `Mm`
//!   (`Mm::access_read`, ...) make their page present themselves and never
//!   wait for a handler thread (which may be waiting for the copy's VMA
//!   lock: see its docs).
//! - [`firecracker`]: Firecracker's handler protocol (`pervma
//!   uffd-handler` is its command).
//!
//! ## Write-protect and minor faults
//!
//! A range registered with [`Mode::wp`] takes a fault for each write to a
//! page that [`Uffd::write_protect`] protected (reads go on): the pager
//! hands it to [`Contents::resolve`] with [`Fault::wp`] set, and the
//! contents do what they want with the page as it still is (a
//! snapshotter copies it, a dirty tracker notes it) and answer
//! [`Resolve::Unprotect`]; the write goes on. A shmem range registered
//! with [`Mode::minor`] takes a fault for each page that the page cache
//! has (written through another mapping of the file) but the range does
//! not map yet; [`Resolve::Continue`] maps it. [`FileContents`] answers
//! both so. Whether this kernel has them: [`Uffd::offered`] (the table is
//! in [`features`]); `tests/modes.rs` runs both on real memory.
//! [`OwnMemory`] registers MISSING only.
//!
//! ## Spinning or blocking
//!
//! A handler that blocks in `poll` is woken per fault when faults are
//! sparse; one that spins keeps a core. Measured with `pervma bench
//! --workload uffd` on a 2-vCPU VM (BENCHMARKS.md has the run): with a
//! CPU to spare (one faulting thread), a spinning handler serves a fault
//! in 19-22 us at p50 (the kernel's own fault: 1.6-2.2 us) and a blocking
//! one in 52-59 us (two wake-ups of halted vCPUs per fault); with two
//! faulting threads, two blocking handlers serve the most (82.7k faults/s,
//! against 77.7k for one spinning handler and 45.1k for one blocking
//! one), since a spinner then takes a faulting thread's CPU. The default
//! spins 50 us.
//!
//! Most of a served fault's latency on such a VM is waking the faulting
//! thread's halted vCPU. [`CpuLatency::request(0)`](CpuLatency::request)
//! keeps idle CPUs polling while it is held (system-wide, root's by
//! default): there, a spinning handler served a fault in 9.3 us at p50
//! and one blocking handler two faulting threads' 105.5k faults/s (see
//! [`latency`]).
//!
//! ## `libc`, not `rustix`
//!
//! rustix has no userfaultfd ioctls (they would be raw `ioctl` calls
//! either way) and no `SCM_RIGHTS` helpers beyond what libc gives; libc is
//! already in the workspace. All of it is in [`sys`], the only module
//! with unsafe code besides [`OwnMemory`]'s `mmap` calls.
//!
//! ## Serving faults
//!
//! ```
//! use pervma::{File, MapFlags, Mm, Prot};
//! use pervma_uffd::{FileContents, OpenOptions, OwnMemory, Pager, PagerConfig, Uffd, PAGE};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let uffd = match Uffd::open(OpenOptions::default()) {
//!     Ok(uffd) => Arc::new(uffd),
//!     Err(e) => return eprintln!("no userfaultfd here: {e}"), // names the sysctl
//! };
//! // A file of 16 pages; VMAs that map it read these bytes.
//! let file = File::new("snapshot", 16 * PAGE);
//! let bytes: Arc<[u8]> = (0..16 * PAGE).map(|o| (o / PAGE) as u8).collect();
//! let contents = Arc::new(FileContents::new().with_bytes(&file, bytes));
//! // 1 MiB of this process's address space, described by an Mm.
//! let (memory, config) = OwnMemory::reserve(1 << 20, uffd.clone(), contents.clone()).unwrap();
//! let base = memory.base();
//! let mm = Arc::new(Mm::with_backend(config, memory));
//! let pager = Pager::start(mm.clone(), uffd, contents, PagerConfig::default()).unwrap();
//!
//! // Map pages 4.. of the file at `base`: a real mapping, registered.
//! let flags = MapFlags::PRIVATE | MapFlags::FIXED;
//! let rw = Prot::READ | Prot::WRITE;
//! mm.mmap(base, 8 * PAGE, rw, flags, Some((file.clone(), 4 * PAGE)), ()).unwrap();
//! // A real load faults; a handler thread serves the file's page 6.
//! // SAFETY: `base` is mapped readable through the Mm just above.
//! let byte = unsafe { std::ptr::read_volatile((base + 2 * PAGE) as *const u8) };
//! assert_eq!(byte, 6);
//! // MADV_DONTNEED through the Mm drops the real page: it faults again.
//! mm.madvise(base, 8 * PAGE, pervma::Advice::DontNeed).unwrap();
//! // SAFETY: as above.
//! let byte = unsafe { std::ptr::read_volatile((base + 2 * PAGE) as *const u8) };
//! assert_eq!(byte, 6);
//! mm.munmap(base, 8 * PAGE).unwrap(); // the real range goes too
//! let stats = pager.shutdown(Duration::from_secs(5)).unwrap();
//! assert_eq!(stats.copied, 2);
//! ```
#![cfg(target_os = "linux")]
#![warn(missing_docs, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod contents;
pub mod firecracker;
pub mod latency;

pub mod own;
mod pager;
pub mod sys;
mod uffd;

pub use contents::{Contents, Fault, FileContents, Resolve};
pub use latency::CpuLatency;
pub use own::OwnMemory;
pub use pager::{Pager, PagerConfig, Stats, Unmapped, Wait};
pub use uffd::{features, ioctls, Event, Events, Mode, OpenOptions, Uffd, PAGE};
