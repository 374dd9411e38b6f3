//! `lock_next_vma`: read-lock the next VMA at or above an address without
//! `mmap_lock`, for readers that walk the whole address space one VMA at
//! a time (`/proc/pid/maps`, `PROCMAP_QUERY`).
//!
//! Linux: mm/mmap_lock.c (`lock_next_vma`, `lock_next_vma_under_mmap_lock`,
//! 6.17), used by fs/proc/task_mmu.c (`get_next_vma`, `query_vma_find_by_addr`).
//!
//! # The protocol
//!
//! 1. Read `mm_lock_seq` (`mmap_lock_speculate_try_begin`), then, inside an
//!    RCU read section, find the first VMA with `vm_end > from_addr`.
//! 2. `vma_start_read` it. Detached: it was replaced after the walk, walk
//!    again. Write-locked (or too many readers): fall back (step 5).
//! 3. Re-check under the read lock, which freezes the VMA's fields:
//!    - `from_addr >= vm_end`: the VMA shrank below the position after we
//!      found it; fall back.
//!    - `from_addr < vm_start` (a gap before it): if a write cycle may have
//!      run since step 1, the gap may be new (the VMA was shrunk from the
//!      front and another installed before it); look again in a fresh,
//!      stable tree and fall back unless the same VMA is still the first
//!      one above `from_addr`.
//! 4. An empty walk is the truth only if no write cycle ran around it
//!    (one operation publishes once, but a caller may run several in one
//!    write cycle); otherwise fall back.
//! 5. Fallback: `mmap_read_lock`, `find_vma`, `vma_start_read_locked`
//!    (cannot fail for contention), drop `mmap_lock`. `mmap_lock` is never
//!    held across items, and never waited for while holding a VMA lock.
//!
//! The returned VMA ends above `from_addr` and may start below it (a VMA
//! that grew or merged since the caller's previous item): the kernel
//! prints such a VMA a second time; pervma's maps reader prints only the
//! part above `from_addr` (see `proc::maps`).
//!
//! Counters: `success` (fast path), `miss` (detached, walked again),
//! `abort` (fast path gave up), `wait` (fell back to `mmap_lock`).

use super::{Mm, VmaReadGuard, Walked};
use crate::sync::lockdep;
use crate::sync::percpu::this_shard;
use crate::sync::prim::spin_hint;
use crate::sync::rcu::{rcu_read_lock, RcuGuard};

/// The fast path could not give a true answer without waiting.
struct Contended;

impl<T> Mm<T> {
    /// `lock_next_vma`: read-locks the first VMA that ends above
    /// `from_addr` (the one covering it, or the next one), without
    /// holding `mmap_lock` afterwards.
    ///
    /// Tries the RCU fast path and falls back to `mmap_read_lock` on
    /// contention, like [`Mm::lock_vma`]; never fails spuriously. `None`
    /// means that no VMA ended above `from_addr` at an instant during the
    /// call when no write cycle was running.
    ///
    /// The VMA may start below `from_addr`. Iterating with
    /// `from_addr = previous.end()` visits, in address order, every VMA
    /// that exists for the whole iteration (it cannot be skipped: the
    /// position only moves to the end of a VMA that was mapped at that
    /// moment, and gaps are re-validated); see [`Mm::maps_lines`].
    ///
    /// # The deadlock rule
    ///
    /// Its fallback waits for `mmap_lock`: drop the previous item's guard
    /// before asking for the next one, and do not call it while holding
    /// `mmap_lock` of the same `Mm`. Debug builds with `std` panic instead
    /// of hanging.
    ///
    /// ```
    /// use pervma::{MapFlags, Mm, Prot};
    /// let mm: Mm<()> = Mm::new();
    /// let fixed = MapFlags::PRIVATE | MapFlags::FIXED;
    /// mm.mmap(0x10_0000, 0x2000, Prot::READ, fixed, None, ()).unwrap();
    /// mm.mmap(0x20_0000, 0x1000, Prot::NONE, fixed, None, ()).unwrap();
    /// let mut ranges = Vec::new();
    /// let mut pos = 0;
    /// while let Some(vma) = mm.lock_next_vma(pos) {
    ///     ranges.push((vma.start(), vma.end()));
    ///     pos = vma.end();
    ///     // `vma` (the guard) is dropped here, before the next call.
    /// }
    /// assert_eq!(ranges, [(0x10_0000, 0x10_2000), (0x20_0000, 0x20_1000)]);
    /// ```
    pub fn lock_next_vma(&self, from_addr: u64) -> Option<VmaReadGuard<'_, T>> {
        lockdep::check_may_wait(self.lockdep_id(), "lock_next_vma");
        match self.lock_next_vma_fast(from_addr) {
            Ok(vma) => vma,
            Err(Contended) => self.lock_next_vma_under_mmap_lock(from_addr),
        }
    }

    fn lock_next_vma_fast(&self, from_addr: u64) -> Result<Option<VmaReadGuard<'_, T>>, Contended> {
        let cpu = this_shard();
        loop {
            // Before the walk: if no write cycle runs from here until a
            // later check, the walk saw a state readers under mmap_lock see.
            let seq = self.mm_lock_seq.speculate_try_begin();
            let rcu = rcu_read_lock();
            let Some((_, _, vma)) = self.mm_mt.find(from_addr, &rcu) else {
                drop(rcu);
                return match seq {
                    Some(seq) if !self.mm_lock_seq.speculate_retry(seq) => Ok(None),
                    _ => {
                        self.events.abort.inc(cpu);
                        Err(Contended)
                    }
                };
            };
            let walked = self.vma_start_read_walked(vma, &rcu);
            drop(rcu);
            let guard = match walked {
                Walked::Locked(guard) => guard,
                Walked::Again => continue,
                Walked::Contended => return Err(Contended),
            };
            // Re-check 1: it shrank below the position after the walk.
            if from_addr >= guard.end() {
                drop(guard);
                self.events.abort.inc(cpu);
                return Err(Contended);
            }
            // Re-check 2: a gap before it may be one that did not exist
            // when the walk ran (shrunk from the front, another VMA
            // installed before it). Only if something may have changed.
            if from_addr < guard.start() {
                let unchanged = seq.is_some_and(|seq| !self.mm_lock_seq.speculate_retry(seq));
                if !unchanged && !self.still_first_above(from_addr, vma, &rcu_read_lock()) {
                    drop(guard);
                    self.events.abort.inc(cpu);
                    return Err(Contended);
                }
            }
            self.events.success.inc(cpu);
            return Ok(Some(guard));
        }
    }

    /// Several steps of [`Mm::lock_next_vma`]'s fast path in one RCU read
    /// section, for readers of the whole space (`/proc/pid/maps`): from
    /// `from_addr` on, read-locks each next VMA in turn, calls `f` with
    /// it and the position it was found from, unlocks it, and moves the
    /// position to its end; at most `max` VMAs.
    ///
    /// Each step is one `lock_next_vma_fast` whose walk is served by the
    /// iterator of one snapshot instead of a fresh descent: the same
    /// `vma_start_read` and the same re-checks against the `mm_lock_seq`
    /// read before the snapshot (the step's protocol allows any walk that
    /// began after that read). The batch stops at the first step that
    /// would fall back (contention) or retry (a detached VMA), and the
    /// caller continues with [`Mm::lock_next_vma`] from the returned
    /// position, so it never waits and never holds a VMA lock across
    /// steps.
    ///
    /// Returns the position after the last VMA handed to `f`, whether the
    /// space was found to end there (no VMA above it, a true answer), and
    /// the `mm_lock_seq` value if no write cycle ran during the whole
    /// batch: while `mm_lock_seq` still has that value, every VMA handed
    /// to `f` is unchanged and nothing was mapped between them.
    pub(crate) fn lock_next_vmas_fast(
        &self,
        from_addr: u64,
        max: usize,
        mut f: impl FnMut(&VmaReadGuard<'_, T>, u64),
    ) -> (u64, bool, Option<u32>) {
        let mut pos = from_addr;
        let seq = self.mm_lock_seq.speculate_try_begin();
        let rcu = rcu_read_lock();
        // Counted inside the section: with a kernel's CPU hooks, its
        // CPU's shard, with plain adds and no hook call per count.
        let shard = rcu.shard();
        let mut vmas = self.mm_mt.iter_from(from_addr, &rcu);
        for _ in 0..max {
            let Some((_, last, vma)) = vmas.next() else {
                let stable = seq.filter(|&seq| !self.mm_lock_seq.speculate_retry(seq));
                return (pos, stable.is_some(), stable);
            };
            if last < pos {
                // Cannot happen in one snapshot (ranges ascend and `pos`
                // is the end of the previous one); be safe.
                break;
            }
            // SAFETY: the VMA was reachable from the tree inside this RCU
            // read section (`rcu` lives until we return), so its memory
            // stays valid (module invariant of `mm`).
            let vma_ref = unsafe { vma.as_ref() };
            let Ok(hold) = vma_ref
                .lock()
                .start_read(&self.mm_lock_seq, &self.vma_locks)
            else {
                // Detached (retry) or locked (fall back): the caller's
                // `lock_next_vma` does either.
                break;
            };
            // SAFETY: we hold a read lock on `vma`, a VMA of `self`, taken
            // on this thread.
            let guard = unsafe { VmaReadGuard::new(self, vma, hold) };
            // The re-checks of `lock_next_vma_fast`, against the `seq`
            // read before this section's walk.
            if pos >= guard.end() {
                break;
            }
            if pos < guard.start() {
                let unchanged = seq.is_some_and(|seq| !self.mm_lock_seq.speculate_retry(seq));
                // The section's own guard: a second one would take a
                // second reader slot in no_std builds, and with every
                // slot held by a reader waiting for its second, none
                // would ever come free.
                if !unchanged && !self.still_first_above(pos, vma, &rcu) {
                    break;
                }
            }
            self.events.success.inc(shard);
            f(&guard, pos);
            pos = guard.end();
        }
        let stable = seq.filter(|&seq| !self.mm_lock_seq.speculate_retry(seq));
        (pos, false, stable)
    }

    /// Whether `vma` is the first VMA ending above `from_addr` in a tree
    /// that no write cycle was changing while we looked: a fresh walk,
    /// inside the caller's read section.
    fn still_first_above(&self, from_addr: u64, vma: super::VmaPtr<T>, rcu: &RcuGuard) -> bool {
        let Some(seq) = self.mm_lock_seq.speculate_try_begin() else {
            return false;
        };
        let same = self
            .mm_mt
            .find(from_addr, rcu)
            .is_some_and(|(_, _, found)| found == vma);
        same && !self.mm_lock_seq.speculate_retry(seq)
    }

    /// `lock_next_vma_under_mmap_lock`: no VMA writer runs under
    /// `mmap_lock` for read, so the lookup and the read lock cannot fail
    /// for contention. Drops `mmap_lock` before returning.
    #[cold]
    fn lock_next_vma_under_mmap_lock(&self, from_addr: u64) -> Option<VmaReadGuard<'_, T>> {
        self.events.wait.inc(this_shard());
        loop {
            let mmap = self.mmap_read_lock();
            let vma = mmap.find_vma(from_addr)?;
            if let Some(guard) = mmap.vma_start_read_locked(vma) {
                return Some(guard);
            }
            // VMA_REF_LIMIT readers: let some leave.
            drop(mmap);
            spin_hint();
        }
    }
}
