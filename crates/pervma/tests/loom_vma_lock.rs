//! loom models of the per-VMA lock protocol, through the public API.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p pervma --test 'loom_*'
//! --release`. `LOOM_MAX_PREEMPTIONS` bounds the search (default 2 here).
//!
//! The VMA's fields live in loom's `UnsafeCell`, so loom reports a reader
//! that reads them while a writer changes them (a broken lock), besides
//! deadlocks and failed assertions.
#![cfg(loom)]

use loom::thread;
use pervma::{MapFlags, Mm, Prot};
use std::sync::Arc;

const P: u64 = 4096;
const A: u64 = 0x10_0000;
const FIXED: MapFlags = MapFlags::PRIVATE.union(MapFlags::FIXED);

fn model(f: impl Fn() + Sync + Send + 'static) {
    model_bounded(2, f)
}

/// `bound` preemptions unless `LOOM_MAX_PREEMPTIONS` says otherwise. The
/// slow paths spin (and yield, under loom) while they wait, which makes
/// long paths: allow more branches than loom's default 1,000.
fn model_bounded(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(bound);
    }
    b.max_branches = 20_000;
    b.check(f);
}

fn mm_with(len_pages: u64) -> Arc<Mm<u32>> {
    let mm = Arc::new(Mm::new());
    mm.mmap(A, len_pages * P, Prot::READ, FIXED, None, 1)
        .unwrap();
    mm
}

/// A lock-free reader against `vma_start_write` (munmap shrinking the VMA).
#[test]
fn reader_vs_vma_start_write() {
    model(|| reader_vs_shrink(mm_with(3)));
}

/// The body of the `*_vs_vma_start_write` models: a reader of `mm`'s
/// 3-page VMA at `A` against a munmap of its last page.
fn reader_vs_shrink(mm: Arc<Mm<u32>>) {
    let r = {
        let mm = mm.clone();
        thread::spawn(move || {
            if let Some(v) = mm.lock_vma_under_rcu(A) {
                let end = v.end();
                assert!(end == A + 3 * P || end == A + 2 * P, "torn end {end:#x}");
                assert_eq!(v.end(), end, "changed under a read lock");
            }
        })
    };
    mm.munmap(A + 2 * P, P).unwrap();
    r.join().unwrap();
    assert_eq!(mm.lock_vma_under_rcu(A).unwrap().end(), A + 2 * P);
}

/// A lock-free reader against detaching (munmap of the whole VMA).
#[test]
fn reader_vs_detach() {
    model(|| reader_vs_unmap(mm_with(1)));
}

/// The body of the `*_vs_detach` models: a reader of `mm`'s one-page VMA
/// at `A` against its munmap.
fn reader_vs_unmap(mm: Arc<Mm<u32>>) {
    let r = {
        let mm = mm.clone();
        thread::spawn(move || {
            if let Some(v) = mm.lock_vma_under_rcu(A) {
                assert_eq!((v.start(), v.end(), *v.payload()), (A, A + P, 1));
            }
        })
    };
    mm.munmap(A, P).unwrap();
    r.join().unwrap();
    assert!(mm.lock_vma(A).is_none());
    assert_eq!(mm.map_count(), 0);
}

/// `lock_vma` never fails spuriously: the VMA covers A throughout, so it
/// must return it, via the slow path if the writer has it locked.
#[test]
fn lock_vma_slow_path_vs_writer() {
    model(|| {
        let mm = mm_with(2);
        let r = {
            let mm = mm.clone();
            thread::spawn(move || {
                let v = mm.lock_vma(A).expect("lock_vma failed spuriously");
                assert_eq!(v.start(), A);
                let end = v.end();
                assert!(end == A + 2 * P || end == A + P);
            })
        };
        mm.munmap(A + P, P).unwrap();
        r.join().unwrap();
    });
}

/// Two readers and a writer that replaces the VMA (MAP_FIXED over it):
/// readers see the old VMA or the new one, never a hole or a mixture. One
/// reader uses the helper (which may wait), the other the fast path alone
/// (three threads that all spin-wait make the model too large to finish).
#[test]
fn two_readers_and_a_writer() {
    // Three threads: one preemption by default (13 s; two take 2 min).
    model_bounded(1, || {
        let mm = mm_with(1);
        let readers: Vec<_> = [true, false]
            .into_iter()
            .map(|helper| {
                let mm = mm.clone();
                thread::spawn(move || {
                    let v = if helper {
                        Some(mm.lock_vma(A).expect("a mapping covers A throughout"))
                    } else {
                        mm.lock_vma_under_rcu(A)
                    };
                    if let Some(v) = v {
                        let id = *v.payload();
                        assert!(id == 1 || id == 2);
                        assert_eq!((v.start(), v.end()), (A, A + P));
                    }
                })
            })
            .collect();
        mm.mmap(A, P, Prot::READ, FIXED, None, 2).unwrap();
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(*mm.lock_vma(A).unwrap().payload(), 2);
    });
}

/// One write cycle changes two VMAs; dropping the write guard releases
/// both write locks at once (`vma_end_write_all`), after which the fast
/// path gets both.
#[test]
fn mmap_write_unlock_releases_every_vma_write_lock() {
    model(|| {
        let mm = Arc::new(Mm::new());
        mm.mmap(A, 2 * P, Prot::READ, FIXED, None, 1).unwrap();
        mm.mmap(A + 4 * P, 2 * P, Prot::READ, FIXED, None, 1)
            .unwrap();
        let r = {
            let mm = mm.clone();
            thread::spawn(move || {
                for addr in [A, A + 4 * P] {
                    if let Some(v) = mm.lock_vma_under_rcu(addr) {
                        let len = v.end() - v.start();
                        assert!(len == 2 * P || len == P);
                    }
                }
            })
        };
        {
            let mut w = mm.mmap_write_lock();
            w.munmap(A + P, P).unwrap();
            w.munmap(A + 5 * P, P).unwrap();
            assert!(
                mm.lock_vma_under_rcu(A).is_none(),
                "write-locked during the cycle"
            );
        }
        r.join().unwrap();
        assert_eq!(mm.lock_vma_under_rcu(A).unwrap().end(), A + P);
        assert_eq!(mm.lock_vma_under_rcu(A + 4 * P).unwrap().end(), A + 5 * P);
    });
}

/// `lock_vma` answers "no VMA" only if none covered the address at an
/// instant outside any write cycle. One cycle unmaps the VMA and maps a
/// new one in its place, publishing a tree without it in between: a
/// reader whose walk finds that tree must not return `None` (its second
/// walk reads `mm_lock_seq` first and sees the cycle).
#[test]
fn lock_vma_never_misses_a_vma_replaced_within_one_cycle() {
    model(|| {
        let mm = mm_with(1);
        let r = {
            let mm = mm.clone();
            thread::spawn(move || {
                let v = mm.lock_vma(A).expect("a VMA covers A outside the cycle");
                assert!(*v.payload() == 1 || *v.payload() == 2);
            })
        };
        {
            let mut w = mm.mmap_write_lock();
            w.munmap(A, P).unwrap();
            w.mmap(A, P, Prot::READ, FIXED, None, 2).unwrap();
        }
        r.join().unwrap();
    });
}

/// A tree walk against a store that splits the range it walks: the reader
/// finds a VMA for an address that stays mapped, whatever the interleaving.
#[test]
fn tree_walk_vs_concurrent_store() {
    model(|| {
        let mm = mm_with(4);
        let r = {
            let mm = mm.clone();
            thread::spawn(move || {
                // Mapped before, during and after the split.
                let v = mm.lock_vma(A + 3 * P).expect("A+3P stays mapped");
                assert!(v.contains(A + 3 * P));
            })
        };
        mm.munmap(A + P, P).unwrap();
        r.join().unwrap();
        assert_eq!(mm.map_count(), 2);
    });
}

/// A VMA that readers lock through their own slots: one count reader
/// biased it (loom runs without the inhibition window).
fn mm_biased(len_pages: u64) -> Arc<Mm<u32>> {
    let mm = mm_with(len_pages);
    drop(mm.lock_vma_under_rcu(A).expect("mapped"));
    mm
}

/// A slot reader against `vma_start_write` (munmap shrinking a biased
/// VMA): the writer must clear the bias and find the reader's slot, or
/// the reader must see the bias gone; a writer that sleeps on the slot
/// must be woken by the reader's release (a lost wake-up deadlocks).
#[test]
fn slot_reader_vs_vma_start_write() {
    // Small: three preemptions take seconds (five passed, 21 s).
    model_bounded(3, || reader_vs_shrink(mm_biased(3)));
}

/// A slot reader against detaching a biased VMA (munmap of all of it).
#[test]
fn slot_reader_vs_detach() {
    // Small: three preemptions take seconds (five passed, 21 s).
    model_bounded(3, || reader_vs_unmap(mm_biased(1)));
}

/// A reader that biases the VMA (its first lookup takes the count) and
/// then locks it through a slot, racing a writer that shrinks it: the
/// bias set while the writer works must not let a slot reader in.
#[test]
fn rebias_vs_vma_start_write() {
    model(|| {
        let mm = mm_with(3);
        let r = {
            let mm = mm.clone();
            thread::spawn(move || {
                for _ in 0..2 {
                    if let Some(v) = mm.lock_vma_under_rcu(A) {
                        let end = v.end();
                        assert!(end == A + 3 * P || end == A + 2 * P, "torn end {end:#x}");
                    }
                }
            })
        };
        mm.munmap(A + 2 * P, P).unwrap();
        r.join().unwrap();
        assert_eq!(mm.lock_vma_under_rcu(A).unwrap().end(), A + 2 * P);
    });
}

/// More read locks than a thread has slots (loom builds have two): the
/// third takes the count, and the writer waits for all of them.
#[test]
fn slots_overflow_to_the_count_vs_writer() {
    model(|| {
        let mm = mm_biased(2);
        let r = {
            let mm = mm.clone();
            thread::spawn(move || {
                let held: Vec<_> = (0..3).filter_map(|_| mm.lock_vma_under_rcu(A)).collect();
                for v in &held {
                    let end = v.end();
                    assert!(end == A + 2 * P || end == A + P, "torn end {end:#x}");
                    assert_eq!(end, held[0].end(), "changed under a read lock");
                }
            })
        };
        mm.munmap(A + P, P).unwrap();
        r.join().unwrap();
    });
}
