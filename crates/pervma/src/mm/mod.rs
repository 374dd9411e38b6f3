//! `Mm`: one address space, its `mmap_lock`, and the VMA lookups.
//!
//! Linux: include/linux/mm_types.h (`struct mm_struct`), mm/mmap_lock.c
//! (`lock_vma_under_rcu`), include/linux/mmap_lock.h.
//!
//! # Lock order
//!
//! One order for the whole crate, outermost first:
//!
//! 1. `mmap_lock` (read or write), [`Mm::mmap_read_lock`] /
//!    [`Mm::mmap_write_lock`];
//! 2. VMA locks: write locks are taken only under `mmap_lock` for write
//!    (`vma_start_write`); read locks either without any lock (RCU fast
//!    path) or under `mmap_lock` for read (`vma_start_read_locked`);
//! 3. page-table entries (the fault path), which are changed by single
//!    atomic operations and so are never held.
//!
//! A thread never waits for `mmap_lock` while it holds a VMA read lock or
//! `mmap_lock` of the same `Mm` (see "The deadlock rule" in the crate docs).
//!
//! # Invariants
//!
//! - Every VMA reachable from the published tree is attached
//!   (`vm_refcnt >= 1`) and belongs to this `Mm`. The tree maps exactly
//!   each VMA's `[vm_start, vm_end)` to it.
//! - The tree and the VMAs' fields change only under `mmap_lock` for write,
//!   and a VMA's fields only after `vma_start_write` on it.
//! - A VMA removed from the tree is detached after the tree that no longer
//!   contains it is published, and freed after an RCU grace period.
//!
//! # Where the methods live
//!
//! `impl Mm` is spread over the files of what each group does; the
//! operations are methods of [`MmapWriteGuard`] first, with an `Mm`
//! method that takes the lock for one call beside each.
//!
//! | file | `Mm` methods | guard methods |
//! |------|--------------|---------------|
//! | `mm/mod.rs` | `new`, `with_config`, `config`, `stats`, `map_count`, `pkru`, `set_pkru`; `mmap_read_lock`, `mmap_read_trylock`, `mmap_write_lock`, `mmap_write_trylock`, `mmap_lock_speculate_try_begin`/`_retry`, `mmap_is_locked`, `mmap_is_write_locked`; `lock_vma_under_rcu`, `lock_vma` | |
//! | `mm/guard.rs` | | [`MmapLocked`] lookups (`vma_lookup`, `find_vma`, `find_vma_prev`, `find_vma_intersection`, `vmas`, `vmas_from`, `map_count`); `MmapReadGuard::vma_start_read_locked`; `MmapWriteGuard::downgrade` |
//! | `mm/next.rs` | `lock_next_vma` | |
//! | `mm/change.rs` | | (`VmaChange`, crate-private: what every operation edits through) |
//! | `ops/mmap.rs` | `mmap` | `MmapWriteGuard::mmap` |
//! | `ops/munmap.rs` | `munmap` | `MmapWriteGuard::munmap` |
//! | `ops/mprotect.rs` | `mprotect`, `pkey_mprotect` | the same on `MmapWriteGuard` |
//! | `ops/pkey.rs` | `pkey_alloc`, `pkey_free` | the same on `MmapWriteGuard` |
//! | `ops/mremap.rs` | `mremap` | `MmapWriteGuard::mremap` |
//! | `ops/madvise.rs` | `madvise` (VMA lock or `mmap_lock` for read for the advice that acts on pages alone) | `MmapWriteGuard::madvise` |
//! | `ops/mlock.rs` | `mlock`, `munlock` | the same on `MmapWriteGuard` |
//! | `ops/fork.rs` | `fork` | `MmapWriteGuard::fork` |
//! | `ops/brk.rs` | `brk`, `brk_bounds` | `MmapWriteGuard::brk`, `set_brk` |
//! | `fault.rs` | `handle_fault`, `access_permitted` | |
//! | `uaccess.rs` | `access_read`, `access_write`, `access_vma` | `VmaReadGuard::read_nofault`, `write_nofault` |
//! | `mem/smaps.rs` | `vma_resident` | `MmapLocked::vma_smaps` |
//! | `notifier.rs` | `mmu_notifier_register`, `mmu_notifier_unregister` | |
//! | `proc/maps.rs` | `maps_lines`, `maps` | |
//! | `proc/query.rs` | `procmap_query` | |
//!
//! The operations (`ops/`, `fault.rs`, `uaccess.rs`) need
//! `T: `[`Payload`](crate::Payload); the rest work for any `T`.

mod change;
mod guard;
mod next;
mod overcommit;
mod vma_ptr;

pub(crate) use change::VmaChange;
pub use guard::{MmapLocked, MmapReadGuard, MmapWriteGuard, VmaReadGuard, Vmas};
pub use overcommit::Overcommit;
pub(crate) use vma_ptr::VmaPtr;

use crate::arch::Arch;
use crate::backend::Backend;
use crate::flags::PAGE_SIZE;
use crate::mem::memory::Memory;
use crate::mem::pte::PageTable;
use crate::notifier::Notifiers;
use crate::pkeys::{Pkeys, Pkru};
use crate::stats::{LockEvents, VmaLockStats};
use crate::sync::lockdep::{self, Held};
use crate::sync::percpu::this_shard;
use crate::sync::prim::{spin_hint, AtomicU64};
use crate::sync::rcu::{rcu_read_lock, RcuGuard};
use crate::sync::rwsem::RawRwSem;
use crate::sync::seq::MmLockSeq;
use crate::sync::vma_lock::{MmVmaLock, ReadFail};
use crate::tree::MapleTree;
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::fmt;
use crossbeam_utils::CachePadded;

/// The shape of an address space: where mappings may go.
///
/// The defaults are those of an x86-64 Linux process with 4-level page
/// tables and no address-space randomisation, on a CPU without protection
/// keys ([`Arch::X86_64`]: the same answer on every host; see
/// [`MmConfig::host`] for this machine's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MmConfig {
    /// `TASK_SIZE`: one past the highest user address.
    pub task_size: u64,
    /// `mmap_min_addr`: `MAP_FIXED` below it fails with `EPERM`, and
    /// placement never goes below it.
    pub mmap_min_addr: u64,
    /// `mm->mmap_base`: where top-down placement starts.
    pub mmap_base: u64,
    /// `sysctl_max_map_count`: the most VMAs the space may hold.
    pub max_map_count: usize,
    /// The CPU features the space behaves by (protection keys).
    pub arch: Arch,
    /// `vm.overcommit_memory`: which charges of accountable memory fail
    /// with `ENOMEM` ([`MmConfig::with_overcommit`]). Default
    /// [`Overcommit::Always`]: none.
    pub overcommit: Overcommit,
    /// `mm->start_brk`: where the heap starts ([`Mm::brk`]), and the
    /// initial break. Linux's `exec` puts it after the program's data (a
    /// random distance after it with ASLR); the default is where a PIE
    /// program's heap starts without ASLR on x86-64.
    pub start_brk: u64,
    /// `RLIMIT_STACK` (soft): the largest a `VM_GROWSDOWN` VMA grows to
    /// by faults below it ([`MmapWriteGuard::expand_stack`]). Default
    /// 8 MiB, the usual limit (and the one the kernel runner pins).
    ///
    /// [`MmapWriteGuard::expand_stack`]: crate::MmapWriteGuard::expand_stack
    pub rlimit_stack: u64,
}

impl Default for MmConfig {
    fn default() -> Self {
        let task_size = (1u64 << 47) - PAGE_SIZE;
        MmConfig {
            task_size,
            mmap_min_addr: 0x10000,
            // mmap_base(): TASK_SIZE minus the minimum stack gap (128 MiB).
            mmap_base: task_size - (128 << 20),
            max_map_count: 65530,
            arch: Arch::X86_64,
            overcommit: Overcommit::Always,
            start_brk: 0x5555_5555_9000,
            rlimit_stack: 8 << 20,
        }
    }
}

impl MmConfig {
    /// The default layout with these fields changed.
    pub fn new(task_size: u64, mmap_min_addr: u64, mmap_base: u64, max_map_count: usize) -> Self {
        MmConfig {
            task_size,
            mmap_min_addr,
            mmap_base,
            max_map_count,
            ..MmConfig::default()
        }
    }

    /// The default layout with the CPU features of the machine this
    /// program runs on ([`Arch::host`]).
    pub fn host() -> Self {
        MmConfig::default().with_arch(Arch::host())
    }

    /// This layout with `RLIMIT_STACK` at `bytes`.
    pub fn with_rlimit_stack(self, bytes: u64) -> Self {
        MmConfig {
            rlimit_stack: bytes,
            ..self
        }
    }

    /// This layout with the CPU features `arch`.
    pub fn with_arch(self, arch: Arch) -> Self {
        MmConfig { arch, ..self }
    }

    /// This layout with the overcommit policy `overcommit`, for example
    /// that of the machine ([`Overcommit::from_proc`]):
    ///
    /// ```
    /// use pervma::{MapFlags, Mm, MmConfig, Overcommit, Prot};
    /// // 16 GiB of RAM and swap, vm.overcommit_memory = 0.
    /// let guess = Overcommit::Guess { total_pages: 4 << 20 };
    /// let mm: Mm<()> = Mm::with_config(MmConfig::default().with_overcommit(guess));
    /// let rw = Prot::READ | Prot::WRITE;
    /// let (len, private) = (32 << 30, MapFlags::PRIVATE);
    /// assert!(mm.mmap(0, len, rw, private, None, ()).is_err());
    /// assert!(mm.mmap(0, len, rw, private | MapFlags::NORESERVE, None, ()).is_ok());
    /// ```
    pub fn with_overcommit(self, overcommit: Overcommit) -> Self {
        MmConfig { overcommit, ..self }
    }

    /// This layout with the heap at `start_brk` (page-aligned): the
    /// initial break of [`Mm::brk`].
    pub fn with_start_brk(self, start_brk: u64) -> Self {
        MmConfig { start_brk, ..self }
    }
}

/// An address space (`struct mm_struct`): VMAs carrying a payload `T`, in
/// a maple tree, behind `mmap_lock` and per-VMA locks.
///
/// `Mm` is `Send + Sync` when `T` is: share it by reference (or `Arc`)
/// between the threads that fault, map and unmap.
#[doc(alias = "mm_struct")]
pub struct Mm<T> {
    /// `mmap_lock`, on a cache line of its own: the lock-free fast path
    /// never reads it, so writers taking and releasing it must not
    /// invalidate the line that holds `mm_lock_seq` and the tree root.
    mmap_lock: CachePadded<RawRwSem>,
    /// `mm_lock_seq`: odd during a write cycle.
    pub(crate) mm_lock_seq: MmLockSeq,
    /// The `Mm`'s half of the VMA locks: `vma_writer_wait`, the word a
    /// writer in `vma_start_write` sleeps on, bumped by the reader that
    /// leaves last (it lives in the `Mm`, not the VMA, because the VMA may
    /// be freed as soon as that reader lets go), and the read bias's
    /// inhibition window.
    pub(crate) vma_locks: MmVmaLock,
    /// `mm_mt`.
    pub(crate) mm_mt: MapleTree<VmaPtr<T>>,
    /// `mm->pgd`: the pages behind the VMAs.
    pub(crate) page_table: PageTable,
    /// Behind a box: eight cache lines per counter would otherwise make
    /// every `Mm` several KiB.
    events: Box<LockEvents>,
    /// Protection keys: which are allocated, and PKRU.
    pub(crate) pkeys: Pkeys,
    /// The MMU notifiers (`notifier_subscriptions`).
    pub(crate) notifiers: Notifiers,
    /// The real memory, if the user plugged some in; else the page table
    /// holds the bytes.
    pub(crate) backend: Option<Arc<dyn Backend>>,
    /// `mm->start_brk` and `mm->brk`: changed only under `mmap_lock` for
    /// write (atomics so that readers need no `unsafe`; `mmap_lock` orders
    /// them).
    pub(crate) start_brk: AtomicU64,
    pub(crate) brk: AtomicU64,
    pub(crate) config: MmConfig,
    /// `mm->def_flags`: `VmFlags` bits every new mapping gets
    /// (`VM_LOCKED`, and `VM_LOCKONFAULT`, after `mlockall(MCL_FUTURE)`).
    /// Written under `mmap_lock` for write, read under `mmap_lock`: the
    /// atomic only makes the field shareable, the lock orders it.
    pub(crate) def_flags: AtomicU64,
}

// SAFETY: an `Mm` owns its VMAs (reached through raw pointers in the tree)
// and frees them on drop, so moving it moves `T`s: `T: Send`. Shared use
// hands `&T` to several threads and lets any thread drop VMAs it unmaps:
// `T: Send + Sync`.
unsafe impl<T: Send + Sync> Send for Mm<T> {}
// SAFETY: all shared-state access goes through `mmap_lock`, the VMA lock
// protocol and the RCU tree (module invariants).
unsafe impl<T: Send + Sync> Sync for Mm<T> {}

/// What `vma_start_read` on a VMA found by a lock-free walk gave.
pub(crate) enum Walked<'mm, T> {
    /// The VMA, read-locked.
    Locked(VmaReadGuard<'mm, T>),
    /// It was detached after the walk: walk again.
    Again,
    /// It is write-locked (or has too many readers): fall back.
    Contended,
}

/// Why the RCU fast path did not return a VMA.
enum FastFail {
    /// No VMA covered the address in a snapshot taken outside any write
    /// cycle: a true answer.
    NoVma,
    /// Contention: a write lock, a write cycle, or a VMA that changed.
    Contended,
}

impl<T> Mm<T> {
    /// An empty address space with the default layout.
    pub fn new() -> Self {
        Self::with_config(MmConfig::default())
    }

    /// An empty address space with the given layout.
    pub fn with_config(config: MmConfig) -> Self {
        Mm {
            mmap_lock: CachePadded::new(RawRwSem::new()),
            mm_lock_seq: MmLockSeq::new(),
            vma_locks: MmVmaLock::new(),
            mm_mt: MapleTree::new(),
            page_table: PageTable::new(config.task_size),
            events: Box::new(LockEvents::new()),
            pkeys: Pkeys::new(config.arch),
            notifiers: Notifiers::new(),
            backend: None,
            start_brk: AtomicU64::new(config.start_brk),
            brk: AtomicU64::new(config.start_brk),
            config,
            def_flags: AtomicU64::new(0),
        }
    }

    /// An empty address space whose memory is `backend`: every operation
    /// applies what it changes to it, faults install their pages in it,
    /// and user copies read and write it (see [`Backend`] for when each
    /// call comes). The space starts empty, so the backend starts with
    /// nothing mapped.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use pervma::{Backend, MapFlags, Mapping, Mm, MmConfig, PageGone, Prot};
    ///
    /// /// Records what it is told, as a kernel's page tables would act on it.
    /// #[derive(Default)]
    /// struct Log(Mutex<Vec<String>>);
    ///
    /// impl Backend for Log {
    ///     fn map(&self, m: &Mapping<'_>) -> Result<(), pervma::Errno> {
    ///         self.0.lock().unwrap().push(format!("map {:#x}-{:#x} {:?}", m.start, m.end, m.prot()));
    ///         Ok(())
    ///     }
    ///     fn unmap(&self, start: u64, end: u64) {
    ///         self.0.lock().unwrap().push(format!("unmap {start:#x}-{end:#x}"));
    ///     }
    ///     fn read(&self, _: &Mapping<'_>, _: u64, buf: &mut [u8]) -> Result<(), PageGone> {
    ///         buf.fill(0);
    ///         Ok(())
    ///     }
    ///     fn write(&self, _: &Mapping<'_>, _: u64, _: &[u8]) -> Result<(), PageGone> {
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let log = Arc::new(Log::default());
    /// let mm: Mm<()> = Mm::with_backend(MmConfig::default(), log.clone());
    /// let p = 0x10_0000;
    /// let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    /// mm.mmap(p, 0x4000, Prot::READ | Prot::WRITE, flags, None, ()).unwrap();
    /// mm.munmap(p + 0x1000, 0x1000).unwrap();
    /// assert_eq!(
    ///     *log.0.lock().unwrap(),
    ///     ["map 0x100000-0x104000 Prot(READ | WRITE)", "unmap 0x101000-0x102000"]
    /// );
    /// ```
    pub fn with_backend(config: MmConfig, backend: Arc<dyn Backend>) -> Self {
        let mut mm = Self::with_config(config);
        mm.backend = Some(backend);
        mm
    }

    /// The record of the page table with the backend, for page-level
    /// faults and copies.
    pub(crate) fn memory(&self) -> Memory<'_> {
        Memory {
            pt: &self.page_table,
            backend: self.backend.as_deref(),
        }
    }

    /// The backend given to [`Mm::with_backend`], if any.
    pub fn backend(&self) -> Option<&Arc<dyn Backend>> {
        self.backend.as_ref()
    }

    /// The layout this space was created with.
    pub fn config(&self) -> &MmConfig {
        &self.config
    }

    /// An identity for lockdep: stable while any guard borrows `self`.
    #[inline]
    pub(crate) fn lockdep_id(&self) -> usize {
        self as *const Self as usize
    }

    /// The PKRU register of the thread that makes this space's calls: the
    /// rights that [`pkey_alloc`](MmapWriteGuard::pkey_alloc) sets and
    /// that faults, user copies, `mlock` and `MAP_POPULATE` consult.
    /// [`Pkru::ALLOW_ALL`] without protection keys.
    #[doc(alias = "rdpkru")]
    pub fn pkru(&self) -> Pkru {
        self.pkeys.pkru()
    }

    /// Sets PKRU (`wrpkru`): the rights of every key at once. Without
    /// protection keys it has no effect.
    #[doc(alias = "wrpkru")]
    pub fn set_pkru(&self, pkru: Pkru) {
        self.pkeys.set_pkru(pkru);
    }

    /// The lock event counters.
    pub fn stats(&self) -> VmaLockStats {
        self.events.snapshot()
    }

    /// The number of VMAs (`mm->map_count`), read without a lock.
    pub fn map_count(&self) -> usize {
        let rcu = rcu_read_lock();
        self.mm_mt.len(&rcu)
    }

    pub(crate) fn events(&self) -> &LockEvents {
        &self.events
    }

    // ---- mmap_lock ------------------------------------------------------

    /// `mmap_read_lock`: blocks while a writer holds or waits for the lock.
    ///
    /// # Panics
    ///
    /// In debug builds with `std`, if this thread already holds
    /// `mmap_lock` or a VMA read lock of this `Mm` (that would deadlock).
    pub fn mmap_read_lock(&self) -> MmapReadGuard<'_, T> {
        lockdep::check_may_wait(self.lockdep_id(), "mmap_read_lock");
        self.mmap_lock.read();
        MmapReadGuard::new(self)
    }

    /// `mmap_read_trylock`: the read lock if it is free of writers now.
    pub fn mmap_read_trylock(&self) -> Option<MmapReadGuard<'_, T>> {
        self.mmap_lock.try_read().then(|| MmapReadGuard::new(self))
    }

    /// `mmap_write_lock`: blocks until no one else holds the lock, then
    /// starts a write cycle.
    ///
    /// # Panics
    ///
    /// In debug builds with `std`, if this thread already holds
    /// `mmap_lock` or a VMA read lock of this `Mm`.
    pub fn mmap_write_lock(&self) -> MmapWriteGuard<'_, T> {
        lockdep::check_may_wait(self.lockdep_id(), "mmap_write_lock");
        self.mmap_lock.write();
        // SAFETY: we hold mmap_lock for write and no cycle is running (the
        // previous holder ended its cycle before releasing the lock).
        unsafe { self.mm_lock_seq.write_begin() };
        MmapWriteGuard::new(self)
    }

    /// `mmap_write_trylock`.
    pub fn mmap_write_trylock(&self) -> Option<MmapWriteGuard<'_, T>> {
        if !self.mmap_lock.try_write() {
            return None;
        }
        // SAFETY: as in `mmap_write_lock`.
        unsafe { self.mm_lock_seq.write_begin() };
        Some(MmapWriteGuard::new(self))
    }

    /// `mmap_lock_speculate_try_begin`: a sequence number to validate
    /// lock-free reads with, or `None` while a write cycle runs.
    pub fn mmap_lock_speculate_try_begin(&self) -> Option<u32> {
        self.mm_lock_seq.speculate_try_begin()
    }

    /// `mmap_lock_speculate_retry`: whether a write cycle began since
    /// `seq` (from [`Mm::mmap_lock_speculate_try_begin`]), so that what
    /// was read in between must be thrown away.
    pub fn mmap_lock_speculate_retry(&self, seq: u32) -> bool {
        self.mm_lock_seq.speculate_retry(seq)
    }

    /// Whether some thread holds `mmap_lock` for write (`mmap_assert_write_locked`).
    pub fn mmap_is_write_locked(&self) -> bool {
        self.mmap_lock.is_write_locked()
    }

    /// Whether some thread holds `mmap_lock` in any mode.
    pub fn mmap_is_locked(&self) -> bool {
        self.mmap_lock.is_locked()
    }

    // ---- per-VMA locks ---------------------------------------------------

    /// `lock_vma_under_rcu`: read-locks the VMA covering `addr` without
    /// `mmap_lock`.
    ///
    /// Never waits. Returns `None` when no VMA covers `addr` *or* when it
    /// could not get the lock without waiting (the VMA is write-locked,
    /// or it changed under us); callers then fall back to
    /// [`Mm::mmap_read_lock`], or use [`Mm::lock_vma`], which does that for
    /// them.
    #[inline]
    pub fn lock_vma_under_rcu(&self, addr: u64) -> Option<VmaReadGuard<'_, T>> {
        self.lock_vma_fast(addr).ok()
    }

    /// Read-locks the VMA covering `addr`; never fails spuriously.
    ///
    /// This is the series' `lock_vma_under_rcu_wait()`: it tries the RCU
    /// fast path and, on contention, takes `mmap_lock` for read, looks the
    /// VMA up, read-locks it with `vma_start_read_locked` and drops
    /// `mmap_lock` before returning: no retry loop, no fallback code in the
    /// caller. `None` means that no VMA covered `addr` at some instant
    /// during the call when no write cycle was running.
    ///
    /// # The deadlock rule
    ///
    /// Do not call it while this thread holds `mmap_lock` or a VMA read
    /// lock of the same `Mm`: its slow path waits for `mmap_lock`, and a
    /// writer queued there (or holding it and waiting in `vma_start_write`
    /// for our VMA) waits for us. Debug builds with `std` panic with an
    /// explanation instead of hanging.
    ///
    /// ```
    /// use pervma::{MapFlags, Mm, Prot};
    /// let mm: Mm<()> = Mm::new();
    /// let addr = mm
    ///     .mmap(0x10_0000, 0x4000, Prot::READ | Prot::WRITE,
    ///           MapFlags::PRIVATE | MapFlags::FIXED, None, ())
    ///     .unwrap();
    /// let vma = mm.lock_vma(addr + 0x1000).expect("mapped");
    /// assert_eq!((vma.start(), vma.end()), (0x10_0000, 0x10_4000));
    /// drop(vma); // vma_end_read
    /// assert!(mm.lock_vma(0x20_0000).is_none());
    /// ```
    #[doc(alias = "lock_vma_under_rcu_wait")]
    #[inline]
    pub fn lock_vma(&self, addr: u64) -> Option<VmaReadGuard<'_, T>> {
        lockdep::check_may_wait(self.lockdep_id(), "lock_vma");
        match self.lock_vma_fast(addr) {
            Ok(vma) => Some(vma),
            Err(FastFail::NoVma) => None,
            Err(FastFail::Contended) => self.lock_vma_slow(addr),
        }
    }

    /// The fast path shared by [`Mm::lock_vma_under_rcu`] and
    /// [`Mm::lock_vma`].
    #[inline]
    fn lock_vma_fast(&self, addr: u64) -> Result<VmaReadGuard<'_, T>, FastFail> {
        // Whether this walk is the one that read `mm_lock_seq` first.
        let mut speculating = false;
        loop {
            // Read before the walk: if no write cycle runs from here until
            // after the walk, a walk that finds nothing is the truth. Only
            // a walk after one that found nothing reads it: the first walk
            // usually finds a VMA, and the word's line, which writers
            // change twice per write cycle, is the one a biased read
            // (which reads neither `mm_lock_seq` nor `vm_lock_seq`) would
            // otherwise still take from the writer's CPU on every lookup.
            let seq = if speculating {
                self.mm_lock_seq.speculate_try_begin()
            } else {
                None
            };
            let rcu = rcu_read_lock();
            let Some((_, _, vma)) = self.mm_mt.walk(addr, &rcu) else {
                drop(rcu);
                if !speculating {
                    speculating = true;
                    continue;
                }
                self.events.abort.inc(this_shard());
                return match seq {
                    Some(seq) if !self.mm_lock_seq.speculate_retry(seq) => Err(FastFail::NoVma),
                    _ => Err(FastFail::Contended),
                };
            };
            let guard = match self.vma_start_read_walked(vma, &rcu) {
                Walked::Locked(guard) => guard,
                Walked::Again => continue,
                Walked::Contended => return Err(FastFail::Contended),
            };
            // Between the walk and the lock the VMA may have been resized.
            // Checked and counted inside the section, whose CPU (with a
            // kernel's hooks, preemption disabled) lends its shard to the
            // count: a plain add, no atomic read-modify-write.
            let contains = guard.contains(addr);
            let counter = if contains {
                &self.events.success
            } else {
                &self.events.abort
            };
            counter.inc(rcu.shard());
            drop(rcu);
            if !contains {
                drop(guard);
                return Err(FastFail::Contended);
            }
            return Ok(guard);
        }
    }

    /// `vma_start_read` on `vma`, found by a walk inside `rcu`, for the
    /// fast paths ([`Mm::lock_vma_under_rcu`], `lock_next_vma`): the read
    /// lock (the reference keeps the VMA alive and attached once the RCU
    /// section ends), or "walk again" (it was detached: the new tree is
    /// published or about to be; counts a `MISS`), or contention (it is
    /// write-locked; counts an `ABORT`).
    #[inline(always)]
    pub(crate) fn vma_start_read_walked(&self, vma: VmaPtr<T>, rcu: &RcuGuard) -> Walked<'_, T> {
        // SAFETY: the VMA was reachable from the tree inside this RCU read
        // section, so its memory stays valid until `rcu` ends (module
        // invariant: removed VMAs are freed after a grace period).
        // `start_read` touches only the lock words.
        let vma_ref = unsafe { vma.as_ref() };
        let result = vma_ref
            .lock()
            .start_read(&self.mm_lock_seq, &self.vma_locks);
        match result {
            // SAFETY: we hold a read lock on `vma`, a VMA of `self`, taken
            // on this thread.
            Ok(hold) => Walked::Locked(unsafe { VmaReadGuard::new(self, vma, hold) }),
            Err(ReadFail::Detached) => {
                self.events.miss.inc(rcu.shard());
                spin_hint();
                Walked::Again
            }
            Err(ReadFail::Locked) => {
                self.events.abort.inc(rcu.shard());
                Walked::Contended
            }
        }
    }

    /// The slow path of [`Mm::lock_vma`]: under `mmap_lock` for read no VMA
    /// writer can run, so the lookup and the read lock cannot fail
    /// spuriously.
    #[cold]
    fn lock_vma_slow(&self, addr: u64) -> Option<VmaReadGuard<'_, T>> {
        self.events.wait.inc(this_shard());
        loop {
            let mmap = self.mmap_read_lock();
            let vma = mmap.vma_lookup(addr)?;
            if let Some(guard) = mmap.vma_start_read_locked(vma) {
                return Some(guard);
            }
            // VMA_REF_LIMIT readers: let some leave.
            drop(mmap);
            spin_hint();
        }
    }

    /// The `Mm`'s half of its VMAs' locks; see `vma_locks`.
    pub(crate) fn vma_locks(&self) -> &MmVmaLock {
        &self.vma_locks
    }

    pub(crate) fn lockdep_acquire(&self, what: Held) {
        lockdep::acquire(self.lockdep_id(), what);
    }

    pub(crate) fn lockdep_release(&self, what: Held) {
        lockdep::release(self.lockdep_id(), what);
    }

    /// Unlocks after a [`MmapReadGuard`].
    ///
    /// # Safety
    ///
    /// The caller holds `mmap_lock` for read.
    pub(crate) unsafe fn mmap_read_unlock(&self) {
        // SAFETY: forwarded contract.
        unsafe { self.mmap_lock.read_unlock() };
    }

    /// `mmap_write_unlock`: ends the write cycle, which releases every VMA
    /// write lock taken in it (`vma_end_write_all`), then the lock.
    ///
    /// # Safety
    ///
    /// The caller holds `mmap_lock` for write.
    pub(crate) unsafe fn mmap_write_unlock(&self) {
        // SAFETY: we hold the lock for write and the cycle is running.
        unsafe { self.mm_lock_seq.write_end() };
        // SAFETY: forwarded contract.
        unsafe { self.mmap_lock.write_unlock() };
    }

    /// `mmap_write_downgrade`: ends the write cycle and keeps the lock for
    /// read.
    ///
    /// # Safety
    ///
    /// The caller holds `mmap_lock` for write.
    pub(crate) unsafe fn mmap_write_downgrade(&self) {
        // SAFETY: as in `mmap_write_unlock`.
        unsafe { self.mm_lock_seq.write_end() };
        // SAFETY: forwarded contract.
        unsafe { self.mmap_lock.downgrade() };
    }
}

impl<T> Default for Mm<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for Mm<T> {
    fn drop(&mut self) {
        // exit_mmap: mmu_notifier_release first.
        self.release_notifiers();
        // `&mut self`: no guard, no reader, no RCU walker of this tree.
        // Free every VMA still mapped; the tree frees its nodes itself.
        let rcu = rcu_read_lock();
        let mut addr = 0;
        let mut vmas = alloc::vec::Vec::new();
        while let Some((_, last, vma)) = self.mm_mt.find(addr, &rcu) {
            vmas.push(vma);
            match last.checked_add(1) {
                Some(next) => addr = next,
                None => break,
            }
        }
        drop(rcu);
        for vma in vmas {
            if let Some(backend) = self.backend.as_deref() {
                // exit_mmap's unmap_vmas: the backend's memory goes too.
                // SAFETY: a VMA in the tree is live until freed below.
                let v = unsafe { vma.as_ref() };
                backend.unmap(v.start(), v.end());
            }
            // SAFETY: each VMA in the tree was allocated by `VmaChange` with
            // `Box::into_raw` and is owned by the tree; nobody else can
            // reach it now (`&mut self`), and each appears once.
            drop(unsafe { Box::from_raw(vma.as_ptr()) });
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Mm<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mmap_read_trylock() {
            Some(mmap) => f.debug_list().entries(mmap.vmas()).finish(),
            None => f.write_str("Mm { <locked> }"),
        }
    }
}
