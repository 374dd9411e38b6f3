//! Tests that need threads and clocks: readers racing a writer, and the
//! lookup timing comparison.

extern crate std;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use std::sync::atomic::{AtomicBool, Ordering as StdOrdering};
use std::thread;
use std::time::Instant;

use super::tests::Rng;
use super::MapleTree;
use crate::sync::rcu::{rcu_barrier, rcu_read_lock};

/// Checks one snapshot's iteration: ascending, non-overlapping.
fn check_ascending(tree: &MapleTree<u32>) -> usize {
    let g = rcu_read_lock();
    let mut prev_last: Option<u64> = None;
    let mut n = 0;
    for (first, last, _) in tree.iter_from(0, &g) {
        assert!(first <= last);
        if let Some(p) = prev_last {
            assert!(first > p, "iteration went backwards or overlapped");
        }
        prev_last = Some(last);
        n += 1;
    }
    n
}

#[test]
fn readers_never_see_a_hole() {
    // A writer replaces [A, B] alternately with Some(1) and Some(2), one
    // store per commit; every few rounds it also rebuilds a whole region
    // as 100 small ranges or as one big one. Readers must always find
    // [A, B] mapped, each region in one of its two shapes, and
    // iteration ascending.
    const A: u64 = 0x40_0000;
    const B: u64 = 0x40_ffff;
    const R0: u64 = 0x100_0000;
    const R1: u64 = R0 + 100 * 0x1000 - 1;
    const ROUNDS: u32 = 20_000;
    let tree = MapleTree::<u32>::new();
    // SAFETY: the writer thread is not running yet.
    let mut w = unsafe { tree.write() };
    for i in 0..500u64 {
        w.store(
            0x1000_0000 + i * 0x2000,
            0x1000_0000 + i * 0x2000 + 0xfff,
            Some(7),
        );
    }
    w.store(A, B, Some(1));
    for i in 0..100u64 {
        w.store(
            R0 + i * 0x1000,
            R0 + i * 0x1000 + 0xfff,
            Some(100 + i as u32),
        );
    }
    w.commit();
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            for round in 0..ROUNDS {
                // SAFETY: this thread is the only writer.
                let mut w = unsafe { tree.write() };
                w.store(A, B, Some(1 + round % 2));
                w.commit();
                if round % 16 == 0 {
                    // SAFETY: as above.
                    let mut w = unsafe { tree.write() };
                    if round % 32 == 0 {
                        w.store(R0, R1, Some(1000));
                    } else {
                        for i in 0..100u64 {
                            w.store(
                                R0 + i * 0x1000,
                                R0 + i * 0x1000 + 0xfff,
                                Some(100 + i as u32),
                            );
                        }
                    }
                    w.commit();
                }
            }
            done.store(true, StdOrdering::Release);
        });
        for _ in 0..2 {
            s.spawn(|| {
                let mut rng = Rng(thread_seed());
                let mut reads = 0u64;
                while !done.load(StdOrdering::Acquire) || reads < 1000 {
                    let g = rcu_read_lock();
                    let addr = A + rng.below(B - A + 1);
                    let (first, last, v) = tree.walk(addr, &g).expect("hole in [A, B]");
                    assert_eq!((first, last), (A, B));
                    assert!(v == 1 || v == 2);
                    let snap = tree.snapshot(&g);
                    let region: Vec<_> = snap.iter_from(R0).take_while(|r| r.0 <= R1).collect();
                    assert!(
                        region == [(R0, R1, 1000)]
                            || (region.len() == 100
                                && region
                                    .iter()
                                    .enumerate()
                                    .all(|(i, r)| r.2 == 100 + i as u32)),
                        "torn region: {} ranges",
                        region.len()
                    );
                    assert_eq!(snap.len(), 500 + 1 + region.len());
                    drop(g);
                    if reads % 64 == 0 {
                        check_ascending(&tree);
                    }
                    reads += 1;
                }
            });
        }
    });
    let g = rcu_read_lock();
    tree.validate(&g);
    drop(g);
    rcu_barrier();
}

fn thread_seed() -> u64 {
    let id = std::format!("{:?}", thread::current().id());
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// `walk` against `BTreeMap::range(..=addr).next_back()` over 1,000
/// ranges. Run with
/// `cargo test -p pervma --release --lib tree::tests_std::walk_timing -- --ignored --nocapture`.
#[test]
#[ignore = "timing; run by hand with --release --nocapture"]
fn walk_timing() {
    const N: u64 = 1000;
    const Q: usize = 1 << 20;
    let mut rng = Rng(11);
    let tree = MapleTree::<u32>::new();
    let mut map = BTreeMap::<u64, (u64, u32)>::new();
    // SAFETY: single-threaded test.
    let mut w = unsafe { tree.write() };
    let mut at = 0x5555_0000_0000u64;
    for i in 0..N {
        let len = (rng.below(16) + 1) * 0x1000;
        w.store(at, at + len - 1, Some(i as u32));
        map.insert(at, (at + len - 1, i as u32));
        at += len + (rng.below(4) + 1) * 0x1000;
    }
    w.commit();
    let (lo, hi) = (0x5555_0000_0000u64, at);
    let queries: Vec<u64> = (0..Q).map(|_| lo + rng.below(hi - lo)).collect();
    let g = rcu_read_lock();
    let snap = tree.snapshot(&g);
    let btree = |a: u64| {
        map.range(..=a)
            .next_back()
            .and_then(|(&f, &(l, v))| (a <= l).then_some((f, l, v)))
    };
    for &q in queries.iter().take(10_000) {
        assert_eq!(snap.walk(q), btree(q));
    }
    let mut best = [f64::MAX; 3];
    for _ in 0..5 {
        let t = Instant::now();
        let mut hits = 0u64;
        for &q in &queries {
            hits += u64::from(std::hint::black_box(snap.walk(std::hint::black_box(q))).is_some());
        }
        best[0] = best[0].min(t.elapsed().as_nanos() as f64 / Q as f64);
        let t = Instant::now();
        let mut hits2 = 0u64;
        for &q in &queries {
            hits2 += u64::from(std::hint::black_box(btree(std::hint::black_box(q))).is_some());
        }
        best[1] = best[1].min(t.elapsed().as_nanos() as f64 / Q as f64);
        assert_eq!(hits, hits2);
        let t = Instant::now();
        for &q in &queries {
            let g = rcu_read_lock();
            std::hint::black_box(tree.walk(std::hint::black_box(q), &g));
        }
        best[2] = best[2].min(t.elapsed().as_nanos() as f64 / Q as f64);
    }
    drop(g);
    // One store per transaction (a path copy) and its commit, for scale.
    let (f, l, _) = tree.find(lo + (hi - lo) / 2, &rcu_read_lock()).unwrap();
    let t = Instant::now();
    const STORES: u32 = 100_000;
    for i in 0..STORES {
        // SAFETY: single-threaded test.
        let mut w = unsafe { tree.write() };
        w.store(f, l, Some(i));
        w.commit();
    }
    let store = t.elapsed().as_nanos() as f64 / f64::from(STORES);
    std::println!(
        "walk: {:.1} ns, BTreeMap: {:.1} ns, ratio {:.2}; walk incl. rcu_read_lock: {:.1} ns; \
         store + commit: {:.0} ns",
        best[0],
        best[1],
        best[0] / best[1],
        best[2],
        store
    );
}
