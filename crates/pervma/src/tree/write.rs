//! The writer's `store`: copy-on-write replacement of a span of ranges.
//!
//! Linux: `mas_store_gfp`, `mas_wr_spanning_store` and
//! `mas_spanning_rebalance` in lib/maple_tree.c.
//!
//! # The algorithm
//!
//! A store of `first..=last` first works out the *span*: the old ranges it
//! touches, widened by a `None` neighbour when storing `None` (so `None`
//! ranges stay coalesced), and the 1 to 3 new ranges that replace the span
//! (the part of the first old range below `first`, the stored range, the
//! part of the last old range above `last`). The span starts and ends on
//! old range boundaries, so no range outside it changes.
//!
//! It then finds the path from the root to the span's first range (the
//! *left path*) and to its last range (the *right path*), and rebuilds
//! bottom-up, one level at a time. At each level the new contents are
//!
//! ```text
//! left-path node's slots before the path   ++ nodes built one level down
//!                                          ++ right-path node's slots after the path
//! ```
//!
//! and everything strictly between the two paths is dropped (retired or
//! freed). The contents are split evenly into as many nodes as needed
//! (each then holds at least [`MIN_FILL`] slots). If the level below
//! produced a single node with fewer than [`MIN_FILL`] slots, it is first
//! *joined* with an adjacent sibling from the contents; a join that meets
//! an underfull node one level further down joins there too, so the
//! result is always a valid B-tree. When the paths meet at the root, the
//! new nodes become the new root (under a new root level if there are
//! several; an internal root left with one child is replaced by that
//! child).
//!
//! If a level's contents are just that underfull node (the paths covered
//! whole nodes on both sides), the level builds a node with one child, and
//! the next level joins it down the chain; at the root such a chain
//! collapses. Only the lone node a level hands up can be underfull
//! (itself, or down such a chain), and the sibling it is joined with is a
//! valid node, so every join has enough slots for valid nodes.
//!
//! A single-leaf store is the case where the two paths are the same: path
//! copying, one new node per level. A store that removes `k` ranges also
//! visits the `O(k / MIN_FILL)` nodes between the paths to retire them.
//!
//! # Copy-on-write
//!
//! Nodes whose `txn` is this writer's were allocated by this transaction
//! and are unreachable from the published root, so the writer overwrites
//! them when it rebuilds that spot (a second store in one transaction
//! allocates nothing) and frees them at once when it drops them. Other
//! nodes are never written: rebuilding copies their slots into new nodes,
//! and dropping them adds them to the retired list, freed after a grace
//! period once [`TreeWriter::commit`] has published the new root.

use super::node::{
    alloc_internal, alloc_leaf, free_node, slot_of, Header, Internal, Leaf, FANOUT, MAX_LEVELS,
    MIN_FILL,
};
use super::read::{internal_ref, leaf_ref};
use super::TreeWriter;
use core::ptr;

/// How full a rebuild makes nodes: at most this many slots each where the
/// minimum fill allows. Filling nodes to [`FANOUT`] would make the next
/// insertion split them and the next removal join them again (a one-page
/// `mmap` + `munmap` at a leaf boundary did both, each time); three
/// quarters leaves room both ways.
const REBUILD_FILL: usize = FANOUT * 3 / 4;

/// How many nodes a rebuild makes of `n` slots: about `n / REBUILD_FILL`,
/// but never so many that one gets fewer than [`MIN_FILL`] (or, for
/// `n < MIN_FILL`, one: only a root or a node that is joined next may be
/// that small), nor so few that one gets more than [`FANOUT`].
fn nodes_for(n: usize) -> usize {
    n.div_ceil(REBUILD_FILL)
        .min(n / MIN_FILL)
        .max(n.div_ceil(FANOUT))
        .max(1)
}

/// Room for the contents of one level during a rebuild: at most
/// `FANOUT - 1` slots on each side of at most 3 new entries.
const CAP: usize = 3 * FANOUT;

/// One level of a [`Path`]: `node`, the index of the slot the path goes
/// through, and the node's minimum.
#[derive(Clone, Copy)]
pub(super) struct Step {
    pub(super) node: *mut Header,
    pub(super) idx: usize,
    pub(super) min: u64,
}

/// A root-to-leaf path in the writer's pending tree: `steps[h]` is the node
/// of height `h`, for `h` in `0..=height`.
#[derive(Clone, Copy)]
pub(super) struct Path {
    pub(super) steps: [Step; MAX_LEVELS],
    pub(super) height: usize,
}

/// Contents of one leaf level being rebuilt.
struct LeafBuf<V> {
    min: u64,
    n: usize,
    pivots: [u64; CAP],
    slots: [Option<V>; CAP],
}

impl<V: Copy> LeafBuf<V> {
    fn new(min: u64) -> Self {
        LeafBuf {
            min,
            n: 0,
            pivots: [0; CAP],
            slots: [None; CAP],
        }
    }

    fn push(&mut self, pivot: u64, slot: Option<V>) {
        self.pivots[self.n] = pivot;
        self.slots[self.n] = slot;
        self.n += 1;
    }

    fn extend(&mut self, leaf: &Leaf<V>, range: core::ops::Range<usize>) {
        for i in range {
            self.push(leaf.pivots[i], leaf.slots[i]);
        }
    }
}

/// Contents of one internal level being rebuilt, or the nodes a level
/// produced.
struct IntBuf {
    min: u64,
    n: usize,
    pivots: [u64; CAP],
    gaps: [u64; CAP],
    children: [*mut Header; CAP],
}

impl IntBuf {
    fn new(min: u64) -> Self {
        IntBuf {
            min,
            n: 0,
            pivots: [0; CAP],
            gaps: [0; CAP],
            children: [ptr::null_mut(); CAP],
        }
    }

    fn push(&mut self, pivot: u64, gap: u64, child: *mut Header) {
        self.pivots[self.n] = pivot;
        self.gaps[self.n] = gap;
        self.children[self.n] = child;
        self.n += 1;
    }

    fn extend(&mut self, node: &Internal, range: core::ops::Range<usize>) {
        for i in range {
            self.push(node.pivots[i], node.gap(i), node.child(i));
        }
    }

    fn append(&mut self, other: &IntBuf) {
        for i in 0..other.n {
            self.push(other.pivots[i], other.gaps[i], other.children[i]);
        }
    }

    /// Minimum of the child at `j`.
    fn child_min(&self, j: usize) -> u64 {
        if j == 0 {
            self.min
        } else {
            self.pivots[j - 1] + 1
        }
    }

    /// Replaces the entries `j` and `j + 1` with the entries of `with`.
    fn replace_pair(&mut self, j: usize, with: &IntBuf) {
        let tail = self.n - (j + 2);
        let new_n = j + with.n + tail;
        assert!(new_n <= CAP);
        self.pivots.copy_within(j + 2..self.n, j + with.n);
        self.gaps.copy_within(j + 2..self.n, j + with.n);
        self.children.copy_within(j + 2..self.n, j + with.n);
        self.pivots[j..j + with.n].copy_from_slice(&with.pivots[..with.n]);
        self.gaps[j..j + with.n].copy_from_slice(&with.gaps[..with.n]);
        self.children[j..j + with.n].copy_from_slice(&with.children[..with.n]);
        self.n = new_n;
    }
}

/// Nodes of this transaction being rebuilt, whose memory the rebuild may
/// reuse for the nodes it builds at the same height.
struct Pool {
    nodes: [*mut Header; 2],
    n: usize,
}

impl Pool {
    fn new() -> Self {
        Pool {
            nodes: [ptr::null_mut(); 2],
            n: 0,
        }
    }

    fn take(&mut self) -> Option<*mut Header> {
        self.n = self.n.checked_sub(1)?;
        Some(self.nodes[self.n])
    }
}

/// Casts a node of the writer's own transaction for writing.
///
/// # Safety
///
/// `node` is a live leaf of this tree's `V`, allocated by the caller's
/// transaction (so unreachable from the published root), and no other
/// reference to it is used while the result lives.
pub(super) unsafe fn leaf_mut<'a, V>(node: *mut Header) -> &'a mut Leaf<V> {
    // SAFETY: the contract; `Leaf<V>` is `repr(C)` with the header first.
    unsafe { &mut *node.cast::<Leaf<V>>() }
}

/// Casts a node of the writer's own transaction for writing.
///
/// # Safety
///
/// As for [`leaf_mut`], for an internal node.
pub(super) unsafe fn internal_mut<'a>(node: *mut Header) -> &'a mut Internal {
    // SAFETY: the contract; `Internal` is `repr(C)` with the header first.
    unsafe { &mut *node.cast::<Internal>() }
}

impl<V: Copy> TreeWriter<'_, V> {
    /// Header of a node of the pending tree.
    pub(super) fn header(&self, node: *mut Header) -> &Header {
        // SAFETY: callers pass nodes of the pending tree (or nodes this
        // transaction built and has not freed), which stay allocated while
        // the writer lives: its own nodes until it frees them, the others
        // until a later commit retires them.
        unsafe { &*node }
    }

    /// Whether `node` was allocated by this transaction.
    pub(super) fn is_ours(&self, node: *mut Header) -> bool {
        self.header(node).txn == self.txn
    }

    pub(super) fn new_leaf(&self) -> *mut Header {
        alloc_leaf::<V>(self.txn, self.tracked)
    }

    pub(super) fn new_internal(&self, height: u8) -> *mut Header {
        match self.tree.take_spare() {
            Some(node) => {
                // SAFETY: spare nodes are internal nodes that were never
                // published and are linked from nothing (`recycle`), so
                // this transaction owns it from here on.
                let hdr = unsafe { &mut *node };
                // INVARIANT (`Header`): a recycled node is relabelled before
                // anyone else can see it; it stays an `Internal`.
                hdr.txn = self.txn;
                hdr.height = height;
                node
            }
            None => alloc_internal(self.txn, height, self.tracked),
        }
    }

    /// Keeps `node`, an internal node of this transaction that is linked
    /// from nothing and was never published, for a later allocation.
    pub(super) fn recycle(&self, node: *mut Header) {
        debug_assert!(self.is_ours(node) && self.header(node).height > 0);
        if let Some(node) = self.tree.put_spare(node) {
            // SAFETY: ours, never published, unlinked (the contract), and
            // the spare list is full, so it is freed exactly once, here.
            unsafe { free_node::<V>(node) };
        }
    }

    /// Drops `node` (not its children) from the pending tree.
    fn discard(&mut self, node: *mut Header) {
        if self.is_ours(node) {
            // SAFETY: our own node, never published, and no longer linked
            // from the pending tree (the caller just unlinked it).
            unsafe { free_node::<V>(node) };
        } else {
            self.retired.get_mut().push(node);
        }
    }

    /// Drops `node` (not its children) from the pending tree, keeping its
    /// memory for reuse at the same height if it is ours.
    fn release(&mut self, node: *mut Header, pool: &mut Pool) {
        if self.is_ours(node) {
            pool.nodes[pool.n] = node;
            pool.n += 1;
        } else {
            self.retired.get_mut().push(node);
        }
    }

    /// Frees the pool's unused nodes.
    fn drain(&mut self, pool: &mut Pool) {
        while let Some(node) = pool.take() {
            // SAFETY: pool nodes are ours and were unlinked by `release`.
            unsafe { free_node::<V>(node) };
        }
    }

    /// Drops the subtree at `node` from the pending tree; returns how many
    /// `Some` ranges it held.
    fn drop_subtree(&mut self, node: *mut Header) -> usize {
        let hdr = self.header(node);
        let len = usize::from(hdr.len);
        let somes = if hdr.height == 0 {
            // SAFETY: a leaf of the pending tree, live (see `header`).
            let leaf = unsafe { leaf_ref::<V>(node) };
            leaf.slots[..len].iter().filter(|s| s.is_some()).count()
        } else {
            // SAFETY: an internal node of the pending tree, live.
            let int = unsafe { internal_ref(node) };
            let mut somes = 0;
            for i in 0..len {
                somes += self.drop_subtree(int.child(i));
            }
            somes
        };
        self.discard(node);
        somes
    }

    /// The path from the pending root to the range containing `addr`.
    fn path_to(&self, addr: u64) -> Path {
        let empty = Step {
            node: ptr::null_mut(),
            idx: 0,
            min: 0,
        };
        let mut node = self.root.get();
        assert!(!node.is_null(), "TreeWriter used after a panic");
        let height = usize::from(self.header(node).height);
        let mut path = Path {
            steps: [empty; MAX_LEVELS],
            height,
        };
        let mut min = 0;
        for h in (1..=height).rev() {
            // SAFETY: a node of height h > 0 of the pending tree.
            let int = unsafe { internal_ref(node) };
            let idx = slot_of(&int.pivots, addr);
            path.steps[h] = Step { node, idx, min };
            if idx > 0 {
                min = int.pivots[idx - 1] + 1;
            }
            node = int.child(idx);
        }
        // SAFETY: the node of height 0 on the path is a leaf.
        let leaf = unsafe { leaf_ref::<V>(node) };
        path.steps[0] = Step {
            node,
            idx: slot_of(&leaf.pivots, addr),
            min,
        };
        path
    }

    /// `(first, last, value)` of the range a path leads to.
    fn entry(&self, path: &Path) -> (u64, u64, Option<V>) {
        self.entry_at(path.steps[0])
    }

    /// `(first, last, value)` of the range at a leaf step.
    fn entry_at(&self, s: Step) -> (u64, u64, Option<V>) {
        // SAFETY: `s` was just computed from the pending tree.
        let leaf = unsafe { leaf_ref::<V>(s.node) };
        let first = if s.idx == 0 {
            s.min
        } else {
            leaf.pivots[s.idx - 1] + 1
        };
        (first, leaf.pivots[s.idx], leaf.slots[s.idx])
    }

    /// Overwrites `first..=last` with `value`.
    ///
    /// Ranges that `first..=last` partly overlaps keep their value outside
    /// it. Storing `None` erases; `None` neighbours are merged. Adjacent
    /// `Some` ranges are never merged, even with equal values.
    ///
    /// # Panics
    ///
    /// If `first > last`.
    #[doc(alias = "mas_store_gfp")]
    #[doc(alias = "mtree_store_range")]
    pub(crate) fn store(&mut self, first: u64, last: u64, value: Option<V>) {
        assert!(first <= last, "store of an empty range");
        self.settle();
        let erase = value.is_none();
        let mut entries = [(0, None); 3];
        let mut n = 0;

        let mut lp = self.path_to(first);
        let (lo_first, _, lo_value) = self.entry(&lp);
        if lo_first < first {
            if !(erase && lo_value.is_none()) {
                // The part of the first range below `first` keeps its value.
                entries[n] = (first - 1, lo_value);
                n += 1;
            }
        } else if erase && first > 0 {
            // Widen over a `None` range just below.
            let mut prev = lp.steps[0];
            if prev.idx > 0 {
                prev.idx -= 1;
                if self.entry_at(prev).2.is_none() {
                    lp.steps[0] = prev;
                }
            } else {
                let prev = self.path_to(first - 1);
                if self.entry(&prev).2.is_none() {
                    lp = prev;
                }
            }
        }

        // The right end: in the left end's leaf (`rp == None`, slot
        // `r.idx`) unless it lies beyond it. Paths are big; no copies.
        let mut rp = None;
        let mut r = match self.slot_in_leaf(lp.steps[0], last) {
            Some(step) => step,
            None => {
                let path = self.path_to(last);
                let step = path.steps[0];
                rp = Some(path);
                step
            }
        };
        let (_, hi_last, hi_value) = self.entry_at(r);
        let mut mid_last = last;
        let mut right = None;
        if hi_last > last {
            if erase && hi_value.is_none() {
                mid_last = hi_last;
            } else {
                right = Some((hi_last, hi_value));
            }
        } else if erase && last < u64::MAX {
            // Widen over a `None` range just above.
            let (next, path) = match self.slot_in_leaf(r, last + 1) {
                Some(step) => (step, None),
                None => {
                    let path = self.path_to(last + 1);
                    (path.steps[0], Some(path))
                }
            };
            let (_, next_last, next_value) = self.entry_at(next);
            if next_value.is_none() {
                mid_last = next_last;
                r = next;
                if path.is_some() {
                    rp = path;
                }
            }
        }
        entries[n] = (mid_last, value);
        n += 1;
        if let Some(e) = right {
            entries[n] = e;
            n += 1;
        }

        let l = lp.steps[0];
        if erase && n == 1 && l.node == r.node && l.idx == r.idx && self.entry_at(l).2.is_none() {
            // Erasing inside one `None` range: nothing changes.
            return;
        }
        if l.node == r.node && self.replace_in_leaf(&lp, r.idx, &entries[..n]) {
            return;
        }
        // `r` lies in the leaf of `rp` (or of `lp` if there is none).
        let mut rp = rp.unwrap_or(lp);
        debug_assert!(rp.steps[0].node == r.node);
        rp.steps[0] = r;
        self.replace_span(&lp, &rp, &entries[..n]);
    }

    /// The step to the range containing `addr` if it lies in the leaf of
    /// `at`.
    fn slot_in_leaf(&self, at: Step, addr: u64) -> Option<Step> {
        // SAFETY: `at` was just computed from the pending tree.
        let leaf = unsafe { leaf_ref::<V>(at.node) };
        let max = leaf.pivots[usize::from(leaf.hdr.len) - 1];
        (at.min <= addr && addr <= max).then(|| Step {
            idx: slot_of(&leaf.pivots, addr),
            ..at
        })
    }

    /// Replaces the ranges from the one `lp` leads to through the one `rp`
    /// leads to with `entries`, which cover exactly the same keys.
    fn replace_span(&mut self, lp: &Path, rp: &Path, entries: &[(u64, Option<V>)]) {
        // May change any node: publish by a new root.
        self.patch.set(None);
        let height = lp.height;
        // Until the new root is in place, `root` is null: if a bug panics
        // in the middle of the rebuild, the abort in `Drop` then leaks this
        // transaction's nodes instead of freeing half-rebuilt ones twice.
        let old_root = self.root.replace(ptr::null_mut());
        let old_count = self.header(old_root).count.get() as usize;
        let added = entries.iter().filter(|e| e.1.is_some()).count();
        let mut removed = 0;

        // Level 0: the leaves.
        let (l, r) = (lp.steps[0], rp.steps[0]);
        let mut leaves = LeafBuf::<V>::new(l.min);
        {
            // SAFETY: leaves of the pending tree; the references end
            // before this transaction writes to any node.
            let (lleaf, rleaf) = unsafe { (leaf_ref::<V>(l.node), leaf_ref::<V>(r.node)) };
            let (llen, rlen) = (usize::from(lleaf.hdr.len), usize::from(rleaf.hdr.len));
            leaves.extend(lleaf, 0..l.idx);
            for &(pivot, slot) in entries {
                leaves.push(pivot, slot);
            }
            leaves.extend(rleaf, r.idx + 1..rlen);
            let some = |s: &[Option<V>]| s.iter().filter(|s| s.is_some()).count();
            removed += if l.node == r.node {
                some(&lleaf.slots[l.idx..=r.idx])
            } else {
                some(&lleaf.slots[l.idx..llen]) + some(&rleaf.slots[..=r.idx])
            };
        }
        let mut pool = Pool::new();
        self.release(l.node, &mut pool);
        if r.node != l.node {
            self.release(r.node, &mut pool);
        }
        let mut out = IntBuf::new(l.min);
        self.build_leaves(&leaves, &mut pool, &mut out);
        self.drain(&mut pool);

        // Levels 1..=height.
        for h in 1..=height {
            let (l, r) = (lp.steps[h], rp.steps[h]);
            let mut buf = IntBuf::new(l.min);
            // SAFETY: internal nodes of the pending tree, still linked (they
            // are released below, after their last use).
            let (lnode, rnode) = unsafe { (internal_ref(l.node), internal_ref(r.node)) };
            buf.extend(lnode, 0..l.idx);
            let pos = buf.n;
            buf.append(&out);
            buf.extend(rnode, r.idx + 1..usize::from(rnode.hdr.len));
            // Everything strictly between the two paths goes.
            if l.node == r.node {
                for i in l.idx + 1..r.idx {
                    removed += self.drop_subtree(lnode.child(i));
                }
            } else {
                for i in l.idx + 1..usize::from(lnode.hdr.len) {
                    removed += self.drop_subtree(lnode.child(i));
                }
                for i in 0..r.idx {
                    removed += self.drop_subtree(rnode.child(i));
                }
            }
            if out.n == 1 && usize::from(self.header(out.children[0]).len) < MIN_FILL {
                if pos > 0 {
                    self.join_at(&mut buf, pos - 1);
                } else if buf.n > 1 {
                    self.join_at(&mut buf, pos);
                }
            }
            let mut pool = Pool::new();
            self.release(l.node, &mut pool);
            if r.node != l.node {
                self.release(r.node, &mut pool);
            }
            out = IntBuf::new(l.min);
            self.build_internals(&buf, h as u8, &mut pool, &mut out);
            self.drain(&mut pool);
        }

        // The new root.
        let mut root = if out.n == 1 {
            out.children[0]
        } else {
            let node = self.new_internal(height as u8 + 1);
            // SAFETY: just allocated by this transaction, unshared.
            let int = unsafe { internal_mut(node) };
            int.fill(
                &out.pivots[..out.n],
                &out.gaps[..out.n],
                &out.children[..out.n],
            );
            node
        };
        while self.header(root).height > 0 && self.header(root).len == 1 {
            // SAFETY: an internal node of the pending tree.
            let child = unsafe { internal_ref(root) }.child(0);
            self.discard(root);
            root = child;
        }
        // Every node a rebuild outputs is ours, and the root is one of them
        // or a collapsed chain of them.
        assert!(self.is_ours(root));
        // SAFETY: `root` is ours (checked), so unpublished and unshared.
        unsafe { (*root).count.set((old_count - removed + added) as u64) };
        self.root.set(root);
    }

    /// Builds leaves from `buf` into `out`, reusing `pool`'s nodes first.
    fn build_leaves(&mut self, buf: &LeafBuf<V>, pool: &mut Pool, out: &mut IntBuf) {
        let n = buf.n;
        let k = nodes_for(n);
        let (base, extra) = (n / k, n % k);
        let (mut start, mut min) = (0, buf.min);
        for j in 0..k {
            let end = start + base + usize::from(j < extra);
            let node = pool.take().unwrap_or_else(|| self.new_leaf());
            // SAFETY: a leaf of this transaction (reused from the pool or
            // just allocated), unlinked, and not referenced elsewhere.
            let leaf = unsafe { leaf_mut::<V>(node) };
            leaf.fill(&buf.pivots[start..end], &buf.slots[start..end]);
            let last = buf.pivots[end - 1];
            out.push(last, leaf.max_gap(min), node);
            min = last.wrapping_add(1);
            start = end;
        }
    }

    /// Builds internal nodes of `height` from `buf` into `out`, reusing
    /// `pool`'s nodes first.
    fn build_internals(&mut self, buf: &IntBuf, height: u8, pool: &mut Pool, out: &mut IntBuf) {
        let n = buf.n;
        let k = nodes_for(n);
        let (base, extra) = (n / k, n % k);
        let mut start = 0;
        for j in 0..k {
            let end = start + base + usize::from(j < extra);
            let node = pool.take().unwrap_or_else(|| self.new_internal(height));
            // SAFETY: an internal node of this transaction, of `height`
            // (pool nodes come from the level being rebuilt), unlinked, and
            // not referenced elsewhere.
            let int = unsafe { internal_mut(node) };
            int.fill(
                &buf.pivots[start..end],
                &buf.gaps[start..end],
                &buf.children[start..end],
            );
            out.push(buf.pivots[end - 1], int.max_gap(), node);
            start = end;
        }
    }

    /// Joins the adjacent children `j` and `j + 1` of `buf`, one of which
    /// holds fewer than `MIN_FILL` slots, into one or two valid nodes.
    ///
    /// The other one is a valid node (at least `MIN_FILL` slots down its
    /// whole edge), so the result has enough slots; if the junction one
    /// level down is underfull too, it is joined first.
    fn join_at(&mut self, buf: &mut IntBuf, j: usize) {
        let (x, y) = (buf.children[j], buf.children[j + 1]);
        let min = buf.child_min(j);
        let height = self.header(x).height;
        let mut pool = Pool::new();
        let mut out = IntBuf::new(min);
        if height == 0 {
            let mut leaves = LeafBuf::<V>::new(min);
            {
                // SAFETY: leaves of the pending tree, read before they are
                // released.
                let (xl, yl) = unsafe { (leaf_ref::<V>(x), leaf_ref::<V>(y)) };
                leaves.extend(xl, 0..usize::from(xl.hdr.len));
                leaves.extend(yl, 0..usize::from(yl.hdr.len));
            }
            self.release(x, &mut pool);
            self.release(y, &mut pool);
            self.build_leaves(&leaves, &mut pool, &mut out);
        } else {
            let mut inner = IntBuf::new(min);
            let junction;
            {
                // SAFETY: internal nodes of the pending tree, read before
                // they are released.
                let (xi, yi) = unsafe { (internal_ref(x), internal_ref(y)) };
                inner.extend(xi, 0..usize::from(xi.hdr.len));
                junction = inner.n - 1;
                inner.extend(yi, 0..usize::from(yi.hdr.len));
            }
            let short = |w: &Self, c: *mut Header| usize::from(w.header(c).len) < MIN_FILL;
            if short(self, inner.children[junction]) || short(self, inner.children[junction + 1]) {
                self.join_at(&mut inner, junction);
            }
            self.release(x, &mut pool);
            self.release(y, &mut pool);
            self.build_internals(&inner, height, &mut pool, &mut out);
        }
        self.drain(&mut pool);
        buf.replace_pair(j, &out);
    }

    /// Frees every node of this transaction still in the pending tree
    /// (abort).
    pub(super) fn free_own_nodes(&mut self, node: *mut Header) {
        if !self.is_ours(node) {
            // Published nodes, and their subtrees, are not ours to free.
            return;
        }
        if self.header(node).height > 0 {
            // SAFETY: an internal node of the pending tree.
            let int = unsafe { internal_ref(node) };
            for i in 0..usize::from(int.hdr.len) {
                self.free_own_nodes(int.child(i));
            }
        }
        // SAFETY: ours, never published, and the pending tree that linked
        // it is being thrown away.
        unsafe { free_node::<V>(node) };
    }
}
