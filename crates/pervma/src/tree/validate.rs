//! `validate`: checks every structural invariant of one version of the tree
//! (tests only). Panics with a description of the first violation.

// The loom models use only part of this.
#![cfg_attr(loom, allow(dead_code))]

use alloc::vec::Vec;

use super::node::{gap_len, Header, FANOUT, MIN_FILL};
use super::read::{internal_ref, leaf_ref, Snapshot};
use super::{MapleTree, TreeWriter};
use crate::sync::rcu::RcuGuard;

/// What [`Snapshot::validate`] counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TreeStats {
    /// Nodes in the tree.
    pub(crate) nodes: usize,
    /// Height of the root (0: the root is a leaf).
    pub(crate) height: usize,
    /// Ranges, `Some` and `None`.
    pub(crate) ranges: usize,
    /// `Some` ranges.
    pub(crate) somes: usize,
}

struct Checker {
    stats: TreeStats,
    /// Whether the previous range (in key order) was `None`.
    prev_none: bool,
    /// The last key of the previous range (`None` before the first).
    prev_last: Option<u64>,
    /// The newest transaction id any node may carry.
    max_txn: u64,
    /// Whether this is a writer's pending version, whose transaction is
    /// `max_txn`.
    pending: bool,
}

impl<V: Copy> Snapshot<'_, V> {
    /// Checks every invariant; returns node/range counts.
    pub(crate) fn validate(&self) -> TreeStats {
        self.validate_txn(u64::MAX, false)
    }

    pub(super) fn validate_txn(&self, max_txn: u64, pending: bool) -> TreeStats {
        // SAFETY: the root of this snapshot is live (type invariant).
        let root = unsafe { &*self.root };
        let mut c = Checker {
            stats: TreeStats {
                nodes: 0,
                height: usize::from(root.height),
                ranges: 0,
                somes: 0,
            },
            prev_none: false,
            prev_last: None,
            max_txn,
            pending,
        };
        self.check(&mut c, self.root, 0, u64::MAX, root.height, true, max_txn);
        assert_eq!(c.prev_last, Some(u64::MAX), "ranges do not reach u64::MAX");
        assert_eq!(
            root.count(),
            c.stats.somes,
            "root count != number of Some ranges"
        );
        c.stats
    }

    /// Checks the subtree at `node` with bounds `min..=max`; returns its
    /// longest `None` range.
    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        c: &mut Checker,
        node: *const Header,
        min: u64,
        max: u64,
        height: u8,
        is_root: bool,
        parent_txn: u64,
    ) -> u64 {
        assert!(!node.is_null(), "null child");
        // SAFETY: nodes of this snapshot are live (type invariant).
        let hdr = unsafe { &*node };
        c.stats.nodes += 1;
        assert_eq!(hdr.height, height, "node at the wrong height");
        // A commit may patch a newer subtree into an older published node,
        // but a node of the pending transaction is reachable only through
        // nodes of that transaction (published nodes never point to it).
        if hdr.txn == c.max_txn && c.pending {
            assert_eq!(
                parent_txn, c.max_txn,
                "published node points to a pending one"
            );
        }
        assert!(hdr.txn <= c.max_txn, "node from a future transaction");
        let len = usize::from(hdr.len);
        assert!((1..=FANOUT).contains(&len), "bad len {len}");
        if is_root {
            assert!(height == 0 || len >= 2, "internal root with one child");
        } else {
            assert!(
                len >= MIN_FILL,
                "underfull node: len {len} at height {height}"
            );
        }
        let pivots = if height == 0 {
            // SAFETY: a live leaf.
            &unsafe { leaf_ref::<V>(node) }.pivots
        } else {
            // SAFETY: a live internal node.
            &unsafe { internal_ref(node) }.pivots
        };
        assert!(pivots[0] >= min, "first pivot below the node's minimum");
        for i in 1..len {
            assert!(pivots[i - 1] < pivots[i], "pivots not increasing");
        }
        assert_eq!(pivots[len - 1], max, "last pivot != node maximum");
        assert!(
            pivots[len..].iter().all(|&p| p == u64::MAX),
            "unused pivot set"
        );

        if height == 0 {
            // SAFETY: a live leaf.
            let leaf = unsafe { leaf_ref::<V>(node) };
            assert!(
                leaf.slots[len..].iter().all(Option::is_none),
                "unused slot set"
            );
            let mut first = min;
            let mut best = 0;
            for i in 0..len {
                let last = leaf.pivots[i];
                let expected_first = c.prev_last.map_or(0, |p| p + 1);
                assert_eq!(first, expected_first, "ranges not contiguous");
                c.stats.ranges += 1;
                match leaf.slots[i] {
                    Some(_) => {
                        c.stats.somes += 1;
                        c.prev_none = false;
                    }
                    None => {
                        assert!(!c.prev_none, "adjacent None ranges at {first:#x}");
                        c.prev_none = true;
                        best = best.max(gap_len(first, last));
                    }
                }
                c.prev_last = Some(last);
                first = last.wrapping_add(1);
            }
            assert_eq!(leaf.max_gap(min), best);
            return best;
        }
        // SAFETY: a live internal node.
        let int = unsafe { internal_ref(node) };
        assert!(
            int.gaps[len..].iter().all(|g| g.get() == 0),
            "unused gap set"
        );
        assert!(
            int.children[len..].iter().all(|c| c.get().is_null()),
            "unused child set"
        );
        let mut cmin = min;
        let mut best = 0;
        for i in 0..len {
            let gap = self.check(
                c,
                int.child(i),
                cmin,
                int.pivots[i],
                height - 1,
                false,
                hdr.txn,
            );
            assert_eq!(int.gap(i), gap, "stale cached gap");
            best = best.max(gap);
            cmin = int.pivots[i].wrapping_add(1);
        }
        best
    }
}

impl<V: Copy> Snapshot<'_, V> {
    /// `(min, max, len)` of every leaf, in key order.
    pub(crate) fn leaves(&self) -> Vec<(u64, u64, usize)> {
        let mut out = Vec::new();
        let mut addr = 0;
        loop {
            let pos = self.descend(addr);
            out.push((pos.min, pos.max, usize::from(pos.leaf.hdr.len)));
            if pos.max == u64::MAX {
                return out;
            }
            addr = pos.max + 1;
        }
    }
}

impl<V: Copy> MapleTree<V> {
    /// [`Snapshot::validate`] on the published version.
    pub(crate) fn validate(&self, guard: &RcuGuard) -> TreeStats {
        let next = self.next_txn.load(crate::sync::prim::Ordering::Relaxed);
        self.snapshot(guard).validate_txn(next - 1, false)
    }
}

impl<V: Copy> TreeWriter<'_, V> {
    /// [`Snapshot::validate`] on the pending version.
    pub(crate) fn validate(&self) -> TreeStats {
        self.snapshot().validate_txn(self.txn, true)
    }
}
