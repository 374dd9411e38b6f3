//! `VmaChange`: one address-space operation's edits, published at once.
//!
//! Linux: mm/vma.c (`vma_iterator`, `vms_gather_munmap_vmas`,
//! `vms_complete_munmap_vmas`, `__split_vma`).
//!
//! An operation (mmap, munmap, ...) opens a `VmaChange` on its
//! `MmapWriteGuard`, then:
//!
//! - reads the pending state ([`VmaChange::find`], [`VmaChange::vma`], ...);
//! - changes VMAs, each of which it write-locks first
//!   ([`VmaChange::update`]), creates new ones ([`VmaChange::insert`]) and
//!   removes old ones ([`VmaChange::remove`]);
//! - calls [`VmaChange::commit`], which publishes the new tree with one
//!   store, then detaches the removed VMAs and defers their freeing.
//!
//! Readers see the old tree or the new one, never a hole in between; the
//! VMAs whose contents changed are write-locked, so a reader that found
//! them in the old tree backs out and waits for the write cycle to end.
//!
//! Edits to existing VMAs are not undone if the change is dropped without
//! a commit, so operations check everything that can fail before their
//! first edit (Linux's "gather, then complete"). A change that fails
//! before its first edit may be dropped; one that fails after it (the
//! calls Linux lets fail halfway) commits what it did and then returns
//! the error. Debug builds check this rule: dropping a change after an
//! edit ([`VmaChange::update`], `split`, `merge`, `insert`, `remove`,
//! `zap_pages`, `move_pages`) without [`VmaChange::commit`] panics,
//! unless the thread is already unwinding.
//!
//! # Invariants
//!
//! - `created` holds the VMAs inserted by this change: allocated here,
//!   attached, write-locked in this cycle, and reachable only from the
//!   unpublished tree until commit.
//! - `removed` holds VMAs of the published tree that this change has
//!   write-locked and unlinked from the pending tree; each appears once.
//! - Page-table edits ([`VmaChange::zap_pages`], [`VmaChange::move_pages`])
//!   happen at once, on ranges whose VMAs this change has write-locked (or
//!   where Linux lets faults race, `MADV_DONTNEED`); the pages they drop
//!   wait in `pages` for the commit's grace period.

#![deny(unsafe_op_in_unsafe_fn)]

use super::{MmapWriteGuard, VmaPtr};
use crate::sync::rcu::{rcu_read_lock, RetireBatch};
use crate::tree::TreeWriter;
use crate::vma::{Vma, VmaFields};
use alloc::boxed::Box;
use alloc::vec::Vec;

/// The edits of one operation; see the module docs.
#[must_use = "a change must be committed once it has edited anything"]
pub(crate) struct VmaChange<'g, 'mm, T> {
    guard: &'g mut MmapWriteGuard<'mm, T>,
    /// `Some` until `commit` takes it.
    tree: Option<TreeWriter<'mm, VmaPtr<T>>>,
    created: SmallList<VmaPtr<T>>,
    removed: SmallList<VmaPtr<T>>,
    /// Pages unmapped by this change, freed after the commit's grace
    /// period.
    pages: RetireBatch,
    /// Whether an edit has been made that only `commit` makes consistent
    /// (checked on drop in debug builds).
    dirty: bool,
}

// `T: Send + Sync + 'static`: removed VMAs are dropped by whichever thread
// collects the RCU garbage, possibly after this `Mm` is gone.
impl<'g, 'mm, T: Send + Sync + 'static> VmaChange<'g, 'mm, T> {
    /// Opens a change. The `&mut` borrow of the guard makes it the only one.
    pub(crate) fn new(guard: &'g mut MmapWriteGuard<'mm, T>) -> Self {
        let mm = guard.mm();
        // SAFETY: the guard proves we hold `mmap_lock` for write, the only
        // lock under which trees are written, and we borrow it mutably for
        // as long as the writer lives, so no other writer can be opened.
        let tree = unsafe { mm.mm_mt.write() };
        VmaChange {
            guard,
            tree: Some(tree),
            created: SmallList::new(),
            removed: SmallList::new(),
            pages: RetireBatch::new(),
            dirty: false,
        }
    }

    fn tree(&self) -> &TreeWriter<'mm, VmaPtr<T>> {
        self.tree.as_ref().expect("tree writer taken before commit")
    }

    fn tree_mut(&mut self) -> &mut TreeWriter<'mm, VmaPtr<T>> {
        self.tree.as_mut().expect("tree writer taken before commit")
    }

    /// The write guard the change runs under.
    pub(crate) fn guard(&self) -> &MmapWriteGuard<'mm, T> {
        self.guard
    }

    /// The VMA behind `vma`.
    pub(crate) fn vma(&self, vma: VmaPtr<T>) -> &Vma<T> {
        // SAFETY: every `VmaPtr` a change hands out comes from its pending
        // tree, which holds only VMAs that are alive until this change
        // commits (removed ones are freed only after commit, and `commit`
        // consumes `self`). `mmap_lock` for write excludes other writers.
        let vma = unsafe { vma.as_ref() };
        debug_assert!(vma.lock().is_attached());
        vma
    }

    /// The first VMA ending above `addr` in the pending state.
    pub(crate) fn find(&self, addr: u64) -> Option<VmaPtr<T>> {
        self.tree().find(addr).map(|(_, _, v)| v)
    }

    /// `vma_prev`: the VMA that ends at or below `addr` and contains
    /// `addr - 1`; `None` when `addr - 1` is in a gap (or `addr` is 0).
    #[inline]
    pub(crate) fn vma_prev(&self, addr: u64) -> Option<VmaPtr<T>> {
        // The tree has no `prev`: look up the address below.
        let below = addr.checked_sub(1)?;
        self.find(below).filter(|&v| self.vma(v).start() <= below)
    }

    /// The VMAs overlapping `[start, end)`, lowest first.
    pub(crate) fn overlapping(&self, start: u64, end: u64) -> SmallList<VmaPtr<T>> {
        let mut out = SmallList::new();
        let mut addr = start;
        while addr < end {
            let Some((first, last, v)) = self.tree().find(addr) else {
                break;
            };
            if first >= end {
                break;
            }
            out.push(v);
            match last.checked_add(1) {
                Some(next) if next < end => addr = next,
                _ => break,
            }
        }
        out
    }

    /// The VMAs just around the free range `[start, end)`: the one ending
    /// at `start` and the one starting at `end`, from one descent.
    pub(crate) fn neighbours(
        &self,
        start: u64,
        end: u64,
    ) -> (Option<VmaPtr<T>>, Option<VmaPtr<T>>) {
        let from = start.saturating_sub(1);
        let mut it = self.tree().iter_from(from);
        let mut first = it.next();
        let prev = match first {
            Some((f, last, v)) if start > 0 && f <= from => {
                debug_assert_eq!(last, from, "the range is not free");
                first = it.next();
                Some(v)
            }
            _ => None,
        };
        let next = first.filter(|&(f, _, _)| f == end).map(|(_, _, v)| v);
        (prev, next)
    }

    /// The number of VMAs in the pending state.
    pub(crate) fn map_count(&self) -> usize {
        self.tree().len()
    }

    /// The highest free `[s, s + len)` with `s` aligned to `align`
    /// inside `[low, high)`.
    pub(crate) fn unmapped_area_topdown(
        &self,
        low: u64,
        high: u64,
        len: u64,
        align: u64,
    ) -> Option<u64> {
        if high <= low || len == 0 {
            return None;
        }
        self.tree().gap_top_down(low, high - 1, len, align)
    }

    /// The lowest free `[s, s + len)` with `s` aligned to `align` inside
    /// `[low, high)`.
    pub(crate) fn unmapped_area(&self, low: u64, high: u64, len: u64, align: u64) -> Option<u64> {
        if high <= low || len == 0 {
            return None;
        }
        self.tree().gap_bottom_up(low, high - 1, len, align)
    }

    /// `vma_start_write` on `vma`, then lets `edit` change its fields and
    /// payload. If the range changes, the tree follows: the new range maps
    /// to `vma` and what it no longer covers becomes empty (the caller may
    /// insert something there afterwards).
    pub(crate) fn update(&mut self, vma: VmaPtr<T>, edit: impl FnOnce(&mut VmaFields, &mut T)) {
        let ((old_start, old_end), (start, end)) = self.edit(vma, edit);
        if (start, end) != (old_start, old_end) {
            if old_start < start {
                self.tree_mut()
                    .store(old_start, start.min(old_end) - 1, None);
            }
            if end < old_end {
                self.tree_mut().store(end.max(old_start), old_end - 1, None);
            }
            // A VMA that only shrank still maps its new range: the tree
            // has `vma` there already.
            if start < old_start || old_end < end || end <= old_start || old_end <= start {
                self.tree_mut().store(start, end - 1, Some(vma));
            }
        }
    }

    /// `vma_start_write` on `vma`, then `edit`; returns its range before
    /// and after. The tree is the caller's business.
    fn edit(
        &mut self,
        vma: VmaPtr<T>,
        edit: impl FnOnce(&mut VmaFields, &mut T),
    ) -> ((u64, u64), (u64, u64)) {
        self.dirty = true;
        let mm = self.guard.mm();
        let seq = self.guard.seq();
        let v = self.vma(vma);
        let old = (v.start(), v.end());
        // SAFETY: we hold `mmap_lock` for write (the guard) and `seq` is its
        // cycle; `writer_wait` is this `Mm`'s.
        unsafe { v.lock().start_write(seq, mm.vma_locks()) };
        // SAFETY: mmap_lock for write is held and `vma` is write-locked, so
        // no reader holds it; the two references end within this block.
        let new = unsafe {
            let fields = v.fields_mut();
            edit(fields, v.payload_mut());
            (fields.vm_start, fields.vm_end)
        };
        debug_assert!(new.0 < new.1, "an update left an empty VMA");
        (old, new)
    }

    /// `__split_vma`: `edit` shrinks `vma` from one end, and a new VMA
    /// with `fields` and `payload` takes exactly the part it gave up. The
    /// same as [`update`](Self::update) and then [`insert`](Self::insert),
    /// with one tree store instead of two (the new VMA's store replaces
    /// that part of `vma`'s range directly, so the range is never empty).
    pub(crate) fn split(
        &mut self,
        vma: VmaPtr<T>,
        edit: impl FnOnce(&mut VmaFields, &mut T),
        fields: VmaFields,
        payload: T,
    ) -> VmaPtr<T> {
        let ((old_start, old_end), (start, end)) = self.edit(vma, edit);
        let part = (fields.vm_start, fields.vm_end);
        debug_assert!(
            (start, part) == (old_start, (end, old_end))
                || (end, part) == (old_end, (old_start, start)),
            "split: the new VMA does not take what the old one gave up"
        );
        self.insert(fields, payload)
    }

    /// Merges into `keep`: write-locks and unlinks each of `gone`, then
    /// [`update`](Self::update)s `keep` with `edit`, whose new range must
    /// cover theirs. The same as [`remove`](Self::remove) of each and then
    /// the update, with one tree store instead of one more per VMA.
    pub(crate) fn merge(
        &mut self,
        keep: VmaPtr<T>,
        gone: &[VmaPtr<T>],
        edit: impl FnOnce(&mut VmaFields, &mut T),
    ) {
        self.dirty = true;
        let mut span = (u64::MAX, 0);
        for &vma in gone {
            if self.created.contains(vma) {
                // Freed at once by `remove`: unlink it first.
                self.remove(vma);
                continue;
            }
            let mm = self.guard.mm();
            let seq = self.guard.seq();
            let v = self.vma(vma);
            span = (span.0.min(v.start()), span.1.max(v.end()));
            // SAFETY: as in `edit`.
            unsafe { v.lock().start_write(seq, mm.vma_locks()) };
            debug_assert!(!self.removed.contains(vma));
            // INVARIANT (`removed`): the update below unlinks it.
            self.removed.push(vma);
        }
        self.update(keep, edit);
        if span.0 < span.1 {
            let k = self.vma(keep);
            assert!(
                k.start() <= span.0 && span.1 <= k.end(),
                "merge: the kept VMA does not cover the ones that go"
            );
        }
    }

    /// Creates a VMA with `fields` and `payload` and maps its range to it,
    /// replacing whatever the pending tree had there. The new VMA is
    /// write-locked until the write cycle ends.
    pub(crate) fn insert(&mut self, fields: VmaFields, payload: T) -> VmaPtr<T> {
        self.dirty = true;
        let (start, end) = (fields.vm_start, fields.vm_end);
        debug_assert!(start < end, "an empty VMA");
        let vma = Box::new(Vma::new(fields, payload, self.guard.seq()));
        // SAFETY: we hold `mmap_lock` for write and the VMA is new: no
        // reader can reach it before `commit` publishes the tree.
        unsafe { vma.lock().mark_attached() };
        let vma = VmaPtr::from_box(vma);
        self.created.push(vma);
        self.tree_mut().store(start, end - 1, Some(vma));
        vma
    }

    /// Write-locks `vma` and unlinks it; it is detached and freed after
    /// the commit.
    pub(crate) fn remove(&mut self, vma: VmaPtr<T>) {
        self.dirty = true;
        let mm = self.guard.mm();
        let seq = self.guard.seq();
        let v = self.vma(vma);
        let (start, end) = (v.start(), v.end());
        // SAFETY: as in `update`.
        unsafe { v.lock().start_write(seq, mm.vma_locks()) };
        self.tree_mut().store(start, end - 1, None);
        if self.created.remove(vma) {
            // SAFETY: created by this change, never published, and now
            // unlinked from the pending tree: nobody else can reach it.
            drop(unsafe { Box::from_raw(vma.as_ptr()) });
        } else {
            debug_assert!(!self.removed.contains(vma));
            self.removed.push(vma);
        }
    }

    /// `zap_page_range`: empties the page table over `[start, end)` now.
    /// The VMAs there are write-locked by this change, or (for
    /// `MADV_DONTNEED`) faults may race with it as they do in Linux.
    pub(crate) fn zap_pages(&mut self, start: u64, end: u64) {
        self.dirty = true;
        self.guard.mm().page_table.zap(start, end, &mut self.pages);
    }

    /// `move_page_tables`: moves the pages of `[from, from + len)` to
    /// `[to, to + len)` now, dropping what was at the destination. Both
    /// ranges' VMAs are write-locked by this change.
    pub(crate) fn move_pages(&mut self, from: u64, to: u64, len: u64) {
        self.dirty = true;
        self.guard
            .mm()
            .page_table
            .move_range(from, to, len, &mut self.pages);
    }

    /// Publishes the change: one store (of the tree root, or of the one
    /// changed leaf's pointer in its parent), then each removed
    /// VMA is detached (waiting for transient readers) and freed after a
    /// grace period.
    pub(crate) fn commit(mut self) {
        self.dirty = false;
        let mm = self.guard.mm();
        self.created.clear();
        let removed = core::mem::replace(&mut self.removed, SmallList::new());
        // One batch for the operation's garbage: the replaced tree nodes,
        // the removed VMAs and the zapped pages, retired with one callback.
        let mut batch = core::mem::replace(&mut self.pages, RetireBatch::new());
        let mut txn = 0;
        if let Some(tree) = self.tree.take() {
            txn = tree.txn();
            tree.commit_into(&mut batch);
        }
        // Detached outside any read section: `mark_detached` may wait
        // (sleep, with a kernel's wait hooks) for transient readers, and a
        // section may run with preemption disabled (`set_rcu_cpu_hooks`).
        for vma in removed.iter() {
            // SAFETY: the VMA is write-locked in this cycle (by `remove`)
            // and no longer in the published tree; we hold mmap_lock for
            // write.
            unsafe { vma.as_ref().lock().mark_detached(mm.vma_locks()) };
        }
        for vma in removed {
            // Allocated with `Box` by the change that inserted it, unlinked
            // and detached now, so only RCU readers that walked the old
            // tree can still see it, and they will find a zero refcount.
            // Dropping `Vma<T>` elsewhere is sound for `T: Send`.
            // SAFETY: as just said; the batch is retired below.
            unsafe { batch.push(vma.as_ptr()) };
        }
        // Retired after the publication above (a grace period from here
        // covers every reader that could see the old tree), and the
        // batches retired earlier whose grace period has passed are freed
        // here, on the writer that allocated them (`sync::rcu_done`).
        let rcu = rcu_read_lock();
        rcu.retire(batch);
        // Every few changes, hand this thread's bag of retired batches to
        // the collector (and collect, which moves the batches whose grace
        // period has passed to the done list), so that they come back to
        // this writer while their memory is still in its cache. Left to
        // fill its bag (64 changes), the writer reuses cold memory: a
        // one-page mmap+munmap pair took 1.9x the L1 data-cache misses
        // (callgrind's cache model, `--example write_loop`), and 10-25%
        // longer. Every 4th change costs a 2 KiB bag copy per 4 changes;
        // every 2nd was no better.
        if txn % FLUSH_EVERY == 0 {
            rcu.flush();
        }
    }
}

/// How many changes (tree transactions) pass between two flushes of the
/// writer's retired batches.
const FLUSH_EVERY: u64 = 4;

impl<T> Drop for VmaChange<'_, '_, T> {
    fn drop(&mut self) {
        // The module's rule: after an edit, only `commit` leaves the tree
        // and the VMAs agreeing. Not while unwinding (a second panic would
        // abort); `no_std` cannot tell, so it checks always.
        #[cfg(feature = "std")]
        let unwinding = std::thread::panicking();
        #[cfg(not(feature = "std"))]
        let unwinding = false;
        debug_assert!(
            !self.dirty || unwinding,
            "VmaChange dropped without commit after an edit: \
             the operation failed after its first edit instead of before it"
        );
        // Pages zapped before a failure: readers inside RCU sections may
        // still copy from them (after `commit`, this is empty, and no read
        // section is needed).
        if !self.pages.is_empty() {
            rcu_read_lock().retire(core::mem::replace(&mut self.pages, RetireBatch::new()));
        }
        // Not committed: the pending tree is thrown away by the writer's
        // own drop; free the VMAs only it referenced.
        for vma in core::mem::replace(&mut self.created, SmallList::new()) {
            // SAFETY: created by this change and never published.
            drop(unsafe { Box::from_raw(vma.as_ptr()) });
        }
    }
}

/// How many items a [`SmallList`] keeps without allocating: an operation
/// rarely touches more VMAs than this.
const INLINE: usize = 4;

/// A short list of `Copy` items, kept inline up to [`INLINE`] items and
/// spilling to the heap beyond (the `created`/`removed` lists and the
/// VMAs under a range: one or two items in the common case, where a `Vec`
/// would allocate for each).
pub(crate) struct SmallList<T: Copy> {
    inline: [Option<T>; INLINE],
    len: usize,
    spill: Vec<T>,
}

impl<T: Copy + PartialEq> SmallList<T> {
    pub(crate) fn new() -> Self {
        SmallList {
            inline: [None; INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, item: T) {
        if self.len < INLINE {
            self.inline[self.len] = Some(item);
        } else {
            self.spill.push(item);
        }
        self.len += 1;
    }

    #[cfg(all(test, not(loom)))]
    fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn first(&self) -> Option<T> {
        self.inline[0]
    }

    pub(crate) fn last(&self) -> Option<T> {
        match self.len {
            0 => None,
            n if n <= INLINE => self.inline[n - 1],
            _ => self.spill.last().copied(),
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.inline
            .iter()
            .map_while(|i| *i)
            .chain(self.spill.iter().copied())
    }

    pub(crate) fn contains(&self, item: T) -> bool {
        self.iter().any(|i| i == item)
    }

    pub(crate) fn clear(&mut self) {
        *self = SmallList::new();
    }

    /// Removes `item` (the order of the others may change); whether it
    /// was there.
    pub(crate) fn remove(&mut self, item: T) -> bool {
        let Some(i) = self.iter().position(|x| x == item) else {
            return false;
        };
        let last = self.iter().last().expect("not empty");
        self.len -= 1;
        if self.len >= INLINE {
            self.spill.pop();
        } else {
            self.inline[self.len] = None;
        }
        if i < self.len {
            match i < INLINE {
                true => self.inline[i] = Some(last),
                false => self.spill[i - INLINE] = last,
            }
        }
        true
    }
}

impl<T: Copy + PartialEq> IntoIterator for SmallList<T> {
    type Item = T;
    type IntoIter = core::iter::Chain<
        core::iter::Flatten<core::array::IntoIter<Option<T>, INLINE>>,
        alloc::vec::IntoIter<T>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.inline.into_iter().flatten().chain(self.spill)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{SmallList, VmaChange, INLINE};
    use crate::{MapFlags, Mm, Prot};
    use alloc::vec::Vec;

    fn mapped() -> (Mm<()>, u64) {
        let mm: Mm<()> = Mm::new();
        let flags = MapFlags::PRIVATE | MapFlags::FIXED;
        let a = mm.mmap(0x10_0000, 0x2000, Prot::READ, flags, None, ());
        (mm, a.unwrap())
    }

    /// The debug check of the module's rule: an edit (here one that
    /// leaves the range as it was, so the space stays sound) and no
    /// commit.
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "VmaChange dropped without commit after an edit")]
    fn dropping_an_edited_change_panics() {
        let (mm, a) = mapped();
        let mut guard = mm.mmap_write_lock();
        let mut change = VmaChange::new(&mut guard);
        let vma = change.find(a).unwrap();
        change.update(vma, |_, _| {});
        drop(change);
    }

    /// A change that only looked (an operation failing before its first
    /// edit) may be dropped.
    #[test]
    fn dropping_an_unedited_change_is_fine() {
        let (mm, a) = mapped();
        let mut guard = mm.mmap_write_lock();
        let change = VmaChange::new(&mut guard);
        assert!(change.find(a).is_some());
        drop(change);
    }

    /// `SmallList` against a `Vec`, across the inline/heap boundary.
    #[test]
    fn small_list_matches_vec() {
        let mut list = SmallList::new();
        let mut model: Vec<u32> = Vec::new();
        let mut x = 12345u32;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let item = x % (2 * INLINE as u32 + 3);
            if x % 3 == 0 {
                let was = model.iter().position(|&m| m == item);
                assert_eq!(list.remove(item), was.is_some());
                if let Some(i) = was {
                    model.swap_remove(i);
                }
            } else if !model.contains(&item) {
                list.push(item);
                model.push(item);
            }
            let mut got: Vec<u32> = list.iter().collect();
            let mut want = model.clone();
            got.sort();
            want.sort();
            assert_eq!(got, want);
            assert_eq!(list.len(), model.len());
            assert_eq!(list.is_empty(), model.is_empty());
        }
        let n = list.len();
        assert_eq!(list.into_iter().count(), n);
    }
}
