//! loom models of `lock_next_vma` (the maps reader's step) against a
//! writer that shrinks, splits or detaches the VMA it is locking.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p pervma --release
//! --target-dir target/loom --test loom_lock_next_vma`.
//!
//! Each model checks the two things the re-checks after `vma_start_read`
//! exist for: the VMA returned ends above the position and is attached
//! (its writer cannot have finished), and no page mapped throughout the
//! call is skipped. Checked by mutation of `mm/next.rs`, each caught:
//!
//! | mutation | fails |
//! |---|---|
//! | no `from_addr >= vm_end` re-check | `vma_shrunk_below_the_position` |
//! | no gap re-check (`from_addr < vm_start`) | `split_does_not_make_a_false_gap` |
//! | a detached VMA ends the walk instead of a new walk | `walk_vs_detach` |
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::thread;
use pervma::{MapFlags, Mm, Prot};
use std::sync::Arc;

const P: u64 = 4096;
const A: u64 = 0x10_0000;
const FIXED: MapFlags = MapFlags::PRIVATE.union(MapFlags::FIXED);

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.max_branches = 20_000;
    b.check(f);
}

fn mm_with(start: u64, pages: u64, payload: u32) -> Arc<Mm<u32>> {
    let mm = Arc::new(Mm::new());
    mm.mmap(start, pages * P, Prot::READ, FIXED, None, payload)
        .unwrap();
    mm
}

/// The VMA shrinks below the position between the walk and the lock
/// (munmap of its tail, done in place): the reader must not return it.
#[test]
fn vma_shrunk_below_the_position() {
    model(|| {
        let mm = mm_with(A, 3, 1);
        let r = {
            let mm = mm.clone();
            thread::spawn(move || {
                let from = A + 2 * P;
                if let Some(v) = mm.lock_next_vma(from) {
                    assert!(
                        v.end() > from,
                        "returned [{:#x}, {:#x}) below {from:#x}",
                        v.start(),
                        v.end()
                    );
                    assert_eq!((v.start(), v.end()), (A, A + 3 * P));
                }
            })
        };
        mm.munmap(A + P, 2 * P).unwrap();
        r.join().unwrap();
    });
}

/// The VMA is split with the lower part becoming a new VMA and the found
/// one keeping the upper part (mprotect of its upper pages; Linux's
/// `split_vma(new_below = 1)`): a gap appears below the VMA the reader
/// locks, which is not a gap at all. Page `A` is mapped throughout, so the
/// first VMA at or above `A` must cover it.
#[test]
fn split_does_not_make_a_false_gap() {
    model(|| {
        let mm = mm_with(A, 3, 1);
        let r = {
            let mm = mm.clone();
            thread::spawn(move || {
                let v = mm.lock_next_vma(A).expect("A is mapped throughout");
                assert!(
                    v.start() <= A,
                    "skipped page {A:#x}: got [{:#x}, {:#x})",
                    v.start(),
                    v.end()
                );
            })
        };
        mm.mprotect(A + P, 2 * P, Prot::NONE).unwrap();
        r.join().unwrap();
        assert_eq!(mm.map_count(), 2);
    });
}

/// A whole walk against a writer that unmaps the first VMA: a VMA the
/// reader holds is attached (the munmap cannot have returned), and the
/// VMA that exists throughout is found.
#[test]
fn walk_vs_detach() {
    model(|| {
        let mm = mm_with(A, 1, 1);
        mm.mmap(A + 2 * P, P, Prot::READ, FIXED, None, 2).unwrap();
        let unmapped = Arc::new(AtomicBool::new(false));
        let r = {
            let (mm, unmapped) = (mm.clone(), unmapped.clone());
            thread::spawn(move || {
                let mut pos = 0;
                let mut seen = Vec::new();
                while let Some(v) = mm.lock_next_vma(pos) {
                    if *v.payload() == 1 {
                        assert!(!unmapped.load(SeqCst), "holding a detached VMA");
                    }
                    assert!(v.end() > pos);
                    seen.push(*v.payload());
                    pos = v.end();
                }
                assert!(seen == [1, 2] || seen == [2], "walk saw {seen:?}");
            })
        };
        mm.munmap(A, P).unwrap();
        unmapped.store(true, SeqCst);
        r.join().unwrap();
    });
}

/// The maps reader's read-ahead (`lock_next_vmas_fast`, several steps on
/// one snapshot) against a writer that splits the first VMA and unmaps
/// its head: lines ascend without overlapping, each is a state the space
/// was in, and the VMA that exists throughout appears whole, once.
#[test]
fn maps_lines_vs_split_and_unmap() {
    model(|| {
        let mm = mm_with(A, 2, 1);
        mm.mmap(A + 4 * P, P, Prot::READ, FIXED, None, 2).unwrap();
        let r = {
            let mm = mm.clone();
            thread::spawn(move || {
                let lines: Vec<(u64, u64)> =
                    mm.maps_lines().map(|l| (l.start(), l.end())).collect();
                for w in lines.windows(2) {
                    assert!(w[0].1 <= w[1].0, "lines overlap or go back: {lines:?}");
                }
                assert_eq!(
                    lines
                        .iter()
                        .filter(|l| **l == (A + 4 * P, A + 5 * P))
                        .count(),
                    1,
                    "the VMA mapped throughout, once: {lines:?}"
                );
                let head = &lines[..lines.len() - 1];
                assert!(
                    head == [(A, A + 2 * P)]
                        || head == [(A, A + P), (A + P, A + 2 * P)]
                        || head == [(A + P, A + 2 * P)],
                    "first VMA lines {head:?}"
                );
            })
        };
        mm.munmap(A, P).unwrap();
        r.join().unwrap();
    });
}

/// The read-ahead's gap re-check: the writer splits the second VMA
/// (mprotect of its first page), so a reader continuing on an old
/// snapshot may lock a VMA that now starts higher; the pages in between
/// were mapped throughout and must still be covered.
#[test]
fn maps_lines_split_does_not_make_a_false_gap() {
    model(|| {
        let mm = mm_with(A, 1, 1);
        mm.mmap(A + 2 * P, 2 * P, Prot::READ, FIXED, None, 2)
            .unwrap();
        let r = {
            let mm = mm.clone();
            thread::spawn(move || {
                let lines: Vec<(u64, u64)> =
                    mm.maps_lines().map(|l| (l.start(), l.end())).collect();
                let covered: u64 = lines.iter().map(|(s, e)| e - s).sum();
                assert_eq!(covered, 3 * P, "every mapped page, once: {lines:?}");
                assert!(lines.windows(2).all(|w| w[0].1 <= w[1].0), "{lines:?}");
            })
        };
        mm.mprotect(A + 2 * P, P, Prot::NONE).unwrap();
        r.join().unwrap();
    });
}
