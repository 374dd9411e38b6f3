//! A lock-free radix tree of words, grown on demand and shrunk only when
//! dropped: the shape of both the page table and a file's page cache.
//!
//! Linux: the page-table levels (`pgd`/`p4d`/`pud`/`pmd`/`pte`, 512 entries
//! each on x86-64) and, for the page cache, the XArray.
//!
//! # Invariants
//!
//! - An interior slot goes from null to a child node once (by CAS) and then
//!   never changes until the tree is dropped, so a `&Leaf` obtained from
//!   `&self` stays valid for as long as `&self` does. (Linux frees empty
//!   page tables in `free_pgtables` under `mmap_lock` for write; pervma
//!   keeps them, trading memory for a simpler reader.)
//! - Leaf words belong to the owner (the page table or page cache), which
//!   gives them meaning, must empty them before the tree is dropped, and
//!   orders their publication itself.

use crate::sync::prim::{AtomicPtr, Ordering};
use alloc::boxed::Box;
use core::ptr;

/// Index bits per level: 512 entries as on x86-64; 4 under loom, where
/// every slot is a modelled atomic.
const SHIFT: u32 = if cfg!(loom) { 2 } else { 9 };
const FANOUT: usize = 1 << SHIFT;

/// A leaf entry: a word whose meaning the owner defines (0 is empty).
pub(crate) type Leaf = AtomicPtr<()>;

/// One level of the tree: child nodes (interior) or leaf words (bottom).
struct Node {
    slots: [AtomicPtr<()>; FANOUT],
}

impl Node {
    fn new() -> Box<Node> {
        Box::new(Node {
            slots: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        })
    }
}

/// The tree: `levels` levels of `FANOUT` slots below a fixed root.
pub(crate) struct Radix {
    root: Box<Node>,
    levels: u32,
}

impl Radix {
    /// A tree for indexes below `2^index_bits` (at most 2^54: six levels,
    /// enough for the page indexes of any 64-bit file offset).
    pub(crate) fn new(index_bits: u32) -> Self {
        Radix {
            root: Node::new(),
            levels: index_bits.min(54).div_ceil(SHIFT).max(1),
        }
    }

    /// Whether `index` fits in the tree.
    fn in_range(&self, index: u64) -> bool {
        // At most 54 bits (`new`), so the shift is in range.
        index >> (self.levels * SHIFT) == 0
    }

    /// The slot of `index` at the node of level `level` (0 = bottom).
    fn slot_index(index: u64, level: u32) -> usize {
        ((index >> (level * SHIFT)) as usize) & (FANOUT - 1)
    }

    /// The leaf word for `index`, if the nodes above it exist.
    pub(crate) fn leaf(&self, index: u64) -> Option<&Leaf> {
        if !self.in_range(index) {
            return None;
        }
        let mut node: &Node = &self.root;
        for level in (1..self.levels).rev() {
            // Acquire: pairs with the Release of the CAS that published the
            // child, so its (null) slots are initialised before we read them.
            let child = node.slots[Self::slot_index(index, level)].load(Ordering::Acquire);
            if child.is_null() {
                return None;
            }
            // SAFETY: a non-null interior slot points to a live `Node` that
            // is freed only when the tree is dropped (module invariants),
            // and `&self` keeps the tree alive.
            node = unsafe { &*child.cast::<Node>() };
        }
        Some(&node.slots[Self::slot_index(index, 0)])
    }

    /// The leaf word for `index`, creating the nodes above it; `None` only
    /// if `index` does not fit.
    pub(crate) fn leaf_or_alloc(&self, index: u64) -> Option<&Leaf> {
        if !self.in_range(index) {
            return None;
        }
        let mut node: &Node = &self.root;
        for level in (1..self.levels).rev() {
            let slot = &node.slots[Self::slot_index(index, level)];
            let mut child = slot.load(Ordering::Acquire);
            if child.is_null() {
                let new = Box::into_raw(Node::new()).cast::<()>();
                // Release publishes the new node's initialised slots;
                // Acquire on failure reads the winner's.
                match slot.compare_exchange(
                    ptr::null_mut(),
                    new,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => child = new,
                    Err(winner) => {
                        // SAFETY: `new` came from `Box::into_raw` above and
                        // was never published.
                        drop(unsafe { Box::from_raw(new.cast::<Node>()) });
                        child = winner;
                    }
                }
            }
            // SAFETY: as in `leaf`.
            node = unsafe { &*child.cast::<Node>() };
        }
        Some(&node.slots[Self::slot_index(index, 0)])
    }

    /// Calls `f(index, leaf)` for every non-empty leaf word with an index
    /// in `first..=last`, in index order, skipping absent subtrees.
    pub(crate) fn for_each(&self, first: u64, last: u64, mut f: impl FnMut(u64, &Leaf)) {
        if first <= last {
            Self::walk(&self.root, self.levels - 1, 0, first, last, &mut f);
        }
    }

    fn walk(
        node: &Node,
        level: u32,
        base: u64,
        first: u64,
        last: u64,
        f: &mut impl FnMut(u64, &Leaf),
    ) {
        let span_bits = level * SHIFT;
        // The first slot that reaches `first`: no need to look at the ones
        // below it (a walk near the top of the space would compare all).
        let skip = (first.saturating_sub(base) >> span_bits) as usize;
        for (i, slot) in node.slots.iter().enumerate().skip(skip) {
            let lo = base + ((i as u64) << span_bits);
            let hi = lo + ((1u64 << span_bits) - 1);
            if hi < first {
                continue;
            }
            if lo > last {
                break;
            }
            let word = slot.load(Ordering::Acquire);
            if word.is_null() {
                continue;
            }
            if level == 0 {
                f(lo, slot);
            } else {
                // SAFETY: as in `leaf`.
                let child = unsafe { &*word.cast::<Node>() };
                Self::walk(child, level - 1, lo, first, last, f);
            }
        }
    }
}

impl Drop for Radix {
    fn drop(&mut self) {
        fn free(node: &Node, level: u32) {
            if level == 0 {
                return;
            }
            for slot in &node.slots {
                let child = slot.load(Ordering::Relaxed);
                if !child.is_null() {
                    // SAFETY: `&mut` on the tree: no reader; each child was
                    // made by `Box::into_raw` in `leaf_or_alloc` and is
                    // linked once.
                    let child = unsafe { Box::from_raw(child.cast::<Node>()) };
                    free(&child, level - 1);
                }
            }
        }
        free(&self.root, self.levels - 1);
    }
}
