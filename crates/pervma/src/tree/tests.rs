//! Unit tests: every operation and its edge cases, checked against the
//! model and `validate` after every step.

use alloc::vec::Vec;

use super::node::live::LIVE;
use super::node::{FANOUT, MIN_FILL};
use super::tests_model::{compare_tree, Model};
use super::{node_sizes, MapleTree};
use crate::sync::prim::Ordering;
use crate::sync::rcu::{rcu_barrier, rcu_read_lock};

const MAX: u64 = u64::MAX;
const MIB2: u64 = 2 << 20;

/// A tree and its model, stored to together, one commit per store.
struct Both {
    tree: MapleTree<u32>,
    model: Model,
    probes: Vec<u64>,
}

impl Both {
    fn new() -> Self {
        Both {
            tree: MapleTree::new(),
            model: Model::new(),
            probes: Vec::new(),
        }
    }

    fn store(&mut self, first: u64, last: u64, v: Option<u32>) {
        // SAFETY: single-threaded test, no other writer.
        let mut w = unsafe { self.tree.write() };
        w.store(first, last, v);
        w.validate();
        w.commit();
        self.model.store(first, last, v);
        self.probes.extend([first, last]);
        self.check();
    }

    /// Stores without committing or checking each step: for bulk loads.
    fn load(&mut self, ranges: impl Iterator<Item = (u64, u64, Option<u32>)>) {
        // SAFETY: single-threaded test, no other writer.
        let mut w = unsafe { self.tree.write() };
        for (first, last, v) in ranges {
            w.store(first, last, v);
            self.model.store(first, last, v);
        }
        w.commit();
        self.check();
    }

    fn check(&self) {
        compare_tree(&self.tree, &self.model, &self.probes);
    }
}

/// A small deterministic PRNG (splitmix64).
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(super) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

#[test]
fn node_sizes_are_reasonable() {
    let (leaf, internal) = node_sizes();
    // Printed for the report: `cargo test tree::tests::node_sizes -- --nocapture`.
    #[cfg(feature = "std")]
    std::println!("leaf: {leaf} bytes, internal: {internal} bytes");
    assert!(leaf <= 320 && internal <= 448);
    assert_eq!(MIN_FILL * 2, FANOUT);
}

#[test]
fn empty_tree() {
    let t = MapleTree::<u32>::new();
    let g = rcu_read_lock();
    assert_eq!(t.walk(0, &g), None);
    assert_eq!(t.walk(MAX, &g), None);
    assert_eq!(t.find(0, &g), None);
    assert_eq!(t.prev(MAX, &g), None);
    assert_eq!(t.prev(0, &g), None);
    assert_eq!(t.len(&g), 0);
    assert_eq!(t.iter_from(0, &g).count(), 0);
    assert_eq!(t.gap_top_down(0, MAX, 1, 1, &g), Some(MAX));
    assert_eq!(t.gap_bottom_up(0, MAX, 1, 1, &g), Some(0));
    assert_eq!(t.gap_top_down(0, MAX, MAX, 1, &g), Some(1));
    assert_eq!(t.gap_top_down(0, MAX, MAX, 1 << 63, &g), Some(0));
    assert_eq!(t.gap_bottom_up(0, MAX, MAX, 1 << 63, &g), Some(0));
    assert_eq!(t.gap_top_down(0, MAX, 1, 1 << 63, &g), Some(1 << 63));
    assert_eq!(t.gap_top_down(5, 4, 1, 1, &g), None);
    assert_eq!(t.gap_top_down(5, 5, 2, 1, &g), None);
    let stats = t.validate(&g);
    assert_eq!((stats.nodes, stats.ranges, stats.somes), (1, 1, 0));
}

#[test]
fn one_range() {
    let mut b = Both::new();
    b.store(0x1000, 0x1fff, Some(1));
    let g = rcu_read_lock();
    let t = &b.tree;
    assert_eq!(t.walk(0xfff, &g), None);
    assert_eq!(t.walk(0x1000, &g), Some((0x1000, 0x1fff, 1)));
    assert_eq!(t.walk(0x1fff, &g), Some((0x1000, 0x1fff, 1)));
    assert_eq!(t.walk(0x2000, &g), None);
    assert_eq!(t.find(0, &g), Some((0x1000, 0x1fff, 1)));
    assert_eq!(t.find(0x1fff, &g), Some((0x1000, 0x1fff, 1)));
    assert_eq!(t.find(0x2000, &g), None);
    assert_eq!(t.prev(0x2000, &g), Some((0x1000, 0x1fff, 1)));
    assert_eq!(t.prev(MAX, &g), Some((0x1000, 0x1fff, 1)));
    assert_eq!(t.prev(0x1fff, &g), None);
    assert_eq!(t.prev(0x1000, &g), None);
    assert_eq!(t.len(&g), 1);
}

#[test]
fn ranges_at_zero_and_max() {
    let mut b = Both::new();
    b.store(0, 9, Some(1));
    b.store(MAX - 9, MAX, Some(2));
    {
        let g = rcu_read_lock();
        let t = &b.tree;
        assert_eq!(t.walk(0, &g), Some((0, 9, 1)));
        assert_eq!(t.walk(MAX, &g), Some((MAX - 9, MAX, 2)));
        assert_eq!(t.find(MAX, &g), Some((MAX - 9, MAX, 2)));
        assert_eq!(t.prev(MAX, &g), Some((0, 9, 1)));
        assert_eq!(t.gap_top_down(0, MAX, 1, 1, &g), Some(MAX - 10));
        assert_eq!(t.gap_bottom_up(0, MAX, 1, 1, &g), Some(10));
        assert_eq!(t.gap_top_down(0, MAX, MAX - 19, 1, &g), Some(10));
        assert_eq!(t.gap_top_down(0, MAX, MAX - 18, 1, &g), None);
    }
    b.store(0, 9, None);
    b.store(MAX, MAX, None);
    b.store(0, MAX, Some(3));
    let g = rcu_read_lock();
    assert_eq!(b.tree.walk(12345, &g), Some((0, MAX, 3)));
    assert_eq!(b.tree.gap_bottom_up(0, MAX, 1, 1, &g), None);
}

#[test]
fn touching_ranges_and_coalescing() {
    let mut b = Both::new();
    b.store(10, 19, Some(1));
    b.store(20, 29, Some(2));
    b.store(30, 39, Some(3));
    {
        let g = rcu_read_lock();
        assert_eq!(b.tree.walk(19, &g), Some((10, 19, 1)));
        assert_eq!(b.tree.walk(20, &g), Some((20, 29, 2)));
        assert_eq!(b.tree.prev(20, &g), Some((10, 19, 1)));
    }
    b.store(20, 29, None);
    assert_eq!(b.model.ranges.len(), 5);
    b.store(10, 19, None); // merges with 0..=9 and 20..=29
    assert_eq!(
        b.model.ranges,
        [(0, 29, None), (30, 39, Some(3)), (40, MAX, None)]
    );
    b.store(30, 39, None);
    assert_eq!(b.model.ranges, [(0, MAX, None)]);
    // Same value side by side stays two ranges.
    b.store(100, 199, Some(7));
    b.store(200, 299, Some(7));
    assert_eq!(b.tree.len(&rcu_read_lock()), 2);
}

#[test]
fn store_splits_a_range_into_three() {
    let mut b = Both::new();
    b.store(0x1000, 0x8fff, Some(1));
    b.store(0x3000, 0x3fff, Some(2));
    assert_eq!(
        b.model.somes().collect::<Vec<_>>(),
        [
            (0x1000, 0x2fff, 1),
            (0x3000, 0x3fff, 2),
            (0x4000, 0x8fff, 1)
        ]
    );
    b.store(0x3000, 0x3fff, None);
    assert_eq!(b.tree.len(&rcu_read_lock()), 2);
    // Partial overlaps on both sides.
    b.store(0x2000, 0x4fff, Some(3));
    assert_eq!(
        b.model.somes().collect::<Vec<_>>(),
        [
            (0x1000, 0x1fff, 1),
            (0x2000, 0x4fff, 3),
            (0x5000, 0x8fff, 1)
        ]
    );
    // Erase across a boundary, leaving parts of both.
    b.store(0x1800, 0x27ff, None);
    b.store(0x0, 0x17ff, None);
}

#[test]
fn store_spanning_many_leaves() {
    let mut b = Both::new();
    b.load((0..1000u64).map(|i| (i * 0x10, i * 0x10 + 7, Some(i as u32))));
    assert!(b.tree.validate(&rcu_read_lock()).height >= 2);
    // Overwrite the middle 800 with one range, cutting into two.
    b.store(100 * 0x10 + 3, 900 * 0x10 + 2, Some(5000));
    assert_eq!(b.tree.len(&rcu_read_lock()), 100 + 1 + 1 + 100);
    // Erase spans of every size, from both ends.
    b.store(0x10 * 50 + 4, 0x10 * 150, None);
    b.store(0x10 * 950, MAX, None);
    b.store(0, 0x10 * 20, None);
    b.store(0x10 * 30, 0x10 * 960, Some(1));
    b.store(0, MAX, None);
    let g = rcu_read_lock();
    assert_eq!(b.tree.len(&g), 0);
    assert_eq!(b.tree.validate(&g).nodes, 1);
}

#[test]
fn store_spanning_at_every_offset() {
    // Spanning stores whose ends fall at every position in a leaf, so the
    // left and right paths meet at every level.
    let base = || (0..5000u64).map(|i| (i * 4, i * 4 + 1, Some(i as u32)));
    let mut model = Model::new();
    for (f, l, v) in base() {
        model.store(f, l, v);
    }
    for start in [0u64, 1, 7, 8, 15, 16, 100, 255, 256, 4000] {
        for span in [1u64, 15, 16, 17, 129, 300, 1000, 4000] {
            let mut b = Both::new();
            // SAFETY: single-threaded test.
            let mut w = unsafe { b.tree.write() };
            for (f, l, v) in base() {
                w.store(f, l, v);
            }
            w.commit();
            b.model = model.clone();
            b.store(start * 4 + 1, (start + span) * 4, None);
            b.store(start * 4 + 1, (start + span) * 4 + 2, Some(9));
        }
    }
}

#[test]
fn store_across_two_full_leaves_makes_three() {
    // Two adjacent full leaves and a store across their boundary that
    // keeps a piece on each side: 15 + 3 + 15 = 33 ranges, three leaves.
    let mut b = Both::new();
    b.load((0..200u64).map(|i| (i * 100, i * 100 + 59, Some(i as u32))));
    let leaves = b.tree.snapshot(&rcu_read_lock()).leaves();
    let (l1, l2) = (leaves[3], leaves[4]);
    for (min, max, len) in [l1, l2] {
        // Split `Some` ranges inside the leaf until it holds 16.
        for _ in len..FANOUT {
            let (f, l, _) = b.tree.find(min, &rcu_read_lock()).unwrap();
            assert!(l <= max && l - f >= 2);
            b.store(l, l, Some(7));
        }
    }
    let leaves = b.tree.snapshot(&rcu_read_lock()).leaves();
    assert_eq!((leaves[3].2, leaves[4].2), (FANOUT, FANOUT));
    let (before, boundary) = (leaves.len(), leaves[3].1);
    let g = rcu_read_lock();
    let left = b.tree.snapshot(&g).descend(boundary);
    let right = b.tree.snapshot(&g).descend(boundary + 1);
    assert!(left.last() - left.first() >= 2 && right.last() - right.first() >= 2);
    let (first, last) = (left.first() + 1, right.first() + 1);
    drop(g);
    b.store(first, last, Some(999));
    let leaves = b.tree.snapshot(&rcu_read_lock()).leaves();
    assert_eq!(leaves.len(), before + 1);
    assert_eq!((leaves[3].2, leaves[4].2, leaves[5].2), (11, 11, 11));
}

#[test]
fn erase_everything() {
    let mut b = Both::new();
    b.load((0..300u64).map(|i| (i * 100, i * 100 + 50, Some(1))));
    b.store(0, MAX, None);
    let g = rcu_read_lock();
    assert_eq!(b.tree.len(&g), 0);
    assert_eq!(b.tree.walk(150, &g), None);
    assert_eq!(b.tree.gap_bottom_up(0, MAX, MAX, 1, &g), Some(0));
}

#[test]
fn gaps_with_alignment_and_bounds() {
    let mut b = Both::new();
    // Mappings at [4M, 5M), [9M, 10M), [16M, 17M); free elsewhere.
    let m = 1u64 << 20;
    b.store(4 * m, 5 * m - 1, Some(1));
    b.store(9 * m, 10 * m - 1, Some(2));
    b.store(16 * m, 17 * m - 1, Some(3));
    let g = rcu_read_lock();
    let t = &b.tree;
    // Top-down under 17M: the 4M hole [10M, 16M) ends at 16M.
    assert_eq!(t.gap_top_down(0, 16 * m - 1, 4 * m, MIB2, &g), Some(12 * m));
    // 2M-aligned 2M areas top-down below 9M: [5M, 9M) holds 6M..8M.
    assert_eq!(t.gap_top_down(0, 9 * m - 1, 2 * m, MIB2, &g), Some(6 * m));
    // 3M in [5M, 9M) aligned to 2M: 6M..9M fits.
    assert_eq!(t.gap_top_down(0, 9 * m - 1, 3 * m, MIB2, &g), Some(6 * m));
    // 4M aligned 2M does not fit in [5M, 9M): skips to [0, 4M).
    assert_eq!(t.gap_top_down(0, 9 * m - 1, 4 * m, MIB2, &g), Some(0));
    // Bottom-up from 4M: first fit of 3M aligned to 2M is 6M.
    assert_eq!(t.gap_bottom_up(4 * m, MAX, 3 * m, MIB2, &g), Some(6 * m));
    // Bottom-up 4M aligned 2M: [5M, 9M) fails, [10M, 16M) gives 10M.
    assert_eq!(t.gap_bottom_up(4 * m, MAX, 4 * m, MIB2, &g), Some(10 * m));
    // Bounds cut a gap: low inside a hole.
    assert_eq!(t.gap_bottom_up(11 * m + 1, MAX, m, MIB2, &g), Some(12 * m));
    assert_eq!(t.gap_top_down(0, 11 * m, m, 1, &g), Some(10 * m + 1));
    // No fit at all.
    assert_eq!(t.gap_top_down(4 * m, 5 * m - 1, 1, 1, &g), None);
    assert_eq!(t.gap_bottom_up(5 * m, 9 * m - 1, 4 * m + 1, 1, &g), None);
    assert_eq!(t.gap_top_down(5 * m, 9 * m - 1, 4 * m, 1, &g), Some(5 * m));
    assert_eq!(t.gap_top_down(5 * m, 9 * m - 1, 4 * m, MIB2, &g), None);
    assert_eq!(t.gap_top_down(0, MAX, 1, 1 << 63, &g), Some(1 << 63));
    drop(g);
    b.check();
}

#[test]
fn gap_search_prunes_many_ranges() {
    // 4000 one-page mappings with one-page holes, and one big hole. Only
    // the big hole fits 3 pages.
    let mut b = Both::new();
    // SAFETY: single-threaded test.
    let mut w = unsafe { b.tree.write() };
    for i in 0..4000u64 {
        let (f, l) = (i * 0x2000, i * 0x2000 + 0xfff);
        let (f, l) = if i >= 2000 {
            (f + 0x10_0000, l + 0x10_0000)
        } else {
            (f, l)
        };
        w.store(f, l, Some(i as u32));
        b.model.store(f, l, Some(i as u32));
    }
    w.commit();
    b.check();
    let g = rcu_read_lock();
    let hole = 1999 * 0x2000 + 0x1000;
    let top = 3999 * 0x2000 + 0x10_0000 + 0x1000;
    assert_eq!(b.tree.gap_bottom_up(0, MAX, 0x3000, 0x1000, &g), Some(hole));
    assert_eq!(
        b.tree.gap_top_down(0, top - 1, 0x3000, 0x1000, &g),
        Some(hole + 0x10_0000 + 0x1000 - 0x3000)
    );
    assert_eq!(b.tree.gap_top_down(0, hole - 1, 0x2000, 0x1000, &g), None);
}

#[test]
fn abort_leaves_no_trace() {
    let mut b = Both::new();
    b.load((0..200u64).map(|i| (i * 10, i * 10 + 4, Some(i as u32))));
    let before: Vec<_> = b.tree.iter_from(0, &rcu_read_lock()).collect();
    {
        // SAFETY: single-threaded test.
        let mut w = unsafe { b.tree.write() };
        w.store(0, 1000, None);
        w.store(5, 5, Some(99));
        w.store(1500, MAX, Some(98));
        w.validate();
        // The writer sees its own changes...
        assert_eq!(w.walk(5), Some((5, 5, 99)));
        assert_eq!(w.walk(10), None);
        assert_eq!(w.find(6), Some((1001, 1004, 100)));
        assert_eq!(w.len(), 1 + 50 + 1);
        // ...readers do not.
        assert_eq!(b.tree.walk(10, &rcu_read_lock()), Some((10, 14, 1)));
    }
    let after: Vec<_> = b.tree.iter_from(0, &rcu_read_lock()).collect();
    assert_eq!(before, after);
    b.check();
}

#[test]
fn many_stores_in_one_transaction() {
    let mut b = Both::new();
    let mut rng = Rng(7);
    // SAFETY: single-threaded test.
    let mut w = unsafe { b.tree.write() };
    for _ in 0..3000 {
        let first = rng.below(50_000);
        let last = first + rng.below(200);
        let v = (rng.below(4) != 0).then(|| rng.below(100) as u32);
        w.store(first, last, v);
        b.model.store(first, last, v);
    }
    w.validate();
    w.commit();
    b.check();
}

#[test]
fn max_map_count_ranges() {
    // Linux's default max_map_count: 65530 non-adjacent mappings.
    const N: u64 = 65_530;
    const BASE: u64 = 0x5555_0000_0000;
    let page = 0x1000;
    let tree = MapleTree::<u32>::new();
    let mut rng = Rng(42);
    let mut order: Vec<u64> = (0..N).collect();
    rng.shuffle(&mut order);
    let range = |i: u64| (BASE + i * 2 * page, BASE + i * 2 * page + page - 1);
    for chunk in order.chunks(1000) {
        // SAFETY: single-threaded test.
        let mut w = unsafe { tree.write() };
        for &i in chunk {
            let (f, l) = range(i);
            w.store(f, l, Some(i as u32));
        }
        w.commit();
    }
    let g = rcu_read_lock();
    let stats = tree.validate(&g);
    assert_eq!(stats.somes, N as usize);
    assert_eq!(tree.len(&g), N as usize);
    for i in (0..N).step_by(97) {
        let (f, l) = range(i);
        assert_eq!(tree.walk(f, &g), Some((f, l, i as u32)));
        assert_eq!(tree.walk(l + 1, &g), None);
        assert_eq!(
            tree.find(l + 1, &g).map(|r| r.2),
            (i + 1 < N).then_some(i as u32 + 1)
        );
        assert_eq!(
            tree.prev(f, &g).map(|r| r.2),
            i.checked_sub(1).map(|p| p as u32)
        );
    }
    assert_eq!(tree.iter_from(0, &g).count(), N as usize);
    // No two-page hole among the mappings: gaps go below or above them.
    let end = range(N - 1).1 + 1;
    assert_eq!(
        tree.gap_top_down(0, MAX, 2 * page, page, &g),
        Some(MAX - 2 * page + 1)
    );
    assert_eq!(
        tree.gap_top_down(BASE, end + 2 * page - 1, 2 * page, page, &g),
        Some(end)
    );
    assert_eq!(tree.gap_bottom_up(BASE, MAX, 2 * page, page, &g), Some(end));
    assert_eq!(
        tree.gap_bottom_up(BASE, MAX, page, page, &g),
        Some(BASE + page)
    );
    assert_eq!(tree.gap_top_down(BASE, end - 1, 2 * page, page, &g), None);
    drop(g);
    // Erase them all in random order, one commit per munmap.
    rng.shuffle(&mut order);
    for (n, &i) in order.iter().enumerate() {
        let (f, l) = range(i);
        // SAFETY: single-threaded test.
        let mut w = unsafe { tree.write() };
        w.store(f, l, None);
        w.commit();
        if n % 4096 == 0 {
            let g = rcu_read_lock();
            let stats = tree.validate(&g);
            assert_eq!(stats.somes, (N as usize) - n - 1);
        }
    }
    let g = rcu_read_lock();
    let stats = tree.validate(&g);
    assert_eq!((stats.nodes, stats.ranges, stats.somes), (1, 1, 0));
}

/// A store in a fresh transaction builds one leaf and defers the path
/// copy; the first lookup (or store) copies the path: height + 1 nodes in
/// all (no split or merge), and later stores on that path reuse them. A
/// transaction that commits before that copies nothing else.
fn path_copy_allocates_one_node_per_level() {
    let tree = MapleTree::<u32>::new_tracked();
    // SAFETY: single-threaded test.
    let mut w = unsafe { tree.write() };
    for i in 0..2000u64 {
        w.store(i * 8, i * 8 + 3, Some(1));
    }
    w.commit();
    let stats = tree.validate(&rcu_read_lock());
    let before = LIVE.load(Ordering::Relaxed);
    // SAFETY: single-threaded test.
    let mut w = unsafe { tree.write() };
    w.store(8 * 1000, 8 * 1000 + 3, Some(2));
    assert_eq!(LIVE.load(Ordering::Relaxed) - before, 1, "deferred path");
    assert_eq!(w.walk(8 * 1000), Some((8000, 8003, 2)));
    let after_one = LIVE.load(Ordering::Relaxed);
    assert_eq!(after_one - before, stats.height as u64 + 1);
    w.store(8 * 1000, 8 * 1000 + 3, Some(3));
    w.store(8 * 1000, 8 * 1000 + 3, Some(4));
    assert_eq!(LIVE.load(Ordering::Relaxed), after_one);
    w.commit();
    // One store, committed at once: only the leaf is new, and the old one
    // goes after a grace period.
    let nodes = tree.validate(&rcu_read_lock()).nodes + tree.spares();
    memory_is_freed(nodes as u64);
    // SAFETY: single-threaded test.
    let mut w = unsafe { tree.write() };
    w.store(8 * 500, 8 * 500 + 3, Some(5));
    assert_eq!(LIVE.load(Ordering::Relaxed), nodes as u64 + 1);
    w.commit();
    assert_eq!(tree.walk(8 * 500, &rcu_read_lock()), Some((4000, 4003, 5)));
    memory_is_freed(nodes as u64);
    drop(tree);
    memory_is_freed(0);
}

/// Waits (boundedly) for deferred frees until `LIVE == expect`.
fn memory_is_freed(expect: u64) {
    for _ in 0..10_000 {
        if LIVE.load(Ordering::Relaxed) == expect {
            return;
        }
        rcu_barrier();
        #[cfg(feature = "std")]
        std::thread::yield_now();
    }
    panic!(
        "live nodes: {} expected {expect}",
        LIVE.load(Ordering::Relaxed)
    );
}

/// Every node is freed: now (aborts, nodes replaced within a transaction),
/// after a grace period (nodes replaced by a commit), or when the tree is
/// dropped.
fn no_node_leaks() {
    let tree = MapleTree::<u32>::new_tracked();
    let mut rng = Rng(3);
    for round in 0..400 {
        // SAFETY: single-threaded test.
        let mut w = unsafe { tree.write() };
        for _ in 0..rng.below(20) + 1 {
            let first = rng.below(100_000);
            let last = first + rng.below(if round % 50 == 0 { 50_000 } else { 300 });
            let v = (rng.below(3) != 0).then_some(1u32);
            w.store(first, last, v);
        }
        if rng.below(4) == 0 {
            drop(w); // abort: its nodes are freed now
        } else {
            w.commit();
        }
        if round % 100 == 0 {
            let nodes = tree.validate(&rcu_read_lock()).nodes + tree.spares();
            memory_is_freed(nodes as u64);
        }
    }
    drop(tree);
    memory_is_freed(0);
}

/// The tests that count live nodes, in one test function: `LIVE` counts
/// the nodes of every tracked tree, so they must not run concurrently.
#[test]
fn node_accounting() {
    path_copy_allocates_one_node_per_level();
    no_node_leaks();
}

/// Long random run against the model, for release builds:
/// `cargo test -p pervma --release --lib soak -- --ignored`.
#[test]
#[ignore = "slow; run by hand in release"]
fn soak_random_stores() {
    let tree = MapleTree::<u32>::new();
    let mut model = Model::new();
    let mut rng = Rng(0x5eed);
    let mut max_ranges = 0;
    for round in 0..20_000u32 {
        let mut pending = model.clone();
        // SAFETY: single-threaded test.
        let mut w = unsafe { tree.write() };
        for _ in 0..rng.below(8) + 1 {
            let first = match rng.below(8) {
                0 => rng.next(),
                1 => MAX - rng.below(1 << 16),
                _ => rng.below(1 << 20),
            };
            let len = match rng.below(1000) {
                0 => rng.next(),
                1..=20 => rng.below(1 << 18),
                _ => rng.below(1 << 10) + 1,
            };
            let last = first.saturating_add(len.max(1) - 1);
            let v = (rng.below(3) != 0).then(|| rng.below(1 << 16) as u32);
            w.store(first, last, v);
            pending.store(first, last, v);
        }
        w.validate();
        if rng.below(5) == 0 {
            drop(w);
        } else {
            w.commit();
            model = pending;
        }
        if round % 500 == 0 {
            compare_tree(&tree, &model, &[]);
            max_ranges = max_ranges.max(model.ranges.len());
        }
    }
    compare_tree(&tree, &model, &[]);
    assert!(max_ranges > 1000, "soak never grew the tree: {max_ranges}");
}
