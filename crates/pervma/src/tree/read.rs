//! Lookups on one version of the tree: [`Snapshot`] and [`Iter`].
//!
//! Linux: `mas_walk`, `mas_find`, `mas_prev` and `mas_for_each` in
//! lib/maple_tree.c.
//!
//! Every lookup descends from one root pointer, read once, so a caller
//! that makes several calls on one [`Snapshot`] (or iterates) sees one
//! consistent version of the tree.

use core::marker::PhantomData;

use super::node::{slot_of, Header, Internal, Leaf};

/// One version of the tree, for lookups.
///
/// Readers get one from [`MapleTree::snapshot`](super::MapleTree::snapshot)
/// (inside an RCU read section), the writer from
/// [`TreeWriter::snapshot`](super::TreeWriter::snapshot) (its pending
/// version). Each `MapleTree`/`TreeWriter` lookup method takes a fresh
/// snapshot and calls the method of the same name here.
///
/// # Invariants
///
/// `root` and every node reachable from it stay allocated and unmodified
/// for `'a`.
pub(crate) struct Snapshot<'a, V> {
    pub(super) root: *const Header,
    _marker: PhantomData<(&'a Header, V)>,
}

impl<V> Clone for Snapshot<'_, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for Snapshot<'_, V> {}

/// A position in a leaf: the range at `idx` of `leaf`, whose bounds are
/// `min..=max`.
pub(super) struct LeafPos<'a, V> {
    pub(super) leaf: &'a Leaf<V>,
    pub(super) idx: usize,
    pub(super) min: u64,
    pub(super) max: u64,
}

impl<V: Copy> LeafPos<'_, V> {
    /// First key of the range at `idx`.
    #[inline]
    pub(super) fn first(&self) -> u64 {
        if self.idx == 0 {
            self.min
        } else {
            self.leaf.pivots[self.idx - 1] + 1
        }
    }

    /// Last key of the range at `idx`.
    #[inline]
    pub(super) fn last(&self) -> u64 {
        self.leaf.pivots[self.idx]
    }

    /// Value of the range at `idx`.
    #[inline]
    pub(super) fn value(&self) -> Option<V> {
        self.leaf.slots[self.idx]
    }
}

/// Casts a node pointer known to be a leaf.
///
/// # Safety
///
/// `node` is a live leaf allocated with the same `V` that stays allocated
/// and unmodified for `'a`.
#[inline(always)]
pub(super) unsafe fn leaf_ref<'a, V>(node: *const Header) -> &'a Leaf<V> {
    // SAFETY: the contract; `Leaf<V>` is `repr(C)` with the header first,
    // so the cast recovers the allocation's real type.
    unsafe { &*node.cast::<Leaf<V>>() }
}

/// Casts a node pointer known to be an internal node.
///
/// # Safety
///
/// `node` is a live internal node that stays allocated and unmodified for
/// `'a`.
#[inline(always)]
pub(super) unsafe fn internal_ref<'a>(node: *const Header) -> &'a Internal {
    // SAFETY: the contract; `Internal` is `repr(C)` with the header first.
    unsafe { &*node.cast::<Internal>() }
}

impl<'a, V: Copy> Snapshot<'a, V> {
    /// Wraps a root.
    ///
    /// # Safety
    ///
    /// `root` is the root of a valid tree whose nodes stay allocated and
    /// unmodified for `'a` (the type's invariant).
    #[inline]
    pub(super) unsafe fn new(root: *const Header) -> Self {
        // INVARIANT: the caller's contract.
        Snapshot {
            root,
            _marker: PhantomData,
        }
    }

    /// Header of the root.
    #[inline]
    fn root_header(&self) -> &'a Header {
        // SAFETY: the root stays allocated and unmodified for 'a (type
        // invariant).
        let hdr = unsafe { &*self.root };
        hdr.check_published();
        hdr
    }

    /// Descends to the range containing `addr`.
    #[inline]
    pub(super) fn descend(&self, addr: u64) -> LeafPos<'a, V> {
        let mut node = self.root;
        let (mut min, mut max) = (0, u64::MAX);
        loop {
            // SAFETY: `node` is the root or a child of a node of this
            // version, so it is live and unmodified for 'a (type invariant).
            let hdr = unsafe { &*node };
            hdr.check_published();
            if hdr.height == 0 {
                // SAFETY: height 0 means a leaf of this tree's `V`; live for
                // 'a as above.
                let leaf = unsafe { leaf_ref::<V>(node) };
                let idx = slot_of(&leaf.pivots, addr);
                return LeafPos {
                    leaf,
                    idx,
                    min,
                    max,
                };
            }
            // SAFETY: height > 0 means an internal node; live as above.
            let int = unsafe { internal_ref(node) };
            let i = slot_of(&int.pivots, addr);
            if i > 0 {
                min = int.pivots[i - 1] + 1;
            }
            max = int.pivots[i];
            node = int.children[i].load();
        }
    }

    /// The `Some` range containing `addr`, as `(first, last, value)`.
    #[doc(alias = "mas_walk")]
    #[doc(alias = "mtree_load")]
    #[inline]
    pub(crate) fn walk(&self, addr: u64) -> Option<(u64, u64, V)> {
        let pos = self.descend(addr);
        pos.value().map(|v| (pos.first(), pos.last(), v))
    }

    /// The first `Some` range with `last >= addr`: the one containing
    /// `addr`, or else the next one above (`find_vma`).
    #[doc(alias = "mas_find")]
    #[doc(alias = "find_vma")]
    pub(crate) fn find(&self, addr: u64) -> Option<(u64, u64, V)> {
        self.iter_from(addr).next()
    }

    /// The last `Some` range with `last < addr`: the one entirely below
    /// `addr` (`None` if `addr == 0`).
    #[doc(alias = "mas_prev")]
    #[doc(alias = "find_vma_prev")]
    pub(crate) fn prev(&self, addr: u64) -> Option<(u64, u64, V)> {
        if addr == 0 {
            return None;
        }
        let mut pos = self.descend(addr - 1);
        // The range containing `addr - 1` counts only if it ends there.
        let mut idx = if pos.last() == addr - 1 {
            Some(pos.idx)
        } else {
            pos.idx.checked_sub(1)
        };
        loop {
            match idx {
                Some(i) => {
                    pos.idx = i;
                    if let Some(v) = pos.value() {
                        return Some((pos.first(), pos.last(), v));
                    }
                    idx = i.checked_sub(1);
                }
                None => {
                    // Continue in the previous leaf: its last range ends
                    // at this leaf's minimum - 1. `None` ranges are
                    // coalesced, so this happens at most twice.
                    if pos.min == 0 {
                        return None;
                    }
                    pos = self.descend(pos.min - 1);
                    idx = Some(pos.idx);
                }
            }
        }
    }

    /// The `Some` ranges with `last >= addr`, ascending.
    #[doc(alias = "mas_for_each")]
    pub(crate) fn iter_from(&self, addr: u64) -> Iter<'a, V> {
        let pos = self.descend(addr);
        Iter {
            snap: *self,
            first: pos.first(),
            leaf: pos.leaf,
            idx: pos.idx,
            max: pos.max,
            done: false,
        }
    }

    /// The number of `Some` ranges (`map_count`), O(1).
    pub(crate) fn len(&self) -> usize {
        self.root_header().count()
    }
}

/// The `Some` ranges of one [`Snapshot`] from some address on, ascending,
/// as `(first, last, value)`.
pub(crate) struct Iter<'a, V> {
    snap: Snapshot<'a, V>,
    leaf: &'a Leaf<V>,
    /// Next slot of `leaf` to look at.
    idx: usize,
    /// First key of the range at `idx`.
    first: u64,
    /// The leaf's maximum.
    max: u64,
    done: bool,
}

impl<V: Copy> Iterator for Iter<'_, V> {
    type Item = (u64, u64, V);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let len = usize::from(self.leaf.hdr.len);
            while self.idx < len {
                let (first, last) = (self.first, self.leaf.pivots[self.idx]);
                let value = self.leaf.slots[self.idx];
                self.idx += 1;
                self.first = last.wrapping_add(1);
                if let Some(v) = value {
                    return Some((first, last, v));
                }
            }
            if self.max == u64::MAX {
                self.done = true;
            } else {
                // Re-descend from the same root to the next leaf: O(height)
                // once per leaf, and no per-level cursor to keep.
                let pos = self.snap.descend(self.max + 1);
                debug_assert_eq!(pos.idx, 0);
                self.leaf = pos.leaf;
                self.idx = pos.idx;
                self.first = pos.first();
                self.max = pos.max;
            }
        }
        None
    }
}

impl<V: Copy> core::iter::FusedIterator for Iter<'_, V> {}
