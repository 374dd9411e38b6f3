//! MMU notifiers: telling whoever mirrors an address space (an emulator's
//! software TLB, a hypervisor's second-stage page tables, a pager's
//! userfaultfd region) every time what a range maps, or how it may be
//! accessed, changes.
//!
//! Linux: include/linux/mmu_notifier.h, mm/mmu_notifier.c.
//!
//! A mirror fills itself from pervma's faults ([`Mm::handle_fault`],
//! [`Mm::lock_vma`]) and must forget what it holds for a range when told
//! [`MmuNotifier::invalidate_range_start`]; it may fill it again after
//! [`MmuNotifier::invalidate_range_end`] (a fault in between waits for the
//! operation, whose VMAs are write-locked until its write cycle ends).
//! pervma calls them around every such change, under the locks Linux holds
//! there, with the event that caused it ([`MmuNotifierEvent`]):
//!
//! | operation | event | lock held |
//! |---|---|---|
//! | `munmap`, `mmap(MAP_FIXED)` over mappings, `mremap` shrinking or replacing its target | [`Unmap`](MmuNotifierEvent::Unmap) | `mmap_lock` for write |
//! | `mprotect`, `pkey_mprotect` (per VMA part whose flags change) | [`Protection`](MmuNotifierEvent::Protection) | `mmap_lock` for write |
//! | `mremap` moving pages | [`MoveFrom`](MmuNotifierEvent::MoveFrom), [`MoveTo`](MmuNotifierEvent::MoveTo) | `mmap_lock` for write |
//! | `MADV_DONTNEED`, `MADV_FREE` | [`Discard`](MmuNotifierEvent::Discard) | the VMA lock, or `mmap_lock` for read |
//! | `MAP_POPULATE`, `MAP_LOCKED`, `mlock` faulting pages in | [`Populate`](MmuNotifierEvent::Populate) | `mmap_lock` for write |
//! | the `Mm` dropped | [`MmuNotifier::release`] | none (the `Mm` is gone) |
//!
//! Linux reports a move's source as `MMU_NOTIFY_UNMAP` and nothing for
//! populating; pervma says more, for mirrors that can move or prefault
//! host pages. Linux also skips ranges with no page tables; pervma reports
//! every range an operation changes, a superset. An operation that fails
//! part-way (`mprotect` over a hole, a multi-VMA `mremap` that moved some
//! VMAs) has reported exactly the parts it changed.
//!
//! Registering ([`Mm::mmu_notifier_register`]) takes `mmap_lock` for write
//! and write-locks every VMA, as Linux's `mm_take_all_locks` does, so no
//! change is in flight while the list changes. With nothing registered an
//! operation pays one relaxed load per change, and faults nothing.
//!
//! # Invariants
//!
//! - The list changes only under `mmap_lock` for write with every VMA
//!   write-locked; operations read it under `mmap_lock` or a VMA lock.
//! - Every `invalidate_range_start` is followed by exactly one
//!   `invalidate_range_end` with the same range, to the same notifiers.

#![deny(unsafe_code)]

use crate::flags::Prot;
use crate::mm::Mm;
use crate::sync::prim::{AtomicU64, Ordering};
use crate::sync::rcu_arc::RcuArc;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// What changed in a range ([`MmuNotifierRange::event`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
#[doc(alias = "mmu_notifier_event")]
pub enum MmuNotifierEvent {
    /// The range is no longer mapped (`MMU_NOTIFY_UNMAP`).
    Unmap,
    /// The range stays mapped, but its pages were dropped (`MADV_DONTNEED`)
    /// or may be reclaimed at any time (`MADV_FREE`) (`MMU_NOTIFY_CLEAR`).
    Discard,
    /// The range now allows `prot`, with protection key `pkey`
    /// (`MMU_NOTIFY_PROTECTION_VMA`).
    Protection {
        /// The new protection.
        prot: Prot,
        /// The new protection key (0 without protection keys).
        pkey: u32,
    },
    /// The range's pages move to `to` (`mremap`; Linux says
    /// `MMU_NOTIFY_UNMAP`). The range itself is unmapped, or left empty
    /// with `MREMAP_DONTUNMAP`.
    MoveFrom {
        /// Where the range's first page goes.
        to: u64,
    },
    /// The range receives the pages of the range at `from` (`mremap`).
    MoveTo {
        /// Where they come from.
        from: u64,
    },
    /// The range's pages are being faulted in by `MAP_POPULATE`,
    /// `MAP_LOCKED` or `mlock` (pervma's own: Linux tells notifiers
    /// nothing of faults). Nothing that was mapped changes.
    Populate,
}

/// One change: `[start, end)` and what happened to it
/// (`struct mmu_notifier_range`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[doc(alias = "mmu_notifier_range")]
pub struct MmuNotifierRange {
    /// The first address (page-aligned).
    pub start: u64,
    /// One past the last address (page-aligned).
    pub end: u64,
    /// What happened.
    pub event: MmuNotifierEvent,
}

/// An observer of an address space's changes (`struct mmu_notifier` with
/// its `mmu_notifier_ops`). See the module docs for when each method is
/// called.
///
/// The methods run with the locks of the operation held: they must not
/// call back into the same `Mm` (it would deadlock, or panic in debug
/// builds), and should be quick.
///
/// ```
/// use pervma::{MapFlags, Mm, MmuNotifier, MmuNotifierEvent, MmuNotifierRange, Prot};
/// use std::sync::{Arc, Mutex};
///
/// /// Remembers what it was told.
/// #[derive(Default)]
/// struct Log(Mutex<Vec<MmuNotifierRange>>);
///
/// impl MmuNotifier for Log {
///     fn invalidate_range_start(&self, range: &MmuNotifierRange) {
///         self.0.lock().unwrap().push(*range);
///     }
/// }
///
/// let mm: Mm<()> = Mm::new();
/// let log = Arc::new(Log::default());
/// mm.mmu_notifier_register(log.clone());
/// let rw = Prot::READ | Prot::WRITE;
/// mm.mmap(0x10_0000, 0x3000, rw, MapFlags::PRIVATE | MapFlags::FIXED, None, ()).unwrap();
/// mm.mprotect(0x10_1000, 0x1000, Prot::READ).unwrap();
/// mm.munmap(0x10_0000, 0x3000).unwrap();
/// let seen: Vec<_> = log.0.lock().unwrap().iter().map(|r| (r.start, r.end, r.event)).collect();
/// assert_eq!(seen, [
///     (0x10_1000, 0x10_2000, MmuNotifierEvent::Protection { prot: Prot::READ, pkey: 0 }),
///     (0x10_0000, 0x10_3000, MmuNotifierEvent::Unmap),
/// ]);
/// ```
pub trait MmuNotifier: Send + Sync {
    /// Forget every translation of `range` and do not make new ones until
    /// [`invalidate_range_end`](Self::invalidate_range_end).
    fn invalidate_range_start(&self, range: &MmuNotifierRange);

    /// The change of `range` is done (the new state becomes visible to
    /// faults when the operation's locks are released).
    fn invalidate_range_end(&self, range: &MmuNotifierRange) {
        let _ = range;
    }

    /// The address space is going away (it is being dropped), or this
    /// notifier is being unregistered: forget everything.
    fn release(&self) {}
}

/// A registration, to unregister with ([`Mm::mmu_notifier_unregister`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct MmuNotifierId(u64);

type List = Vec<(MmuNotifierId, Arc<dyn MmuNotifier>)>;

/// The notifiers of an `Mm` (`mm->notifier_subscriptions`).
pub(crate) struct Notifiers {
    list: RcuArc<List>,
    next_id: AtomicU64,
}

/// An invalidation in progress: its `invalidate_range_end` runs on drop.
#[must_use = "the invalidation ends when this is dropped"]
pub(crate) struct Invalidation {
    list: Arc<List>,
    range: MmuNotifierRange,
}

impl Drop for Invalidation {
    fn drop(&mut self) {
        for (_, notifier) in self.list.iter() {
            notifier.invalidate_range_end(&self.range);
        }
    }
}

impl Notifiers {
    pub(crate) fn new() -> Self {
        Notifiers {
            list: RcuArc::new(),
            next_id: AtomicU64::new(0),
        }
    }

    /// Whether nothing is registered (`!mm_has_notifiers`); exact under
    /// `mmap_lock`, which registering takes for write.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// `mmu_notifier_invalidate_range_start` for `[start, end)`: `None`
    /// (after one load) when nothing is registered, else the invalidation,
    /// which ends when dropped.
    #[inline]
    pub(crate) fn invalidate(
        &self,
        start: u64,
        end: u64,
        event: MmuNotifierEvent,
    ) -> Option<Invalidation> {
        let list = self.list.load()?;
        let range = MmuNotifierRange { start, end, event };
        for (_, notifier) in list.iter() {
            notifier.invalidate_range_start(&range);
        }
        Some(Invalidation { list, range })
    }

    /// `mmu_notifier_release`: tells every notifier, and forgets them.
    fn release(&self) {
        if let Some(list) = self.list.load() {
            self.list.replace(None);
            for (_, notifier) in list.iter() {
                notifier.release();
            }
        }
    }
}

impl<T> Mm<T> {
    /// Registers `notifier` to be told of every change to this space
    /// (`mmu_notifier_register`). Takes `mmap_lock` for write and
    /// write-locks every VMA, so that no change is half-reported.
    ///
    /// # Panics
    ///
    /// In debug builds with `std`, if this thread holds a lock of this
    /// `Mm` (it waits for `mmap_lock`).
    pub fn mmu_notifier_register(&self, notifier: Arc<dyn MmuNotifier>) -> MmuNotifierId {
        let id = MmuNotifierId(self.notifiers.next_id.fetch_add(1, Ordering::Relaxed));
        self.update_notifiers(|list| list.push((id, notifier)));
        id
    }

    /// Unregisters a notifier and calls its [`release`](MmuNotifier::release),
    /// as Linux's `mmu_notifier_unregister` does; `None` if `id` is not
    /// registered. Takes the locks [`mmu_notifier_register`](Self::mmu_notifier_register)
    /// takes.
    pub fn mmu_notifier_unregister(&self, id: MmuNotifierId) -> Option<Arc<dyn MmuNotifier>> {
        let mut removed = None;
        self.update_notifiers(|list| {
            if let Some(i) = list.iter().position(|(i, _)| *i == id) {
                removed = Some(list.remove(i).1);
            }
        });
        let notifier = removed?;
        notifier.release();
        Some(notifier)
    }

    /// Replaces the list with `edit`'s copy of it, under `mmap_lock` for
    /// write with every VMA write-locked (`mm_take_all_locks`).
    fn update_notifiers(&self, edit: impl FnOnce(&mut List)) {
        let mut guard = self.mmap_write_lock();
        guard.vma_start_write_all();
        let mut list: List = self
            .notifiers
            .list
            .load()
            .map_or_else(Vec::new, |l| (*l).clone());
        edit(&mut list);
        self.notifiers
            .list
            .replace((!list.is_empty()).then(|| Arc::new(list)));
    }

    /// `mmu_notifier_release`, from `Drop`.
    pub(crate) fn release_notifiers(&self) {
        self.notifiers.release();
    }
}
