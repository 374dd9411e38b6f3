//! Visible readers: the per-thread reader slots behind a biased VMA lock.
//!
//! Linux has no counterpart for VMAs; the nearest are the per-CPU read
//! counts of `percpu_rw_semaphore` (kernel/locking/percpu-rwsem.c), whose
//! writers switch readers to a shared count and wait for the per-CPU ones
//! to drain. The protocol is BRAVO's (Dice and Kogan, "BRAVO: Biased
//! Locking for Reader-Writer Locks", USENIX ATC 2019) with a table per
//! thread instead of the paper's global one: measured side by side in
//! `examples/read_protocols.rs`, a shared table bounces its lines between
//! readers as the count does (see `sync/vma_lock.rs`).
//!
//! # The protocol
//!
//! A VMA whose `vm_refcnt` carries `VMA_READ_BIAS` is read-locked by
//! *publishing* its address in one of the reading thread's own slots and
//! checking, after a full fence, that the bias is still set: the reader
//! writes only its own cache line. A writer clears the bias (in the same
//! atomic step that adds `VMA_LOCK_OFFSET`), fences, and [`revoke`] scans
//! every thread's slots until none holds the VMA. The two fences make a
//! store-buffering pair: either the reader sees the bias cleared and backs
//! out, or the writer sees the reader's slot and waits for it.
//!
//! A slot's word is the address of the VMA's lock, plus [`WAITER`] once a
//! writer has spun long enough and gone to sleep on the `Mm`'s
//! `vma_writer_wait`. The reader empties its slot with one swap and wakes
//! the writer if the swap returned the bit; the swap touches neither the
//! VMA (which the writer may free once it sees the slot empty) nor any
//! shared line when no writer waits.
//!
//! # Invariants
//!
//! - A table is claimed by one thread (`claimed`, `false` to `true`,
//!   `Acquire`) and given back when it exits (`Release`) if no slot of it
//!   is held then (else it stays claimed for good, for the guards dropped
//!   later in the thread's teardown). Only its owner fills a slot, and
//!   only an empty one; the guard that filled a slot empties it, on the
//!   same thread (`VmaReadGuard` is `!Send`). A writer only ever adds
//!   `WAITER` to a slot that holds its VMA.
//! - `high_water` covers every table ever claimed, and is raised
//!   (`SeqCst`) before the claiming thread's first publication: a writer
//!   that reads it after clearing a bias scans every table whose owner
//!   could still see that bias.
//! - Tables live in a static and are never freed, and a thread finds its
//!   own through a thread-local without a destructor, which stays
//!   readable while the thread's other locals are torn down: a guard
//!   dropped then still finds its slot.
//!
//! A held slot is named by its index in the thread's table (a
//! [`SlotIndex`], which the read guard packs into its VMA pointer's
//! low bits, so that the guard stays two words).
//!
//! `no_std` builds have no thread-locals: [`publish`] always fails, no
//! VMA is ever biased, and the VMA lock is the reference count alone.

#![deny(unsafe_code)]

#[cfg(feature = "std")]
pub(crate) use imp::*;

#[cfg(not(feature = "std"))]
pub(crate) use none::*;

#[cfg(feature = "std")]
mod imp {
    use crate::sync::prim::{fence, AtomicBool, AtomicU32, AtomicUsize, Ordering};
    use crate::sync::wait::{wait_until_armed, wake_all};
    use core::cell::Cell;
    use crossbeam_utils::CachePadded;

    /// A slot word's "a writer sleeps on this slot" bit (VMA locks are
    /// aligned, so an address never has it).
    const WAITER: usize = 1;

    /// Slots per thread: a thread holding more VMA read locks at once
    /// (`lock_next_vmas_fast` holds one per VMA it hands out, a caller may
    /// keep several) takes the reference count for the rest.
    #[cfg(not(loom))]
    pub(crate) const SLOTS: usize = 8;
    #[cfg(loom)]
    pub(crate) const SLOTS: usize = 2;

    /// Tables: threads beyond this many live ones use the count. What a
    /// revocation scans is only as many as were ever live at once.
    #[cfg(not(loom))]
    const TABLES: usize = 256;
    #[cfg(loom)]
    const TABLES: usize = 3;

    /// What [`FULL`]'s slots hold: no lock's address, never 0.
    const TAKEN: usize = usize::MAX;

    /// One thread's slots, on cache lines of their own. A slot is 0, or
    /// the address of the VMA lock it holds (`| WAITER`).
    struct ReaderTable {
        slots: [AtomicUsize; SLOTS],
        claimed: AtomicBool,
    }

    struct Registry {
        tables: [CachePadded<ReaderTable>; TABLES],
        /// One past the highest table ever claimed: what a writer scans.
        high_water: AtomicUsize,
    }

    #[cfg(not(loom))]
    static REGISTRY: Registry = Registry {
        tables: [const {
            CachePadded::new(ReaderTable {
                slots: [const { AtomicUsize::new(0) }; SLOTS],
                claimed: AtomicBool::new(false),
            })
        }; TABLES],
        high_water: AtomicUsize::new(0),
    };

    /// The table of a thread that has none (all were taken, or it is
    /// exiting): every slot looks held, so it never publishes. Not in the
    /// registry, so no writer scans it.
    #[cfg(not(loom))]
    static FULL: ReaderTable = ReaderTable {
        slots: [const { AtomicUsize::new(TAKEN) }; SLOTS],
        claimed: AtomicBool::new(true),
    };

    #[cfg(loom)]
    loom::lazy_static! {
        static ref REGISTRY: Registry = Registry {
            tables: core::array::from_fn(|_| {
                CachePadded::new(ReaderTable {
                    slots: core::array::from_fn(|_| AtomicUsize::new(0)),
                    claimed: AtomicBool::new(false),
                })
            }),
            high_water: AtomicUsize::new(0),
        };
        static ref FULL: ReaderTable = ReaderTable {
            slots: core::array::from_fn(|_| AtomicUsize::new(TAKEN)),
            claimed: AtomicBool::new(true),
        };
    }

    /// A slot of this thread's table, by index.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub(crate) struct SlotIndex(pub(crate) u8);

    /// This thread's table: `None` before its first publication, else
    /// its claimed table or [`FULL`].
    type Mine = Cell<Option<&'static ReaderTable>>;

    #[cfg(not(loom))]
    std::thread_local! {
        /// No destructor: readable during the thread's teardown.
        static TABLE: Mine = const { Cell::new(None) };
        /// Gives the table back when the thread exits.
        static OWNER: Owner = const { Owner };
    }
    #[cfg(loom)]
    loom::thread_local! {
        static TABLE: Mine = Cell::new(None);
    }

    /// Gives this thread's table back when it exits, unless a slot is
    /// still held (by a guard that the teardown drops later, or one that
    /// was forgotten): then the table stays claimed for good.
    #[cfg(not(loom))]
    struct Owner;

    #[cfg(not(loom))]
    impl Drop for Owner {
        fn drop(&mut self) {
            let Some(table) = TABLE.with(Cell::get) else {
                return;
            };
            if table.slots.iter().all(|s| s.load(Ordering::Relaxed) == 0) {
                // From now on this thread uses the count.
                TABLE.with(|t| t.set(Some(&FULL)));
                // Release: this thread's uses of the table happen before
                // the next owner's.
                table.claimed.store(false, Ordering::Release);
            }
        }
    }

    /// Claims a table for this thread; [`FULL`] if all are taken or the
    /// thread is exiting (its `Owner` could not give the table back).
    #[cold]
    fn claim() -> &'static ReaderTable {
        // Registers `Owner`'s destructor (under loom, the registry lives
        // for one execution and its tables are never given back).
        #[cfg(not(loom))]
        if OWNER.try_with(|_| ()).is_err() {
            return &FULL;
        }
        let free = REGISTRY.tables.iter().position(|t| {
            !t.claimed.load(Ordering::Relaxed)
                && t.claimed
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
        });
        let Some(idx) = free else { return &FULL };
        // SeqCst, before this thread's first publication: see the module
        // invariants.
        REGISTRY.high_water.fetch_max(idx + 1, Ordering::SeqCst);
        &REGISTRY.tables[idx]
    }

    /// This thread's table, claimed on first use.
    #[inline]
    fn my_table() -> &'static ReaderTable {
        TABLE.with(|t| match t.get() {
            Some(table) => table,
            None => {
                let table = claim();
                t.set(Some(table));
                table
            }
        })
    }

    /// Publishes `lock` (a VMA lock's address) in a free slot of this
    /// thread's table and fences: the caller's following load of the bias
    /// pairs with the writer's clearing it, fencing and scanning (module
    /// docs). `None` if no slot is free.
    #[inline]
    pub(crate) fn publish(lock: usize) -> Option<SlotIndex> {
        debug_assert!(lock & WAITER == 0);
        let table = my_table();
        // Only this thread fills its slots, so a slot seen empty stays so.
        let i = table
            .slots
            .iter()
            .position(|s| s.load(Ordering::Relaxed) == 0)?;
        let slot = &table.slots[i];
        // A `SeqCst` store is the publication and the fence in one
        // instruction (`xchg` on x86), as crossbeam-epoch's `pin` uses a
        // read-modify-write for its fence. Loom treats `SeqCst` accesses
        // as `AcqRel` but models `SeqCst` fences, so it gets the fence.
        #[cfg(not(loom))]
        slot.store(lock, Ordering::SeqCst);
        #[cfg(loom)]
        {
            slot.store(lock, Ordering::Relaxed);
            fence(Ordering::SeqCst);
        }
        Some(SlotIndex(i as u8))
    }

    /// Empties slot `i` of this thread's table (`vma_end_read` of a slot
    /// reader) and wakes the writer sleeping on it, on `writer_wait` (the
    /// `Mm`'s word: the VMA may be freed once the slot is empty, so it is
    /// not touched). The caller filled the slot, on this thread.
    #[inline]
    pub(crate) fn release(i: SlotIndex, writer_wait: &AtomicU32) {
        let table = my_table();
        // `% SLOTS`, a mask: no bounds check.
        let slot = &table.slots[usize::from(i.0) % SLOTS];
        // Release: the reader's accesses happen before those of the
        // writer that sees the slot empty.
        if slot.swap(0, Ordering::Release) & WAITER != 0 {
            writer_wait.fetch_add(1, Ordering::Release);
            wake_all(writer_wait);
        }
    }

    /// The writer's half: after clearing the bias of the VMA lock at
    /// `lock` (a `SeqCst` read-modify-write), waits until no thread's slot
    /// holds it. Returns until when readers should not bias the VMA
    /// again: [`INHIBIT_N`] times as long as the revocation took from
    /// now, in [`now_ns`] (0 under loom).
    pub(crate) fn revoke(lock: usize, writer_wait: &AtomicU32) -> u64 {
        let t0 = now_ns();
        // The writer's half of the store-buffering pair (after its
        // `SeqCst` read-modify-write of `vm_refcnt`; a fence for loom,
        // and nearly free beside the scan). Pairs with `claim` too: a
        // table claimed after this load belongs to a reader that will see
        // the bias gone.
        fence(Ordering::SeqCst);
        let tables = REGISTRY.high_water.load(Ordering::SeqCst);
        for table in &REGISTRY.tables[..tables] {
            for slot in &table.slots {
                wait_for_slot(slot, lock, writer_wait);
            }
        }
        let t1 = now_ns();
        t1.saturating_add((t1 - t0).saturating_mul(INHIBIT_N))
    }

    /// BRAVO's N: after a revocation the bias stays off N times as long as
    /// the revocation took, so revocations cost writers at most about
    /// 1/(N+1) of their time however often they lock biased VMAs.
    const INHIBIT_N: u64 = 9;

    /// Waits while `slot` holds `lock`: spins, then sets [`WAITER`] and
    /// sleeps on `writer_wait` (the futex protocol of `sync::wait`).
    fn wait_for_slot(slot: &AtomicUsize, lock: usize, writer_wait: &AtomicU32) {
        wait_until_armed(
            writer_wait,
            // SeqCst: the scan half of the store-buffering pair. Acquire
            // (implied): the reader's accesses happen before ours.
            || slot.load(Ordering::SeqCst) & !WAITER != lock,
            // Only a slot that still holds `lock` gets the bit: an empty
            // one marked would look taken to its owner for good.
            || match slot.load(Ordering::Relaxed) {
                v if v == lock | WAITER => true,
                v if v == lock => slot
                    .compare_exchange(v, v | WAITER, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok(),
                _ => false,
            },
        );
    }

    /// A thread looks at the clock on one count read in this many while a
    /// window may be open.
    const CLOCK_EVERY: u8 = 16;

    std::thread_local! {
        /// Count reads left before this thread looks at the clock again.
        static CLOCK_DUE: Cell<u8> = const { Cell::new(0) };
    }

    /// Whether readers must not set the bias now: the window ending at
    /// `until` (what [`revoke`] returned; 0 for none) is still open. A
    /// thread reads the clock (about 30 ns on the development VM, as much
    /// as a lookup) on one count read in [`CLOCK_EVERY`] and assumes the
    /// window open in between; an expired window is cleared, so that
    /// later readers skip the clock altogether.
    #[inline]
    pub(crate) fn inhibited(until: &core::sync::atomic::AtomicU64) -> bool {
        let end = until.load(core::sync::atomic::Ordering::Relaxed);
        end != 0 && window_open(until, end)
    }

    #[inline(never)]
    fn window_open(until: &core::sync::atomic::AtomicU64, end: u64) -> bool {
        let look = CLOCK_DUE
            .try_with(|due| {
                let n = due.get();
                due.set(n.checked_sub(1).unwrap_or(CLOCK_EVERY - 1));
                n == 0
            })
            .unwrap_or(true);
        if !look || now_ns() < end {
            return true;
        }
        let relaxed = core::sync::atomic::Ordering::Relaxed;
        let _ = until.compare_exchange(end, 0, relaxed, relaxed);
        false
    }

    /// A monotonic clock for the inhibition window, in nanoseconds since
    /// its first use; 0 under loom (no inhibition, every state explored).
    #[inline]
    pub(crate) fn now_ns() -> u64 {
        #[cfg(not(loom))]
        {
            static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
            let start = START.get_or_init(std::time::Instant::now);
            u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
        }
        #[cfg(loom)]
        0
    }

    /// Whether this thread could publish (for tests): it has a table.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn has_table() -> bool {
        !core::ptr::eq(my_table(), &FULL)
    }
}

#[cfg(not(feature = "std"))]
mod none {
    use crate::sync::prim::AtomicU32;

    /// No slot exists in `no_std` builds.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub(crate) struct SlotIndex(pub(crate) u8);

    #[inline(always)]
    pub(crate) fn publish(_lock: usize) -> Option<SlotIndex> {
        None
    }

    /// Never called: without slots no read lock is held in one.
    #[inline(always)]
    pub(crate) fn release(_i: SlotIndex, _writer_wait: &AtomicU32) {}

    /// Never called: without slots no VMA is biased.
    pub(crate) fn revoke(_lock: usize, _writer_wait: &AtomicU32) -> u64 {
        0
    }
}

#[cfg(all(test, feature = "std", not(loom)))]
mod tests {
    use super::imp::{inhibited, now_ns};
    use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

    /// An open window inhibits every read; an expired one is noticed
    /// within a clock period of reads and cleared, after which nobody
    /// looks at the clock.
    #[test]
    fn an_open_window_inhibits_and_an_expired_one_is_cleared() {
        let hour = 3_600_000_000_000;
        let until = AtomicU64::new(now_ns() + hour);
        assert!((0..100).all(|_| inhibited(&until)));
        while now_ns() < 2 {}
        until.store(1, Relaxed);
        let still = (0..100).take_while(|_| inhibited(&until)).count();
        assert!(still < 16, "an expired window inhibited {still} reads");
        assert_eq!(until.load(Relaxed), 0, "the expired window was not cleared");
        assert!(!inhibited(&until));
        assert!(!inhibited(&AtomicU64::new(0)));
    }
}
