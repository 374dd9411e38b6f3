//! Committing by patching one leaf pointer of the published tree in place.
//!
//! Linux: `mas_wr_node_store` and `mas_replace_node` in lib/maple_tree.c,
//! which in RCU mode copy the one node they change and store the copy's
//! pointer into its parent's slot.
//!
//! A typical operation changes a few ranges inside one leaf. The writer's
//! pending version then differs from the published one in that leaf and
//! in the copies of its ancestors (path copying), and the copies differ
//! from their originals only in the one child pointer on the path (and
//! the cached gap beside it, and the root's count). Publishing the new
//! root would retire the whole path; instead the store records the path
//! as a [`LeafPatch`] (`TreeWriter::replace_in_leaf`) while every change of
//! the transaction stays in that leaf, and [`TreeWriter::commit`] stores the new leaf's pointer into the published parent
//! with one `Release` store ([`Word::publish`]), updates the gaps and the
//! count beside it, and recycles the ancestors' copies, which no reader
//! ever saw. Only the old leaf is retired.
//!
//! A transaction's first change goes further: `replace_in_leaf` builds the
//! new leaf and records the path as a [`DeferredLeaf`] without copying the
//! ancestors at all; only if the transaction then reads the pending tree
//! or stores again does [`TreeWriter::settle`] copy them (as above). A
//! one-store transaction (`mmap` of a new VMA, `munmap` of a whole one)
//! thus allocates one leaf and publishes it.
//!
//! # What readers see
//!
//! A reader loads each child pointer once, with `Acquire`, so it reaches
//! either the old leaf or the new one, each complete; both cover exactly
//! the same keys, so the parent's pivots stay right. Every change of a
//! commit lies in that one leaf, so a reader sees all of a commit's
//! changes or none, even one that iterates over many leaves (it visits
//! each leaf once). What a reader that makes several descents may see is
//! one commit's leaf and not an earlier commit's in another leaf, as with
//! Linux's maple tree: successive lookups are not one snapshot of the
//! whole tree (`mm`'s speculative readers re-check with `mm_lock_seq`).
//! Cached gaps and the root's count are updated with `Relaxed` stores
//! beside the pointer: exact for the writer, which alone searches gaps
//! (under `mmap_lock`), and hints for readers.

use super::node::{free_node, Header, Word, FANOUT, MIN_FILL};
use super::read::{internal_ref, leaf_ref};
use super::write::{internal_mut, leaf_mut, Path};
use super::TreeWriter;
use alloc::vec::Vec;
use core::ptr;

/// The highest tree a leaf patch is recorded for: a tree of height 7
/// holds at least `2 * 8^7` (4 million) ranges, far above Linux's default
/// `max_map_count` (65,530 VMAs, at most height 5); higher trees commit by
/// a new root. Keeps a `TreeWriter`, which operations move around, small.
pub(super) const PATCH_LEVELS: usize = 6;

/// One level of a [`LeafPatch`]: the writer's copy `ours` stands for the
/// published internal node `published` in the pending version; both have
/// the same height, length and pivots, and the same children except at
/// `idx`.
#[derive(Clone, Copy)]
struct Pair {
    ours: *mut Header,
    published: *mut Header,
    idx: usize,
}

/// How to publish a pending version by one in-place store: `pairs[h - 1]`
/// is the pair of height `h`, from the leaf's parent (height 1) up to the
/// root; the parent's child `idx` becomes the pending leaf.
///
/// # Invariants
///
/// While a `TreeWriter` holds one, its pending version is the published
/// one with the leaf below `pairs[0]` replaced by one of this transaction,
/// and each `published` node replaced by its `ours`.
pub(super) struct LeafPatch {
    pairs: [Pair; PATCH_LEVELS],
    n: usize,
}

impl LeafPatch {
    pub(super) fn new() -> Self {
        let empty = Pair {
            ours: ptr::null_mut(),
            published: ptr::null_mut(),
            idx: 0,
        };
        LeafPatch {
            pairs: [empty; PATCH_LEVELS],
            n: 0,
        }
    }

    /// Records the next level up: `ours`, a copy of `published` whose
    /// child `idx` is the copy recorded before (or the new leaf).
    pub(super) fn push(&mut self, ours: *mut Header, published: *mut Header, idx: usize) {
        self.pairs[self.n] = Pair {
            ours,
            published,
            idx,
        };
        self.n += 1;
    }
}

impl<V: Copy> TreeWriter<'_, V> {
    /// Publishes the pending version by `patch` (the type invariant says
    /// this is the whole difference). The published nodes of the patch
    /// stay, so they leave `retired`; this transaction's copies of them
    /// were never published and go to the spare list.
    pub(super) fn apply_leaf_patch(&mut self, patch: &LeafPatch, retired: &mut Vec<*mut Header>) {
        let pairs = &patch.pairs[..patch.n];
        let root = pairs[patch.n - 1];
        let count = self.header(root.ours).count.get();
        // The statistics first (Relaxed; see the module docs): the root's
        // count and the cached gaps on the path.
        self.header(root.published).count.update(count);
        for p in pairs {
            // SAFETY: internal nodes of the two versions (type invariant),
            // live while the writer is.
            let (a, b) = unsafe { (internal_ref(p.ours), internal_ref(p.published)) };
            debug_assert!(a.pivots == b.pivots && a.hdr.len == b.hdr.len);
            if a.gap(p.idx) != b.gap(p.idx) {
                b.gaps[p.idx].update(a.gap(p.idx));
            }
        }
        let parent = pairs[0];
        // SAFETY: as above.
        let (a, b) = unsafe { (internal_ref(parent.ours), internal_ref(parent.published)) };
        let slot: &Word<_> = &b.children[parent.idx];
        // INVARIANT (published nodes): the one field of a published node
        // that a commit changes beside counts and gaps; the new leaf covers
        // the same keys as the old one, which the caller retires after
        // this store.
        slot.publish(a.child(parent.idx));
        retired.retain(|node| !pairs.iter().any(|p| p.published == *node));
        for p in pairs {
            self.recycle(p.ours);
        }
    }
}

/// A transaction's first change while it lies in one leaf, not yet
/// applied to the pending tree: the new leaf is built, but its ancestors
/// are not copied. If the transaction commits before anything reads the
/// pending tree or stores again (one `mmap`, one `munmap`: the common
/// case), the commit publishes the leaf into the published parent
/// directly and nothing else is copied at all; otherwise
/// [`TreeWriter::settle`] copies the path then, as a store would have.
///
/// # Invariants
///
/// - `leaf` is a leaf of this transaction covering exactly the keys of
///   `parents[0]`'s child `parents[0].1`, which is in `retired`.
/// - `parents[h - 1]` is the published node of height `h` on the path
///   from the published root (`parents[height - 1]`) to that child, with
///   the index of the path's child; `gap` is the new leaf's longest `None`
///   range, and `count` the new number of `Some` ranges.
pub(super) struct DeferredLeaf {
    leaf: *mut Header,
    parents: [(*mut Header, usize); PATCH_LEVELS],
    height: usize,
    gap: u64,
    count: u64,
}

impl<V: Copy> TreeWriter<'_, V> {
    /// Records a deferred change (see [`DeferredLeaf`]): `leaf`, whose
    /// longest `None` range is `gap`, replaces the leaf that `path`
    /// (`(node, idx)` of heights `1..`, all published) leads to.
    pub(super) fn defer_leaf(
        &self,
        leaf: *mut Header,
        path: impl Iterator<Item = (*mut Header, usize)>,
        gap: u64,
        count: u64,
    ) {
        let mut d = DeferredLeaf {
            leaf,
            parents: [(ptr::null_mut(), 0); PATCH_LEVELS],
            height: 0,
            gap,
            count,
        };
        for step in path {
            d.parents[d.height] = step;
            d.height += 1;
        }
        debug_assert!(d.height >= 1);
        // INVARIANT (`DeferredLeaf`): the caller built `leaf` for this path
        // and put the old leaf in `retired`.
        self.deferred.set(Some(d));
    }

    /// Applies a deferred change to the pending tree: copies the path, as
    /// `replace_in_leaf` does, and records the leaf patch.
    pub(super) fn settle(&self) {
        let Some(d) = self.deferred.take() else {
            return;
        };
        let mut patch = LeafPatch::new();
        let (mut child, mut gap) = (d.leaf, d.gap);
        for h in 1..=d.height {
            let (node, idx) = d.parents[h - 1];
            let copy = self.new_internal(h as u8);
            // SAFETY: `copy` is ours and unshared; `node` is a published
            // internal node, only read.
            let int = unsafe { internal_mut(copy) };
            // SAFETY: as just said.
            int.copy_from(unsafe { internal_ref(node) });
            int.children[idx].set(child);
            int.gaps[idx].set(gap);
            gap = int.max_gap();
            self.retired.borrow_mut().push(node);
            patch.push(copy, node, idx);
            child = copy;
        }
        // SAFETY: `child` is the copy of the root: ours, unshared.
        unsafe { (*child).count.set(d.count) };
        self.root.set(child);
        // INVARIANT (`LeafPatch`): the path copied level by level above.
        self.patch.set(Some(patch));
    }

    /// Commits a deferred change: the leaf patch without copies.
    pub(super) fn publish_deferred(&self, d: &DeferredLeaf) {
        let (root, _) = d.parents[d.height - 1];
        self.header(root).count.update(d.count);
        // The cached gaps on the path, bottom-up, each from the one below;
        // once one stays the same, so do those above it.
        let mut gap = d.gap;
        for &(node, idx) in &d.parents[..d.height] {
            // SAFETY: a published internal node (type invariant).
            let int = unsafe { internal_ref(node) };
            if int.gap(idx) == gap {
                break;
            }
            int.gaps[idx].update(gap);
            gap = int.max_gap();
        }
        let (parent, idx) = d.parents[0];
        // SAFETY: as above.
        let slot: &Word<_> = unsafe { &internal_ref(parent).children[idx] };
        // INVARIANT (published nodes): as in `apply_leaf_patch`.
        slot.publish(d.leaf);
    }

    /// Frees the leaf of a deferred change that is not committed.
    pub(super) fn free_deferred(&self, d: DeferredLeaf) {
        debug_assert!(self.is_ours(d.leaf));
        // SAFETY: ours, never published, and linked from nothing (the
        // pending tree does not reach it until `settle`).
        unsafe { free_node::<V>(d.leaf) };
    }
}

impl<V: Copy> TreeWriter<'_, V> {
    /// `replace_span` in the common case: the span
    /// ends at slot `r_idx` of the leaf where `lp` ends, whose new contents still make a valid leaf
    /// (no split, no join). The leaf is rewritten (if this transaction
    /// built it) or copied, and so is each ancestor, with the child
    /// pointer and cached gap on the path updated; nothing else is
    /// visited. Returns `false`, having changed nothing, otherwise.
    pub(super) fn replace_in_leaf(
        &mut self,
        lp: &Path,
        r_idx: usize,
        entries: &[(u64, Option<V>)],
    ) -> bool {
        let l = lp.steps[0];
        let mut pivots = [u64::MAX; FANOUT];
        let mut slots = [None; FANOUT];
        let (n, removed) = {
            // SAFETY: a leaf of the pending tree; the reference ends before
            // this transaction writes to any node.
            let leaf = unsafe { leaf_ref::<V>(l.node) };
            let len = usize::from(leaf.hdr.len);
            let tail = l.idx + entries.len();
            let n = tail + (len - r_idx - 1);
            let min_len = if lp.height == 0 { 1 } else { MIN_FILL };
            if n > FANOUT || n < min_len {
                return false;
            }
            pivots[..l.idx].copy_from_slice(&leaf.pivots[..l.idx]);
            slots[..l.idx].copy_from_slice(&leaf.slots[..l.idx]);
            for (k, &(pivot, slot)) in entries.iter().enumerate() {
                pivots[l.idx + k] = pivot;
                slots[l.idx + k] = slot;
            }
            pivots[tail..n].copy_from_slice(&leaf.pivots[r_idx + 1..len]);
            slots[tail..n].copy_from_slice(&leaf.slots[r_idx + 1..len]);
            let removed = leaf.slots[l.idx..=r_idx]
                .iter()
                .filter(|s| s.is_some())
                .count();
            (n, removed)
        };
        let added = entries.iter().filter(|e| e.1.is_some()).count();
        let count = self.header(self.root.get()).count.get() as usize - removed + added;
        // The first change of the transaction can be published by a leaf
        // patch; later ones keep it possible only if they copy nothing
        // (they stay in the same leaf).
        let fresh = self.root.get() == self.published;
        if fresh && (1..=PATCH_LEVELS).contains(&lp.height) {
            // The transaction's first change: build the leaf, defer the
            // path (`DeferredLeaf`).
            let leaf = self.new_leaf();
            // SAFETY: just allocated by this transaction, unshared.
            let new = unsafe { leaf_mut::<V>(leaf) };
            new.fill(&pivots[..n], &slots[..n]);
            let gap = new.max_gap(l.min);
            self.retired.get_mut().push(l.node);
            let path = lp.steps[1..=lp.height].iter().map(|s| (s.node, s.idx));
            self.defer_leaf(leaf, path, gap, count as u64);
            return true;
        }
        let mut patch = (fresh && (1..=PATCH_LEVELS).contains(&lp.height)).then(LeafPatch::new);
        let mut copied = false;
        let mut child = if self.is_ours(l.node) {
            l.node
        } else {
            copied = true;
            self.retired.get_mut().push(l.node);
            self.new_leaf()
        };
        // SAFETY: a leaf of this transaction (rewritten or just allocated),
        // referenced from nowhere else while this lives.
        let leaf = unsafe { leaf_mut::<V>(child) };
        leaf.fill(&pivots[..n], &slots[..n]);
        let mut gap = leaf.max_gap(l.min);
        for h in 1..=lp.height {
            let s = lp.steps[h];
            let node = if self.is_ours(s.node) {
                s.node
            } else {
                let copy = self.new_internal(h as u8);
                // SAFETY: `copy` is ours and unshared; `s.node` is a
                // published internal node of the pending tree, only read.
                unsafe { internal_mut(copy).copy_from(internal_ref(s.node)) };
                self.retired.get_mut().push(s.node);
                copied = true;
                if let Some(patch) = &mut patch {
                    patch.push(copy, s.node, s.idx);
                }
                copy
            };
            // SAFETY: an internal node of this transaction, unshared.
            let int = unsafe { internal_mut(node) };
            int.children[s.idx].set(child);
            int.gaps[s.idx].set(gap);
            gap = int.max_gap();
            child = node;
        }
        // `child` is now the root: ours (rewritten or copied above).
        // SAFETY: ours, so unpublished and unshared.
        unsafe { (*child).count.set(count as u64) };
        self.root.set(child);
        if patch.is_some() {
            // INVARIANT (`LeafPatch`): the first change, and it copied the
            // whole path, recorded level by level.
            self.patch.set(patch);
        } else if copied {
            self.patch.set(None);
        }
        true
    }
}
