//! # pervma: Linux's address-space management, with per-VMA locks
//!
//! An address space is a set of *VMAs* (virtual memory areas), each a range
//! of addresses with permissions and a backing. Linux keeps them in a
//! range tree (the maple tree) guarded by one read-write semaphore,
//! `mmap_lock`. A page fault needs only the one VMA under the faulting
//! address, yet it used to take `mmap_lock` for read, so every fault in a
//! process queued behind any thread that was mapping, unmapping or
//! changing protections anywhere, and every fault bounced the semaphore's
//! cache line between cores.
//!
//! *Per-VMA locks* fix both. A fault walks the tree without locks, inside
//! an RCU read section, and read-locks just the VMA it found; writers
//! still take `mmap_lock` for write, and additionally write-lock each VMA
//! they change (waiting for its readers), so a fault never waits for a
//! writer busy with other VMAs. The kernel series "mm: Make per-VMA locks
//! available in all builds" adds the helper that makes this easy to use,
//! `lock_vma_under_rcu_wait()`: try the lock-free path, and on contention
//! take `mmap_lock` for read, lock the VMA, drop `mmap_lock`. pervma is
//! that system in Rust: [`Mm::lock_vma`] is the helper.
//!
//! ## The API in groups
//!
//! - **The address space**: [`Mm<T>`], with a payload `T` per VMA (like
//!   `vm_private_data`; `()` if you need none), laid out by [`MmConfig`].
//!   The operations that change the space, fault or copy need
//!   `T: `[`Payload`] (`Clone + PartialEq + Send + Sync + 'static`, each
//!   bound explained there); lookups work for any `T`.
//! - **Per-VMA read locks**: [`Mm::lock_vma`] (never fails spuriously;
//!   `lock_vma_under_rcu_wait`) and [`Mm::lock_vma_under_rcu`] (the fast
//!   path alone, which may fail). Both return a [`VmaReadGuard`], which
//!   derefs to the [`Vma`] and unlocks on drop (`vma_end_read`).
//! - **`mmap_lock`**: [`Mm::mmap_read_lock`] gives an [`MmapReadGuard`]
//!   (lookups: `vma_lookup`, `find_vma`, iteration; and
//!   `vma_start_read_locked`, whose VMA guard may outlive it);
//!   [`Mm::mmap_write_lock`] gives an [`MmapWriteGuard`], on which the
//!   operations run ([`MmapWriteGuard::mmap`], [`MmapWriteGuard::munmap`],
//!   [`MmapWriteGuard::mremap`], ...).
//!   Dropping a write guard ends the write cycle and with it every VMA
//!   write lock taken in it (`vma_end_write_all`).
//! - **Memory and faults**: every `Mm` has a page table; anonymous pages
//!   are its own, file pages live in the [`File`]'s page cache
//!   ([`File::read_at`], [`File::write_at`]), private file mappings copy
//!   on write. A file gets real contents from a [`FileContents`] given
//!   to [`FileBuilder::contents`] (Linux's `address_space_operations`):
//!   faults read its pages in (a read error is `SIGBUS`), and stores
//!   through shared mappings reach it at [`File::sync`] or when the file
//!   is dropped; a file without contents reads as zeroes until written. [`Mm::handle_fault`] is the fault path (under the per-VMA
//!   lock, falling back to `mmap_lock` only when it must);
//!   [`Mm::access_read`] / [`Mm::access_write`] are `copy_from_user` /
//!   `copy_to_user`; [`VmaReadGuard::read_nofault`] /
//!   [`VmaReadGuard::write_nofault`] copy under a VMA lock without ever
//!   faulting or waiting, and [`Mm::access_vma`] joins the two safely.
//!   [`MmapLocked::vma_smaps`] gives `smaps`' `Rss`, `Anonymous` and
//!   `Locked` as Linux does, [`Mm::vma_resident`] the resident memory
//!   under a VMA lock alone.
//! - **Processes**: [`Mm::fork`] is `fork(2)`'s copy of the space
//!   (`dup_mmap`): a snapshot taken with every VMA write-locked, private
//!   pages shared copy-on-write by the two page tables (a store on either
//!   side copies first), `MADV_DONTFORK`/`MADV_WIPEONFORK` honoured,
//!   locks dropped, `anon_vma`s forked so that the merges fork prevents
//!   are prevented ([`AnonVma::is_fork_child`]). [`Mm::brk`] moves the
//!   heap's break by Linux's rules, from [`MmConfig::start_brk`].
//! - **The machine**: [`MmConfig::arch`] says which CPU features the space
//!   behaves by ([`Arch`]). With x86 protection keys
//!   ([`Arch::X86_64_PKU`], or [`Arch::host`] on such a machine),
//!   `PROT_EXEC`-only memory takes the execute-only key and cannot be
//!   read, and [`Mm::pkey_alloc`], [`Mm::pkey_free`] and
//!   [`Mm::pkey_mprotect`] work, with [`Mm::pkru`] ([`Pkru`]) deciding
//!   what faults, user copies and `mlock` may touch. The default
//!   ([`Arch::X86_64`]) has none, the same answer on every host.
//! - **Real memory**: by default pervma's page table holds the bytes.
//!   [`Mm::with_backend`] plugs in a [`Backend`] instead (a kernel's
//!   page tables and frames, an emulator's host reservation, a pager's
//!   region): every operation applies what it changes to it, under its
//!   own locks, faults [`install`](Backend::install) the page pervma
//!   chose ([`Install`]), and user copies read and write it. See
//!   [`backend`] for when each call comes and a complete kernel example.
//! - **Mirrors of the address space**: an [`MmuNotifier`] registered with
//!   [`Mm::mmu_notifier_register`] is told of every change of what a range
//!   maps or allows ([`MmuNotifierEvent`]: unmap, protection, move,
//!   discard, populate) and when the `Mm` goes, as Linux's MMU notifiers
//!   are: what an emulator's software TLB or a hypervisor's second-stage
//!   tables listen to.
//! - **Maps**: [`Mm::lock_next_vma`], [`Mm::maps_lines`] / [`Mm::maps`]
//!   (`/proc/pid/maps`) and [`Mm::procmap_query`] (`PROCMAP_QUERY`), read
//!   without `mmap_lock`; see "Reading maps without `mmap_lock`" below.
//! - **Errors** are [`Errno`] values, the errno Linux gives for the same
//!   input, with a short reason where Linux's choice is not obvious
//!   ([`Errno::reason`]; equality looks at the number only).
//! - **Counters**: [`Mm::stats`] gives `VMA_LOCK_SUCCESS/ABORT/RETRY/MISS`
//!   and how often `lock_vma` fell back to `mmap_lock`.
//!
//! ```
//! use pervma::{MapFlags, Mm, Prot};
//!
//! let mm: Mm<&'static str> = Mm::new();
//! let heap = mm
//!     .mmap(0x1000_0000, 16 << 12, Prot::READ | Prot::WRITE,
//!           MapFlags::PRIVATE | MapFlags::FIXED, None, "heap")
//!     .unwrap();
//! std::thread::scope(|s| {
//!     // A "fault" on one thread...
//!     s.spawn(|| {
//!         let vma = mm.lock_vma(heap + 0x3000).expect("mapped");
//!         assert_eq!(*vma.payload(), "heap");
//!     });
//!     // ...does not wait for mmap/munmap elsewhere on another.
//!     s.spawn(|| {
//!         let a = mm.mmap(0, 1 << 12, Prot::READ, MapFlags::PRIVATE, None, "tmp").unwrap();
//!         mm.munmap(a, 1 << 12).unwrap();
//!     });
//! });
//! ```
//!
//! ## Serving faults with pervma
//!
//! An emulator, sandbox or userfaultfd pager keeps the guest's address
//! space in an `Mm` and turns each access into a fault on it. The fault
//! path takes only the VMA's lock, so faults on several threads run while
//! another thread maps, unmaps and `mprotect`s elsewhere; a fault that
//! needs `mmap_lock` (the first store to a VMA, which needs an
//! `anon_vma`) only *tries* it under the VMA lock and otherwise retries
//! under `mmap_lock`, as Linux's `vmf_anon_prepare` does.
//!
//! ```
//! use pervma::{Access, FaultError, File, MapFlags, Mm, Prot};
//!
//! const PAGE: u64 = 4096;
//! let mm: Mm<()> = Mm::new();
//! let rw = Prot::READ | Prot::WRITE;
//! // Guest memory, and a guest file mapped privately (copy-on-write).
//! let ram = mm.mmap(0x4000_0000, 64 * PAGE, rw, MapFlags::PRIVATE | MapFlags::FIXED, None, ()).unwrap();
//! let file = File::new("guest.img", 16 * PAGE);
//! file.write_at(0, b"boot sector").unwrap();
//! let img = mm.mmap(0, 16 * PAGE, rw, MapFlags::PRIVATE, Some((file.clone(), 0)), ()).unwrap();
//!
//! std::thread::scope(|s| {
//!     // vCPU threads: guest loads and stores. Each copy faults its pages
//!     // in (zero-filled, or the file's) and reports where it stopped.
//!     for cpu in 0..2u64 {
//!         let mm = &mm;
//!         s.spawn(move || {
//!             let at = ram + cpu * 32 * PAGE;
//!             mm.access_write(at, &cpu.to_le_bytes()).unwrap();
//!             let mut back = [0u8; 8];
//!             mm.access_read(at, &mut back).unwrap();
//!             assert_eq!(u64::from_le_bytes(back), cpu);
//!         });
//!     }
//!     // The monitor thread remaps elsewhere meanwhile; the vCPUs' faults
//!     // do not wait for it (per-VMA locks).
//!     s.spawn(|| {
//!         for _ in 0..100 {
//!             let a = mm.mmap(0, PAGE, rw, MapFlags::PRIVATE, None, ()).unwrap();
//!             mm.munmap(a, PAGE).unwrap();
//!         }
//!     });
//! });
//!
//! // A store to the private file mapping copies the page; the file keeps
//! // its contents.
//! mm.access_write(img, b"BOOT").unwrap();
//! let (mut mem, mut disk) = ([0u8; 11], [0u8; 11]);
//! mm.access_read(img, &mut mem).unwrap();
//! file.read_at(0, &mut disk).unwrap();
//! assert_eq!((&mem, &disk), (b"BOOT sector", b"boot sector"));
//!
//! // What a guest gets for bad accesses: the signal, as `handle_fault`
//! // reports it (SEGV_ACCERR here), and EFAULT with how much was copied.
//! mm.mprotect(ram, PAGE, Prot::READ).unwrap();
//! assert_eq!(mm.handle_fault(ram, Access::Write), Err(FaultError::AccErr));
//! let err = mm.access_write(ram + PAGE - 2, b"abcd").unwrap_err();
//! assert_eq!((err.copied, err.addr, err.fault), (0, ram + PAGE - 2, FaultError::AccErr));
//!
//! // Under a VMA lock (binder's page installer, shadow-stack tokens), use
//! // the no-fault copies through `access_vma`: it drops the lock, faults
//! // the page in and retries, so it never waits for mmap_lock while
//! // holding a VMA lock.
//! let token = ram + 40 * PAGE;
//! mm.access_vma(token, |vma| vma.write_nofault(token, &0xfeed_u64.to_le_bytes())).unwrap();
//!
//! // smaps: what is resident.
//! let g = mm.mmap_read_lock();
//! let rss = mm.vma_resident(g.vma_lookup(ram + 32 * PAGE).unwrap()).rss;
//! assert!(rss >= 2 * PAGE);
//! ```
//!
//! ## The locking protocol
//!
//! - `mm_lock_seq` counts write cycles of `mmap_lock`: odd while it is held
//!   for write.
//! - Each VMA has `vm_refcnt` (0 detached, 1 attached, +1 per reader,
//!   `+VMA_LOCK_OFFSET` while a writer waits for readers) and
//!   `vm_lock_seq`; it is write-locked while `vm_lock_seq` equals the
//!   current odd `mm_lock_seq`.
//! - `vma_start_read` (the fast path) fails if the VMA is write-locked or
//!   detached, takes a reference only below `VMA_REF_LIMIT`, then checks
//!   `vm_lock_seq` again, and [`Mm::lock_vma_under_rcu`] checks that the
//!   VMA still covers the address.
//! - Beyond Linux, in `std` builds: a VMA that readers use and writers
//!   leave alone becomes *biased* (`VMA_READ_BIAS` in `vm_refcnt`), and
//!   then a reader locks it by publishing its address in a slot of its
//!   own thread, writing no shared cache line (BRAVO's reader bias; the
//!   measurements that chose it are in `sync/vma_lock.rs`).
//! - `vma_start_write` (inside every operation that changes a VMA) adds
//!   `VMA_LOCK_OFFSET` and clears the bias, waits for the slot readers and
//!   then the count readers to leave, stores `vm_lock_seq`, and removes
//!   the offset.
//! - Operations build the new tree copy-on-write and publish it with one
//!   store (of the new root, or, when all their changes lie in one leaf,
//!   of that leaf's pointer in its parent); a VMA they remove is detached after that and freed after an
//!   RCU grace period, so a [`VmaReadGuard`] keeps its VMA alive without
//!   pinning anything.
//!
//! The module docs of `sync`, `vma` and `mm` give the bit layouts and
//! memory orderings.
//!
//! ## Where the unsafe code is
//!
//! In the layers that own raw memory, each unsafe block with a
//! `// SAFETY:` comment: `sync/` (the RCU facade, `mmap_lock`'s rwsem,
//! `mm_lock_seq`, the raw VMA lock, the per-CPU counters), `tree/` (the
//! copy-on-write maple tree), `vma.rs` (the fields' `UnsafeCell` and the
//! prepared `anon_vma` slot), `mm/`'s `mod.rs`, `guard.rs`, `change.rs`,
//! `next.rs` and `vma_ptr.rs` (raw VMA pointers from the tree),
//! `mem/pte.rs`, `mem/radix.rs` and `mem/cache.rs` (pages behind atomic
//! words), and one `cpuid` in `arch.rs`. Every other module is
//! `#![deny(unsafe_code)]`: the operations (`ops/`), `anon_vma`, the fault
//! path, user copies, maps, notifiers and protection keys are safe code
//! on top. ARCHITECTURE.md draws the layers.
//!
//! ## The helper's contract
//!
//! [`Mm::lock_vma`] returns `None` only if no VMA covered the address at
//! an instant during the call when no write cycle was running; it returns
//! `Some` otherwise, waiting for `mmap_lock` if it must. Its slow path
//! takes the reference under `mmap_lock` (`vma_start_read_locked`), which
//! cannot fail for contention, so there is no retry loop: the "no goto"
//! form of the helper.
//!
//! The series converts its callers to the helper, and the
//! `pervma-callers` crate (crates/pervma-callers) has each of them in
//! both forms, the old one (`lock_vma_under_rcu`, else `mmap_read_lock` +
//! `vma_lookup`, remembering which lock is held) beside the converted one
//! (`lock_vma` ... drop), with examples that run them:
//!
//! - `examples/binder.rs`: binder's page installer
//!   (`binder_install_single_page`: the VMA must still be the
//!   allocator's, else `ESRCH`) and its shrinker (`binder_alloc_free_page`:
//!   reclaim never blocks, so the fast path alone, skipping on
//!   contention);
//! - `examples/tcp.rs`: TCP zero-copy receive (`find_tcp_vma`,
//!   `tcp_zerocopy_receive`: a TCP mapping, the kernel's range checks, a
//!   batch of pages inserted);
//! - `examples/shstk.rs`: x86 shadow-stack `sigreturn`
//!   (`shstk_pop_sigframe`): the form that held `mmap_lock` across the
//!   token read and deadlocked, upstream's speculate/retry fix, and the
//!   helper with [`VmaReadGuard::read_nofault`] and a retry.
//!
//! `/proc/pid/maps` is the fourth caller: [`Mm::maps`] is its converted
//! form (see "Reading maps without `mmap_lock`" below).
//!
//! ## The deadlock rule
//!
//! Never call [`Mm::lock_vma`], [`Mm::mmap_read_lock`],
//! [`Mm::mmap_write_lock`], or what may fault ([`Mm::handle_fault`],
//! [`Mm::access_read`], [`Mm::access_write`], [`Mm::access_vma`], the
//! operations on `Mm`) while the same thread holds `mmap_lock` or a VMA
//! read lock of the same `Mm`; under a VMA lock, copy with
//! [`VmaReadGuard::read_nofault`] / [`VmaReadGuard::write_nofault`]. `mmap_lock` prefers writers, so a second
//! read acquisition queues behind a waiting writer that waits for the
//! first; and a writer holding `mmap_lock` may be waiting in
//! `vma_start_write` for the VMA we hold while we wait for `mmap_lock`.
//! This is the reviewers' question about touching user memory under mm
//! locks: a fault taken while holding a VMA lock must not fall back to
//! `mmap_lock`. Debug builds with `std` track what each thread holds and
//! panic with an explanation instead of hanging:
//!
//! ```
//! use pervma::{MapFlags, Mm, Prot};
//! use std::panic::{catch_unwind, AssertUnwindSafe};
//!
//! let mm: Mm<()> = Mm::new();
//! let a = mm.mmap(0x10_0000, 0x1000, Prot::READ, MapFlags::PRIVATE | MapFlags::FIXED, None, ()).unwrap();
//! let attempt = catch_unwind(AssertUnwindSafe(|| {
//!     let _held = mm.lock_vma(a).unwrap();
//!     // "deadlock: lock_vma called while this thread holds a VMA read lock ..."
//!     let _again = mm.lock_vma(a);
//! }));
//! // Debug builds with `std` track held locks (thread-locals); others cannot.
//! assert_eq!(attempt.is_err(), cfg!(debug_assertions) && cfg!(feature = "std"));
//! ```
//!
//! [`Mm::lock_vma_under_rcu`] never waits, so it is always allowed.
//!
//! ## Reading maps without `mmap_lock`
//!
//! Since Linux 6.17 `/proc/pid/maps` and the `PROCMAP_QUERY` ioctl no
//! longer take `mmap_lock`, so a monitoring tool reading them no longer
//! stalls the process it watches. They read one VMA at a time with
//! `lock_next_vma` ([`Mm::lock_next_vma`]): find the first VMA ending above
//! the position under RCU, read-lock it, re-check that it still ends above
//! the position and that a gap before it is real, and on contention take
//! `mmap_lock` for read just long enough to lock that one VMA. The next
//! step starts from the end of the previous VMA, so the lines come in
//! address order, each VMA is read whole under its lock (no torn lines),
//! and a VMA that exists throughout the read is never skipped. Where Linux
//! may print a VMA that merged with the previous line's a second time,
//! pervma prints only its part above that line, so lines never overlap.
//!
//! ```
//! use pervma::{File, MapFlags, Mm, ProcmapQueryFlags, Prot};
//! let mm: Mm<()> = Mm::new();
//! let so = File::builder("/usr/lib/libz.so.1", 0x1_0000).dev(8, 1).inode(77).build();
//! mm.mmap(0x7f00_0000_0000, 0x1000, Prot::READ, MapFlags::PRIVATE | MapFlags::FIXED,
//!         Some((so, 0)), ()).unwrap();
//! assert_eq!(
//!     mm.maps(),
//!     format!("{:<72} /usr/lib/libz.so.1\n", "7f0000000000-7f0000001000 r--p 00000000 08:01 77 "),
//! );
//! let q = mm.procmap_query(0, ProcmapQueryFlags::COVERING_OR_NEXT_VMA).unwrap();
//! assert_eq!((q.vma_start, q.inode), (0x7f00_0000_0000, 77));
//! ```
//!
//! ## Every build
//!
//! The same API in every build:
//!
//! - `std` (default): waiting threads park on a futex after a short spin;
//!   RCU readers register through a thread-local; debug builds check the
//!   deadlock rule.
//! - `no_std` + `alloc` (`default-features = false`): waiting spins with
//!   backoff, or sleeps through the kernel's hooks ([`set_wait_hooks`]);
//!   RCU readers claim a reader slot (a table of 64, then overflow slots,
//!   so claims never wait), starting at the index that [`set_cpu_hint`]
//!   returns (give each CPU or thread its own number so they never share
//!   a cache line), or, with [`set_rcu_cpu_hooks`], run on their CPU's
//!   slot with preemption disabled and claim nothing.
//! - One thread: nothing to configure. No thread ever parks and no lock is
//!   ever contended; the costs are the uncontended atomics.
//!
//! Sizes on x86-64, the series' "bloat" question (printed by
//! `cargo test -p pervma --test sizes -- --nocapture`; the same in both
//! builds):
//!
//! | type | bytes | Linux |
//! |------|-------|-------|
//! | `Vma<()>` | 64, aligned to a cache line (a payload rounds it up to the next 64: `Vma<u64>` is 128) | `vm_area_struct`: 192 without lockdep, cache-line aligned |
//! | `Mm<()>` | 512 (`mmap_lock` padded to its own 128-byte line pair; the tree, the page table's root, the protection keys and PKRU, the layout, the backend, `brk`, `def_flags`; 384 until `brk`, `def_flags` and the stack limit crossed a 128-byte line) + 5 KiB of per-CPU counters behind a pointer | `mm_struct`: over 1 KiB |
//! | tree leaf / internal node | 280 / 408 (16 slots) | maple node: 256 |
//!
//! The per-VMA lock itself is 8 bytes of the VMA (`vm_refcnt` and
//! `vm_lock_seq`), and one 4-byte wait word per `Mm`.

#![no_std]
#![doc(test(attr(deny(warnings))))]
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod anon_vma;
mod arch;
pub mod backend;
mod errno;
mod fault;
mod file;
mod flags;
mod mem;
mod mm;
mod notifier;
mod ops;
mod payload;
mod pkeys;
mod proc;
mod stats;
pub(crate) mod sync;
pub(crate) mod tree;
mod uaccess;
mod vma;

pub use anon_vma::AnonVma;
pub use arch::Arch;
pub use backend::{Backend, Install, Mapping, PageGone};
pub use errno::Errno;
pub use fault::FaultError;
pub use file::{File, FileBuilder, FileContents, FileMappings};
pub use flags::{
    Access, MapFlags, MlockFlags, MlockallFlags, MremapFlags, Prot, VmFlags, PAGE_SHIFT, PAGE_SIZE,
};
pub use mem::VmaMemory;
pub use mm::{
    Mm, MmConfig, MmapLocked, MmapReadGuard, MmapWriteGuard, Overcommit, VmaReadGuard, Vmas,
};
pub use notifier::{MmuNotifier, MmuNotifierEvent, MmuNotifierId, MmuNotifierRange};
pub use ops::{Advice, MmapError, STACK_GUARD_GAP};
pub use payload::Payload;
pub use pkeys::{PkeyRights, Pkru};
pub use proc::{MapsLine, MapsLines, ProcmapQuery, ProcmapQueryFlags};
pub use stats::VmaLockStats;
pub use uaccess::{NoFault, NoFaultKind, UserCopyError};
pub use vma::Vma;

use core::sync::atomic::AtomicU32;

/// Installs the function that tells the calling thread its CPU (or
/// thread) number.
///
/// pervma spreads per-thread state over cache lines with it: the sharded
/// lock counters and the RCU reader slots of `no_std` builds. A kernel
/// passes its CPU id. `std` builds need no hook and do not consult one:
/// each thread there counts on a shard of its own, which lets it count
/// without atomic read-modify-writes. It may be called at any time;
/// threads pick it up on their next lock.
pub fn set_cpu_hint(hint: fn() -> usize) {
    sync::percpu::set_cpu_hint(hint);
}

/// Lets a `no_std` kernel run RCU read sections on per-CPU reader slots
/// with preemption disabled, instead of claiming a slot with a
/// compare-and-swap.
///
/// `enter` disables preemption (`preempt_disable`) and returns this CPU's
/// number, below `cpus`; `exit` re-enables it. Every read section then
/// runs between the two on the slot of that CPU, which no other thread
/// can use meanwhile. Read sections are short and never sleep: pervma
/// waits (in `vma_start_write`, on `mmap_lock`) only outside them.
/// If interrupt handlers on the same CPU use pervma, `enter` must mask
/// them too (`local_irq_save`): a handler would share the interrupted
/// section's slot.
///
/// Install it once, before readers start (sections already running keep
/// the slot they claimed, and give it back as before); a later call may
/// install other hooks but may not raise the CPU count above the first's
/// (the first install makes the per-CPU slots), and a section that began
/// under earlier hooks ends with their `exit`. `std` builds register each
/// thread through a thread-local, which costs no more, and ignore the
/// hooks.
///
/// # Panics
///
/// If `cpus` is zero or above the count of the first call, or (later) if
/// `enter` returns a number not below `cpus`.
pub fn set_rcu_cpu_hooks(cpus: usize, enter: fn() -> usize, exit: fn()) {
    sync::rcu::set_cpu_hooks(cpus, enter, exit);
}

/// Lets a `no_std` kernel put waiting threads to sleep where `std` builds
/// park them on a futex: a writer in `vma_start_write` waiting for readers
/// to leave, a thread waiting for `mmap_lock`.
///
/// `wait(word, value)` sleeps while `word` holds `value` and may return
/// early (spuriously); it must check the value under the lock of its wait
/// queue, so that a `wake_all(word)` after the word changed is never
/// missed (the futex contract). `wake_all(word)` wakes every sleeper on
/// that address. pervma spins briefly before it calls `wait`. The first
/// call wins; without hooks `no_std` waits spin. `std` builds use futexes
/// and ignore them.
pub fn set_wait_hooks(wait: fn(&AtomicU32, u32), wake_all: fn(&AtomicU32)) {
    sync::wait::set_wait_hooks(wait, wake_all);
}

/// The sizes that answer the series' "bloat" question, for the test that
/// prints them and for the docs: `(Mm<()>, Vma<()>, tree leaf, tree
/// internal node)` in bytes.
#[doc(hidden)]
pub fn __sizes() -> (usize, usize, usize, usize) {
    let (leaf, internal) = tree::node_sizes();
    (
        core::mem::size_of::<Mm<()>>(),
        core::mem::size_of::<Vma<()>>(),
        leaf,
        internal,
    )
}

/// Runs the RCU callbacks (deferred frees of unmapped VMAs and replaced
/// tree nodes) that no reader can need any more, as far as it can without
/// waiting for readers that are still inside a read section
/// (`rcu_barrier`, roughly). Useful before counting leaks in tests and at
/// teardown; never needed for correctness.
pub fn rcu_barrier() {
    sync::rcu::rcu_barrier();
}
