//! `anon_vma`: the identity of a private mapping's anonymous memory, how
//! a VMA gets one, and which neighbour's it may share.
//!
//! Linux: mm/rmap.c (`__anon_vma_prepare`), mm/vma.c
//! (`find_mergeable_anon_vma`, `reusable_anon_vma`, `anon_vma_compatible`).
//!
//! A private VMA gets its `anon_vma` the first time it needs anonymous
//! memory: a write fault, a copy-on-write fault in a private file
//! mapping, a read fault that Linux serves with the huge zero page, or
//! populating (`MAP_POPULATE`, `MAP_LOCKED`, `mlock`) writable private
//! memory. Where a neighbour's is compatible it shares that one (so the
//! two may still merge), else it gets a new one. Two functions do it, one
//! per lock the caller holds:
//!
//! - [`anon_vma_prepare_mmap_read`]: the fault path, with `mmap_lock` for
//!   read (or a VMA read lock and a successful `mmap_read_trylock`, as
//!   `vmf_anon_prepare` does). Fields cannot change under a read lock, so
//!   the result goes into the VMA's prepared slot (a compare-and-swap,
//!   `Vma::prepare_anon_vma`), which the next writer folds into the fields.
//! - [`anon_vma_prepare_mmap_write`]: inside a `VmaChange`, with
//!   `mmap_lock` for write: straight into the fields.
//!
//! Merging reads the result through `Vma::anon_vma`, which sees both.
//!
//! # After fork
//!
//! `fork` (`anon_vma_fork`) gives each child VMA whose parent VMA had an
//! `anon_vma` a new one whose parent is the parent VMA's, so that the
//! child's VMA is chained to both (Linux: its `anon_vma_chain` is no longer
//! singular, `vma_is_fork_child`). Such an `anon_vma` is never lent to a
//! neighbour and never taken by one: a fault next to it gets a new one
//! (`reusable_anon_vma`), and merging refuses to hand it over in either
//! direction (`is_mergeable_anon_vma`). Linux's reuse of an ancestor's
//! `anon_vma` that no VMA uses any more (`anon_vma_clone` with
//! `num_active_vmas == 0`) needs an ancestor that unmapped the VMA it
//! forked from; pervma always creates a new one.

#![deny(unsafe_code)]

use crate::file::{next_id, same_file};
use crate::flags::VmFlags;
use crate::mm::{MmapLocked, VmaChange, VmaPtr};
use crate::payload::Payload;
use crate::vma::Vma;
use alloc::sync::Arc;

/// The identity of the anonymous memory of one or more private VMAs.
///
/// Created by the first write fault in a private mapping (and by the other
/// events that need anonymous pages); split VMAs share it, and a new VMA
/// may reuse a neighbour's. Two VMAs with different `anon_vma`s never merge.
#[derive(Debug)]
pub struct AnonVma {
    id: u64,
    /// The parent VMA's `anon_vma`, for one made by `fork`
    /// (`anon_vma->parent`, which Linux sets to the anon_vma itself when
    /// it has none).
    parent: Option<Arc<AnonVma>>,
}

impl AnonVma {
    /// A fresh `anon_vma`.
    pub fn new() -> Arc<AnonVma> {
        Arc::new(AnonVma {
            id: next_id(),
            parent: None,
        })
    }

    /// `anon_vma_fork`'s new `anon_vma` for a child VMA whose parent VMA
    /// has `parent`.
    #[doc(alias = "anon_vma_fork")]
    pub(crate) fn fork_of(parent: &Arc<AnonVma>) -> Arc<AnonVma> {
        Arc::new(AnonVma {
            id: next_id(),
            parent: Some(parent.clone()),
        })
    }

    /// Whether a VMA with this `anon_vma` is chained to its parent
    /// process's too (`vma_is_fork_child`: a non-singular
    /// `anon_vma_chain`), which keeps it from lending or borrowing an
    /// `anon_vma` when merging.
    #[doc(alias = "vma_is_fork_child")]
    #[doc(alias = "vma_had_uncowed_parents")]
    pub fn is_fork_child(&self) -> bool {
        self.parent.is_some()
    }

    /// The parent process's `anon_vma` this one was forked from
    /// (`anon_vma->parent`), if any.
    pub fn parent(&self) -> Option<&Arc<AnonVma>> {
        self.parent.as_ref()
    }

    /// A number that identifies it for as long as it lives.
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// `__anon_vma_prepare` as the fault path runs it, with `mmap_lock` held
/// for read (Linux also takes `page_table_lock`): the next VMA's or the
/// previous one's `anon_vma` where compatible, else a new one, stored in
/// the VMA's prepared slot by compare-and-swap (a racing fault's wins;
/// the next writer folds it into the fields).
#[doc(alias = "__anon_vma_prepare")]
pub(crate) fn anon_vma_prepare_mmap_read<T: PartialEq>(mmap: &MmapLocked<'_, T>, vma: &Vma<T>) {
    let next = mmap.find_vma(vma.end());
    let prev = mmap.find_vma_prev(vma.start());
    let anon = find_mergeable_anon_vma(prev, vma, next).unwrap_or_else(AnonVma::new);
    vma.prepare_anon_vma(anon);
}

/// `anon_vma_prepare` with `mmap_lock` held for write: makes sure `vma` has an `anon_vma`, reusing a
/// neighbour's when Linux would (`find_mergeable_anon_vma`: the next VMA
/// first, then the previous one), else creating one. Returns it.
///
/// Under `mmap_lock` for write, in a [`VmaChange`] (populating, and the
/// operations that fault pages in): the `anon_vma` goes into the VMA's
/// fields, through `VmaChange::update`, which write-locks it.
#[doc(alias = "__anon_vma_prepare")]
pub(crate) fn anon_vma_prepare_mmap_write<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    vma: VmaPtr<T>,
) -> Arc<AnonVma> {
    if let Some(anon) = change.vma(vma).anon_vma() {
        return anon.clone();
    }
    let v = change.vma(vma);
    let next = change.find(v.end()).map(|n| change.vma(n));
    let prev = change.vma_prev(v.start()).map(|p| change.vma(p));
    let anon = find_mergeable_anon_vma(prev, v, next).unwrap_or_else(AnonVma::new);
    let set = anon.clone();
    change.update(vma, |f, _| f.anon_vma = Some(set));
    anon
}

/// `find_mergeable_anon_vma`: the `anon_vma` of a neighbour that `v`
/// could share: the next VMA's, else the previous one's. `next` is the
/// first VMA above `v`, `prev` the last below it (either may not be
/// adjacent, which the compatibility check rejects).
pub(crate) fn find_mergeable_anon_vma<T: PartialEq>(
    prev: Option<&Vma<T>>,
    v: &Vma<T>,
    next: Option<&Vma<T>>,
) -> Option<Arc<AnonVma>> {
    if let Some(anon) = next.and_then(|n| reusable_anon_vma(n, v, n)) {
        return Some(anon);
    }
    prev.and_then(|p| reusable_anon_vma(p, p, v))
}

/// `reusable_anon_vma`: `old`'s `anon_vma`, if `a` and `b` (one of them
/// `old`, `a` below `b`) are compatible and `old`'s `anon_vma_chain` is
/// singular (its `anon_vma` was not made by `fork`).
fn reusable_anon_vma<T: PartialEq>(old: &Vma<T>, a: &Vma<T>, b: &Vma<T>) -> Option<Arc<AnonVma>> {
    if anon_vma_compatible(a, b) {
        old.anon_vma().filter(|anon| !anon.is_fork_child()).cloned()
    } else {
        None
    }
}

/// `anon_vma_compatible`: `a` ends where `b` starts, same file at
/// contiguous offsets, and the same flags but for access bits and
/// `VM_SOFTDIRTY`. pervma also wants equal payloads, its `vm_ops`.
fn anon_vma_compatible<T: PartialEq>(a: &Vma<T>, b: &Vma<T>) -> bool {
    let ignore = VmFlags::READ | VmFlags::WRITE | VmFlags::EXEC | VmFlags::SOFTDIRTY;
    a.end() == b.start()
        && same_file(a.file(), b.file())
        && (a.flags() ^ b.flags()) - ignore == VmFlags::empty()
        && b.pgoff() == a.linear_page_index(b.start())
        && a.payload() == b.payload()
}
