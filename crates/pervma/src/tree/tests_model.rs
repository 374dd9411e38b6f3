//! A naive model of the tree and the differential property test.

use alloc::vec;
use alloc::vec::Vec;

use super::{MapleTree, Snapshot};
use crate::sync::rcu::rcu_read_lock;

/// The partition as a sorted `Vec` of `(first, last, value)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Model {
    pub(super) ranges: Vec<(u64, u64, Option<u32>)>,
}

impl Model {
    pub(super) fn new() -> Self {
        Model {
            ranges: vec![(0, u64::MAX, None)],
        }
    }

    /// Index of the range containing `addr`.
    fn index(&self, addr: u64) -> usize {
        self.ranges.partition_point(|r| r.1 < addr)
    }

    pub(super) fn store(&mut self, first: u64, last: u64, v: Option<u32>) {
        let (lo, hi) = (self.index(first), self.index(last));
        // Widen by one range on each side so `None` neighbours coalesce.
        let (lo, hi) = (lo.saturating_sub(1), (hi + 1).min(self.ranges.len() - 1));
        let mut out = Vec::with_capacity(hi - lo + 3);
        let mut placed = false;
        for &(f, l, x) in &self.ranges[lo..=hi] {
            if l < first || f > last {
                if f > last && !placed {
                    out.push((first, last, v));
                    placed = true;
                }
                out.push((f, l, x));
                continue;
            }
            if f < first {
                out.push((f, first - 1, x));
            }
            if !placed {
                out.push((first, last, v));
                placed = true;
            }
            if l > last {
                out.push((last + 1, l, x));
            }
        }
        assert!(placed);
        let mut merged: Vec<(u64, u64, Option<u32>)> = Vec::with_capacity(out.len());
        for r in out {
            match merged.last_mut() {
                Some(prev) if prev.2.is_none() && r.2.is_none() => prev.1 = r.1,
                _ => merged.push(r),
            }
        }
        self.ranges.splice(lo..=hi, merged);
    }

    pub(super) fn somes(&self) -> impl Iterator<Item = (u64, u64, u32)> + '_ {
        self.ranges
            .iter()
            .filter_map(|&(f, l, v)| v.map(|v| (f, l, v)))
    }

    pub(super) fn walk(&self, addr: u64) -> Option<(u64, u64, u32)> {
        let (f, l, v) = self.ranges[self.index(addr)];
        v.map(|v| (f, l, v))
    }

    pub(super) fn find(&self, addr: u64) -> Option<(u64, u64, u32)> {
        self.ranges[self.index(addr)..]
            .iter()
            .find_map(|&(f, l, v)| v.map(|v| (f, l, v)))
    }

    pub(super) fn prev(&self, addr: u64) -> Option<(u64, u64, u32)> {
        self.ranges[..self.index(addr)]
            .iter()
            .rev()
            .find_map(|&(f, l, v)| v.map(|v| (f, l, v)))
    }

    pub(super) fn len(&self) -> usize {
        self.somes().count()
    }

    /// Brute force in `u128`, independent of the tree's arithmetic.
    pub(super) fn gap_top_down(&self, low: u64, high: u64, size: u64, align: u64) -> Option<u64> {
        let (size, align) = (u128::from(size), u128::from(align));
        self.ranges
            .iter()
            .rev()
            .filter(|r| r.2.is_none())
            .find_map(|&(f, l, _)| {
                let lo = u128::from(f.max(low));
                let hi = u128::from(l.min(high));
                if lo > hi || hi + 1 < lo + size {
                    return None;
                }
                let s = (hi + 1 - size) / align * align;
                (s >= lo).then_some(s as u64)
            })
    }

    pub(super) fn gap_bottom_up(&self, low: u64, high: u64, size: u64, align: u64) -> Option<u64> {
        let (size, align) = (u128::from(size), u128::from(align));
        self.ranges
            .iter()
            .filter(|r| r.2.is_none())
            .find_map(|&(f, l, _)| {
                let lo = u128::from(f.max(low));
                let hi = u128::from(l.min(high));
                let s = lo.div_ceil(align) * align;
                (s + size <= hi + 1).then_some(s as u64)
            })
    }
}

/// Compares every lookup of `snap` with `model`, at the interesting
/// addresses `probes` (plus each range boundary).
pub(super) fn compare(snap: Snapshot<'_, u32>, model: &Model, probes: &[u64]) {
    snap.validate();
    assert_eq!(snap.len(), model.len(), "len");
    let got: Vec<_> = snap.iter_from(0).collect();
    let want: Vec<_> = model.somes().collect();
    assert_eq!(got, want, "iteration");
    let mut addrs: Vec<u64> = vec![0, 1, u64::MAX - 1, u64::MAX];
    addrs.extend_from_slice(probes);
    for &(f, l, _) in model.ranges.iter().take(64) {
        addrs.extend([f, l, f.wrapping_sub(1), l.wrapping_add(1)]);
    }
    for &a in &addrs {
        assert_eq!(snap.walk(a), model.walk(a), "walk({a:#x})");
        assert_eq!(snap.find(a), model.find(a), "find({a:#x})");
        assert_eq!(snap.prev(a), model.prev(a), "prev({a:#x})");
        let it: Vec<_> = snap.iter_from(a).take(3).collect();
        let want: Vec<_> = model.somes().filter(|r| r.1 >= a).take(3).collect();
        assert_eq!(it, want, "iter_from({a:#x})");
    }
    let sizes = [1u64, 2, 7, 100, 4096, 1 << 40, u64::MAX];
    let aligns = [1u64, 16, 4096, 1 << 21];
    for (i, &size) in sizes.iter().enumerate() {
        for (j, &align) in aligns.iter().enumerate() {
            let lo_hi = [
                (0, u64::MAX),
                (probes.first().copied().unwrap_or(0), u64::MAX),
                (0, probes.last().copied().unwrap_or(u64::MAX)),
                (
                    addrs[(i + j) % addrs.len()],
                    addrs[(i * 7 + j * 3) % addrs.len()],
                ),
            ];
            for &(low, high) in &lo_hi {
                assert_eq!(
                    snap.gap_top_down(low, high, size, align),
                    model.gap_top_down(low, high, size, align),
                    "gap_top_down({low:#x}, {high:#x}, {size:#x}, {align:#x})"
                );
                assert_eq!(
                    snap.gap_bottom_up(low, high, size, align),
                    model.gap_bottom_up(low, high, size, align),
                    "gap_bottom_up({low:#x}, {high:#x}, {size:#x}, {align:#x})"
                );
            }
        }
    }
}

/// Compares the published version of `tree` with `model`.
pub(super) fn compare_tree(tree: &MapleTree<u32>, model: &Model, probes: &[u64]) {
    let guard = rcu_read_lock();
    tree.validate(&guard);
    compare(tree.snapshot(&guard), model, probes);
}

#[cfg(feature = "std")]
mod proptests {
    extern crate std;

    use super::*;
    use proptest::prelude::*;

    /// One store: `first..=first + len - 1` (clamped at `u64::MAX`).
    #[derive(Debug, Clone)]
    enum Op {
        Store {
            first: u64,
            len: u64,
            v: Option<u32>,
        },
        /// `count` ranges of `len` keys every `stride` keys from `first`,
        /// to grow the tree several levels in one go.
        Many {
            first: u64,
            count: u64,
            stride: u64,
            len: u64,
            v: Option<u32>,
        },
    }

    fn addr() -> impl Strategy<Value = u64> {
        prop_oneof![
            6 => 0u64..20_000,
            1 => (u64::MAX - 20_000)..=u64::MAX,
            1 => any::<u64>(),
            1 => Just(0u64),
        ]
    }

    fn len() -> impl Strategy<Value = u64> {
        prop_oneof![
            8 => 1u64..48,
            2 => 48u64..5_000,
            1 => 5_000u64..=u64::MAX,
        ]
    }

    fn value() -> impl Strategy<Value = Option<u32>> {
        prop_oneof![3 => Just(None), 7 => (0u32..1000).prop_map(Some)]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            10 => (addr(), len(), value()).prop_map(|(first, len, v)| Op::Store { first, len, v }),
            1 => (0u64..20_000, 1u64..300, 2u64..64, 1u64..64, value()).prop_map(
                |(first, count, stride, len, v)| Op::Many { first, count, stride, len: len.min(stride), v }
            ),
        ]
    }

    fn apply(
        w: &mut super::super::TreeWriter<'_, u32>,
        m: &mut Model,
        probes: &mut Vec<u64>,
        op: &Op,
    ) {
        let mut one = |first: u64, len: u64, v: Option<u32>| {
            let last = first.saturating_add(len - 1);
            w.store(first, last, v);
            m.store(first, last, v);
            probes.extend([first, last]);
        };
        match *op {
            Op::Store { first, len, v } => one(first, len, v),
            Op::Many {
                first,
                count,
                stride,
                len,
                v,
            } => {
                for i in 0..count {
                    let f = first + i * stride;
                    one(f, len, v.map(|x| x + i as u32));
                }
            }
        }
    }

    proptest! {
        // 128 cases by default (about 10 s unoptimised); more with
        // PROPTEST_CASES=n.
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(128),
            ..ProptestConfig::default()
        })]

        /// Random transactions of random stores against the model; some
        /// transactions are aborted and must leave no trace.
        #[test]
        fn tree_matches_model(txns in proptest::collection::vec(
            (proptest::collection::vec(op(), 1..12), any::<bool>()), 1..12)
        ) {
            let tree = MapleTree::<u32>::new();
            let mut model = Model::new();
            for (ops, commit) in &txns {
                let mut pending = model.clone();
                let mut probes = Vec::new();
                // SAFETY: this test is the only writer.
                let mut w = unsafe { tree.write() };
                for op in ops {
                    apply(&mut w, &mut pending, &mut probes, op);
                    probes.sort_unstable();
                    probes.dedup();
                    compare(w.snapshot(), &pending, &probes);
                }
                if *commit {
                    w.commit();
                    model = pending;
                } else {
                    drop(w);
                }
                compare_tree(&tree, &model, &probes);
            }
        }
    }
}
