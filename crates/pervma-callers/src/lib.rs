//! # The per-VMA lock series' callers, on pervma
//!
//! The kernel series "mm: Make per-VMA locks available in all builds"
//! exists for its callers. Each of them used to look a VMA up the same
//! way: try `lock_vma_under_rcu`, and when it fails take `mmap_read_lock`,
//! `vma_lookup` again, and remember which of the two locks it holds so
//! that every exit unlocks the right one. The series adds
//! `lock_vma_under_rcu_wait` ([`Mm::lock_vma`] in pervma), which does the
//! fallback itself and always returns the VMA read-locked, and converts
//! them. This crate has each caller in both forms, each function named
//! after the kernel function it mirrors:
//!
//! | caller | kernel | old form | converted |
//! |---|---|---|---|
//! | binder's page installer | `binder_install_single_page` → `binder_page_insert` (drivers/android/binder_alloc.c) | [`BinderAlloc::binder_page_insert_old`] | [`BinderAlloc::binder_page_insert`] |
//! | binder's shrinker | `binder_alloc_free_page` | [`BinderAlloc::binder_alloc_free_page_old`] (`mmap_read_trylock` fallback) | [`BinderAlloc::binder_alloc_free_page`] (fast path only, skip on contention) |
//! | TCP zero-copy receive | `find_tcp_vma`, `tcp_zerocopy_receive` (net/ipv4/tcp.c) | [`TcpSocket::find_tcp_vma_old`] | [`TcpSocket::find_tcp_vma`] |
//! | x86 shadow-stack sigreturn | `shstk_pop_sigframe`, `get_shstk_data` (arch/x86/kernel/shstk.c) | [`shstk::shstk_pop_sigframe_mmap_locked`] (the deadlock) | [`shstk::shstk_pop_sigframe`] (speculate/retry, upstream) and [`shstk::shstk_pop_sigframe_vma_locked`] (helper + no-fault copy) |
//! | `/proc/pid/maps` | `m_start`/`m_next` (fs/proc/task_mmu.c) | — | [`Mm::maps`] (pervma itself; see below) |
//!
//! The examples (`cargo run -p pervma-callers --example binder`, `tcp`,
//! `shstk`) run both forms side by side; the tests prove the converted
//! forms keep the old ones' guarantees and that the shadow-stack fixes
//! do not deadlock; `pervma bench --workload callers` measures them.
//!
//! ## The process these callers live in
//!
//! One [`Mm<Vm>`](Mm) per process: the payload [`Vm`] says what each VMA
//! is, and stands in for what the kernel reads from `vm_area_struct`
//! (`vm_ops`, `vm_private_data`, `VM_SHADOW_STACK`). Its memory is a
//! [`Frames`] backend: pervma's faults install anonymous pages there, and
//! the drivers insert their own pages with
//! [`Frames::vm_insert_page`] while they hold the VMA.
//!
//! ## `/proc/pid/maps`: the converted form is pervma's own
//!
//! `show_map`'s walk used to hold `mmap_lock` for read across the whole
//! read of `/proc/pid/maps`. Linux 6.17 reads it VMA by VMA with
//! `lock_next_vma` instead, whose fallback is the same as the helper's:
//! on contention take `mmap_lock` for read just long enough to lock that
//! one VMA (`vma_start_read_locked`), then drop it. pervma's
//! [`Mm::maps`] / [`Mm::maps_lines`] are that converted form; there is no
//! old form to keep (pervma never had it), and the race tests that make
//! it trustworthy are pervma's `tests/proc_maps_race.rs` (lines in
//! order, none torn, none skipped, while writers split, merge, map and
//! unmap) and the loom model `tests/loom_lock_next_vma.rs`.
//!
//! ```
//! use pervma::{MapFlags, Mm, Prot};
//! let mm: Mm<()> = Mm::new();
//! mm.mmap(0x10_0000, 0x2000, Prot::READ, MapFlags::PRIVATE | MapFlags::FIXED, None, ()).unwrap();
//! // Each line is read under that VMA's read lock alone, never mmap_lock
//! // for the whole file.
//! assert!(mm.maps().starts_with("00100000-00102000 r--p"));
//! ```

#![forbid(unsafe_code)]

pub mod binder;
pub mod memory;
pub mod shstk;
pub mod tcp;

pub use binder::{BinderAlloc, LruStatus};
pub use memory::{alloc_page, Frame, Frames, PAGE};
pub use tcp::{TcpSocket, TcpZerocopyReceive};

#[cfg(doc)]
use pervma::Mm;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What a VMA is, as the callers tell it: the fields of `vm_area_struct`
/// they check, carried as the VMA's payload.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Vm {
    /// Ordinary memory.
    Anon,
    /// A binder buffer mapping (`binder_mmap`), of the allocator with this
    /// id: `vm_private_data == proc`, the identity
    /// `binder_alloc_is_mapped` vouches for.
    Binder(u32),
    /// A TCP receive mapping (`tcp_mmap`) of the socket with this id:
    /// `vm_ops == &tcp_vm_ops`.
    Tcp(u32),
    /// A shadow stack (`VM_SHADOW_STACK`, from `map_shadow_stack` or
    /// `alloc_shstk`).
    ShadowStack,
}

/// How often the old forms left the fast path, counted by the callers
/// themselves (the converted forms' fallbacks are
/// [`VmaLockStats::wait`](pervma::VmaLockStats::wait)).
#[derive(Default, Debug)]
pub struct Counts {
    /// Calls that took `mmap_lock` (the old forms' fallback).
    pub mmap_lock: AtomicU64,
    /// Calls that gave up without the VMA (the shrinker's `LRU_SKIP`).
    pub skipped: AtomicU64,
}

impl Counts {
    pub(crate) fn took_mmap_lock(&self) {
        self.mmap_lock.fetch_add(1, Relaxed);
    }

    pub(crate) fn skip(&self) {
        self.skipped.fetch_add(1, Relaxed);
    }

    /// `(mmap_lock, skipped)` so far.
    pub fn get(&self) -> (u64, u64) {
        (self.mmap_lock.load(Relaxed), self.skipped.load(Relaxed))
    }
}

/// Which form of a caller to run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Form {
    /// The kernel's code before the series: `lock_vma_under_rcu`, then
    /// `mmap_read_lock` + `vma_lookup`, with the bookkeeping of which lock
    /// is held.
    Old,
    /// Converted to the helper: [`Mm::lock_vma`] ... drop.
    Helper,
}
