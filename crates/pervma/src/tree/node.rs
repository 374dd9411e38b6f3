//! Node layout: the header every node starts with, leaves, internal nodes,
//! and how they are allocated and freed.
//!
//! Linux: `struct maple_node`, `struct maple_range_64` and
//! `struct maple_arange_64` in include/linux/maple_tree.h. pervma keeps
//! one leaf format and one internal format, both with [`FANOUT`] slots.
//!
//! # Layout
//!
//! Both node kinds are `#[repr(C)]` and start with a [`Header`], so a
//! `*mut Header` can point at either; `Header::height` says which (0: a
//! [`Leaf`], otherwise an [`Internal`] node whose children have height
//! `height - 1`). Slot `i` of a node covers the keys
//! `pivots[i - 1] + 1 ..= pivots[i]` (for `i == 0`, from the node's minimum,
//! which only the parent knows). Unused pivots hold `u64::MAX`, unused
//! leaf slots `None`, unused children null and unused gaps 0, so a search
//! can compare all [`FANOUT`] pivots without looking at `len`.
//!
//! | node       | header | pivots  | payload                          | total (64-bit, `V` = 8 bytes) |
//! |------------|--------|---------|----------------------------------|-------------------------------|
//! | `Leaf`     | 24     | 16 x 8  | 16 x `Option<V>`                 | 280                           |
//! | `Internal` | 24     | 16 x 8  | 16 x 8 gaps + 16 x 8 child ptrs  | 408                           |

use alloc::boxed::Box;
use core::ptr;

use crate::sync::prim::{AtomicPtr, AtomicU64, Ordering};
use crate::sync::rcu::RetireBatch;

/// Slots per node, leaves and internal nodes alike.
pub(super) const FANOUT: usize = 16;

/// The fewest slots a node other than the root may hold.
pub(super) const MIN_FILL: usize = FANOUT / 2;

/// More levels than any tree can have: a tree whose root has height `h`
/// holds at least `2 * MIN_FILL^h` ranges, and `2 * 8^22 > 2^64`.
pub(super) const MAX_LEVELS: usize = 24;

/// Size in bytes of a leaf holding values of type `V`.
pub(crate) const fn leaf_size<V>() -> usize {
    core::mem::size_of::<Leaf<V>>()
}

/// Size in bytes of an internal node.
pub(crate) const INTERNAL_SIZE: usize = core::mem::size_of::<Internal>();

/// The first field of every node.
///
/// # Invariants
///
/// - `height` never changes after the node is allocated; `txn` only when
///   an internal node that was never published is recycled for a later
///   transaction (`MapleTree::spare`).
/// - Once the node is reachable from the published root, no field of the
///   node changes again until it is freed, except the [`Word`]s that a
///   commit patches in place (`count`, an internal node's `children` and
///   `gaps`), each with one atomic store.
/// - `1 <= len <= FANOUT` in every node reachable from a root.
#[repr(C)]
pub(super) struct Header {
    /// The write transaction that allocated this node. A writer mutates a
    /// node in place only if it carries the writer's own transaction id.
    pub(super) txn: u64,
    /// Number of `Some` ranges in the whole tree. Meaningful only in the
    /// root. A commit that patches the published tree in place (see
    /// [`Word`]) updates it in the published root; readers load it once,
    /// `Relaxed` (it is a statistic, exact only under the writer's lock).
    pub(super) count: Word<AtomicU64>,
    /// 0 for leaves; children of an internal node have `height - 1`.
    pub(super) height: u8,
    /// Number of used slots.
    pub(super) len: u8,
    /// Whether the live-node counter counts this node (tests only).
    #[cfg(all(test, not(loom)))]
    tracked: bool,
    /// Loom only: created and then set to [`CANARY`] (`Relaxed`) when the
    /// node is built, and loaded by every reader visit. A reader that
    /// reached the node without a happens-before edge from its
    /// construction makes loom fail ("Causality violation", or the value
    /// check). It stands in for wrapping every node field in a
    /// loom-tracked cell, which would make every slot access a closure.
    #[cfg(loom)]
    canary: crate::sync::prim::AtomicU64,
}

/// The value of `Header::canary` once a node is built.
#[cfg(loom)]
pub(super) const CANARY: u64 = 0x6d61_706c_6500_0001;

impl Header {
    fn new(txn: u64, height: u8, tracked: bool) -> Self {
        let _ = tracked;
        #[cfg(all(test, not(loom)))]
        if tracked {
            live::LIVE.fetch_add(1, crate::sync::prim::Ordering::Relaxed);
        }
        Header {
            txn,
            count: Word::<AtomicU64>::new(0),
            height,
            len: 0,
            #[cfg(all(test, not(loom)))]
            tracked,
            #[cfg(loom)]
            canary: crate::sync::prim::AtomicU64::new(0),
        }
    }

    /// The number of `Some` ranges in the tree (root only), for readers.
    #[inline]
    pub(super) fn count(&self) -> usize {
        self.count.load_relaxed() as usize
    }

    /// Under loom: checks that this node's construction happens-before the
    /// current read. Otherwise: nothing.
    #[inline(always)]
    pub(super) fn check_published(&self) {
        #[cfg(loom)]
        assert_eq!(
            self.canary.load(crate::sync::prim::Ordering::Relaxed),
            CANARY,
            "reader reached a node whose construction it cannot see"
        );
    }

    /// Marks the node as built (loom only; see `Header::canary`).
    #[inline(always)]
    pub(super) fn mark_built(&self) {
        #[cfg(loom)]
        self.canary
            .store(CANARY, crate::sync::prim::Ordering::Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
impl Drop for Header {
    fn drop(&mut self) {
        if self.tracked {
            live::LIVE.fetch_sub(1, crate::sync::prim::Ordering::Relaxed);
        }
    }
}

/// Counts the live nodes of trees built with `MapleTree::new_tracked`.
#[cfg(all(test, not(loom)))]
pub(super) mod live {
    use crate::sync::prim::AtomicU64;

    /// Live tracked nodes (allocated, not yet freed).
    pub(in super::super) static LIVE: AtomicU64 = AtomicU64::new(0);
}

/// A word of a node that a commit may change after the node is published:
/// the root's `count`, and an internal node's `children` and `gaps`.
///
/// # Who accesses it, and how
///
/// - Building a node the transaction owns (`&mut`): [`Word::set`], a
///   plain write (nobody else can see the node yet).
/// - The writer reading (its own nodes, or published ones): [`Word::get`].
///   Only the writer ever stores to a word, and writers are serialised
///   by their lock, so the writer's reads need no ordering of their own.
/// - The commit's in-place patch: [`Word::publish`] (`Release`) for a
///   child pointer, [`Word::update`] (`Relaxed`) for a count or a gap.
/// - Readers: [`Word::load`] (`Acquire`) for a child pointer, which pairs
///   with `publish` so that a reader that loads the new child sees every
///   write that built it; `Relaxed` loads for counts and gaps, which
///   readers only use as statistics or hints.
///
/// Under `--cfg loom` the word is a loom atomic: writes through `&mut` and
/// the writer's reads use loom's unsynchronised accessors (no scheduling
/// point per word), while `publish`/`update` and the readers' loads are
/// modelled.
#[repr(transparent)]
pub(super) struct Word<A>(A);

macro_rules! word {
    ($atomic:ty, $t:ty) => {
        impl Word<$atomic> {
            fn new(v: $t) -> Self {
                Word(<$atomic>::new(v))
            }

            /// Sets the word of a node nobody else can see.
            #[inline(always)]
            pub(super) fn set(&mut self, v: $t) {
                #[cfg(not(loom))]
                {
                    *self.0.get_mut() = v;
                }
                #[cfg(loom)]
                self.0.with_mut(|w| *w = v);
            }

            /// The writer's read (see the type docs).
            #[inline(always)]
            pub(super) fn get(&self) -> $t {
                #[cfg(not(loom))]
                return self.0.load(Ordering::Relaxed);
                // SAFETY: only the writer stores to words, and the writer
                // calling this is ordered after every earlier store (its
                // own, or previous writers' through the writers' lock).
                #[cfg(loom)]
                unsafe {
                    self.0.unsync_load()
                }
            }
        }
    };
}

word!(AtomicU64, u64);
word!(AtomicPtr<Header>, *mut Header);

impl Word<AtomicU64> {
    /// A reader's load of a count or gap.
    #[inline(always)]
    pub(super) fn load_relaxed(&self) -> u64 {
        // Relaxed: a statistic or a hint (see the type docs).
        self.0.load(Ordering::Relaxed)
    }

    /// Patches a count or gap of a published node (writer only).
    #[inline]
    pub(super) fn update(&self, v: u64) {
        // Relaxed: readers use counts and gaps only as statistics and
        // hints; the next writer is ordered by the writers' lock.
        self.0.store(v, Ordering::Relaxed);
    }
}

impl Word<AtomicPtr<Header>> {
    /// A reader's load of a child pointer.
    #[inline(always)]
    pub(super) fn load(&self) -> *mut Header {
        // Acquire: pairs with the Release in `publish` (and a reader that
        // loads a child built before the node itself was published is
        // covered by the Acquire that reached this node).
        self.0.load(Ordering::Acquire)
    }

    /// Replaces a child of a published node (writer only, at commit).
    #[inline]
    pub(super) fn publish(&self, child: *mut Header) {
        // Release: every write that built `child`'s subtree happens-before
        // the reads of a reader whose Acquire `load` returns `child`.
        self.0.store(child, Ordering::Release);
    }
}

/// A leaf: up to [`FANOUT`] ranges and their values.
///
/// # Invariants
///
/// - `pivots[..len]` strictly increase and `pivots[len - 1]` is the
///   leaf's maximum (its pivot in the parent, or `u64::MAX` for the root);
///   `pivots[len..]` are `u64::MAX` and `slots[len..]` are `None`.
/// - Range `i` is `pivots[i - 1] + 1 ..= pivots[i]` (from the leaf's
///   minimum for `i == 0`) and holds `slots[i]`.
#[repr(C)]
pub(super) struct Leaf<V> {
    pub(super) hdr: Header,
    pub(super) pivots: [u64; FANOUT],
    pub(super) slots: [Option<V>; FANOUT],
}

/// An internal node: up to [`FANOUT`] children.
///
/// # Invariants
///
/// - `pivots[..len]` strictly increase, `pivots[len - 1]` is the node's
///   maximum; child `i` covers `pivots[i - 1] + 1 ..= pivots[i]` (from the
///   node's minimum for `i == 0`) and its own last pivot is `pivots[i]`.
/// - `children[..len]` are valid nodes of height `hdr.height - 1`, each
///   reachable only through this node (within one version of the tree).
/// - `gaps[i]` is the length of the longest `None` range inside child `i`
///   ([`gap_len`]; 0 if there is none).
/// - `pivots[len..]` are `u64::MAX`, `gaps[len..]` 0, `children[len..]`
///   null.
/// - `pivots`, `len` and `height` never change once the node is published;
///   `children[i]` and `gaps[i]` may, by a commit's in-place patch (see
///   [`Word`]): a child is then replaced by a subtree covering exactly the
///   same keys.
#[repr(C)]
pub(super) struct Internal {
    pub(super) hdr: Header,
    pub(super) pivots: [u64; FANOUT],
    pub(super) gaps: [Word<AtomicU64>; FANOUT],
    pub(super) children: [Word<AtomicPtr<Header>>; FANOUT],
}

/// The length of the range `first..=last`, saturated at `u64::MAX` (only
/// the full range `0..=u64::MAX` saturates). Any request of at most
/// `u64::MAX` keys compares correctly with a saturated length.
#[inline]
pub(super) fn gap_len(first: u64, last: u64) -> u64 {
    (last - first).saturating_add(1)
}

/// Index of the slot covering `addr`: the number of pivots below `addr`.
///
/// A branch-free binary search over all [`FANOUT`] pivots (each step
/// compiles to a compare and a conditional move; unused pivots are
/// `u64::MAX`, so the whole array is sorted). The caller knows `addr` is
/// within the node, so `pivots[len - 1] >= addr` and the result is
/// `< len`. Four dependent loads beat both a counting loop (which LLVM
/// vectorises badly without SSE4.2's 64-bit compares) and an early-exit
/// scan (a mispredicted branch per level on random lookups).
#[inline(always)]
pub(super) fn slot_of(pivots: &[u64; FANOUT], addr: u64) -> usize {
    const _: () = assert!(FANOUT == 16, "slot_of searches exactly 16 pivots");
    let mut base = 0;
    if pivots[7] < addr {
        base = 8;
    }
    if pivots[base + 3] < addr {
        base += 4;
    }
    if pivots[base + 1] < addr {
        base += 2;
    }
    if pivots[base] < addr {
        base += 1;
    }
    base
}

impl<V: Copy> Leaf<V> {
    /// The longest `None` range in this leaf, given its minimum.
    pub(super) fn max_gap(&self, min: u64) -> u64 {
        let mut first = min;
        let mut best = 0;
        for i in 0..usize::from(self.hdr.len) {
            let last = self.pivots[i];
            if self.slots[i].is_none() {
                best = best.max(gap_len(first, last));
            }
            first = last.wrapping_add(1);
        }
        best
    }

    /// Replaces the contents with `pivots` / `slots` (`1..=FANOUT` each).
    pub(super) fn fill(&mut self, pivots: &[u64], slots: &[Option<V>]) {
        let n = pivots.len();
        debug_assert!((1..=FANOUT).contains(&n) && slots.len() == n);
        self.hdr.len = n as u8;
        self.hdr.count.set(0);
        self.pivots[..n].copy_from_slice(pivots);
        self.pivots[n..].fill(u64::MAX);
        self.slots[..n].copy_from_slice(slots);
        self.slots[n..].fill(None);
    }
}

impl Internal {
    /// Replaces the contents (`1..=FANOUT` entries each).
    pub(super) fn fill(&mut self, pivots: &[u64], gaps: &[u64], children: &[*mut Header]) {
        let n = pivots.len();
        debug_assert!((1..=FANOUT).contains(&n) && gaps.len() == n && children.len() == n);
        self.hdr.len = n as u8;
        self.hdr.count.set(0);
        self.pivots[..n].copy_from_slice(pivots);
        self.pivots[n..].fill(u64::MAX);
        for i in 0..FANOUT {
            let (gap, child) = match i < n {
                true => (gaps[i], children[i]),
                false => (0, ptr::null_mut()),
            };
            self.gaps[i].set(gap);
            self.children[i].set(child);
        }
    }

    /// Makes `self` a copy of `from` (apart from the header's `txn`).
    /// `from` may be published: only the writer (the caller) stores to its
    /// words, so reading them here races with readers' loads only.
    pub(super) fn copy_from(&mut self, from: &Internal) {
        debug_assert_eq!(self.hdr.height, from.hdr.height);
        self.hdr.len = from.hdr.len;
        self.hdr.count.set(0);
        self.pivots = from.pivots;
        #[cfg(not(loom))]
        {
            // One 256-byte copy instead of 32 word loads and stores.
            // SAFETY: `Word<A>` is `repr(transparent)` over a core atomic,
            // which has the layout of its plain value, and both arrays hold
            // `FANOUT` of them. Nothing stores to `from`'s words during the
            // copy (only the caller, the writer, does), so these plain reads
            // race with nothing but atomic loads; `self` is ours (`&mut`).
            unsafe {
                ptr::copy_nonoverlapping(from.gaps.as_ptr(), self.gaps.as_mut_ptr(), FANOUT);
                ptr::copy_nonoverlapping(
                    from.children.as_ptr(),
                    self.children.as_mut_ptr(),
                    FANOUT,
                );
            }
        }
        // Loom's atomics are handles to its model state: copy the values.
        #[cfg(loom)]
        for i in 0..FANOUT {
            self.gaps[i].set(from.gaps[i].get());
            self.children[i].set(from.children[i].get());
        }
    }

    /// The child at `i`, for the writer (see [`Word::get`]).
    #[inline]
    pub(super) fn child(&self, i: usize) -> *mut Header {
        self.children[i].get()
    }

    /// The cached gap of child `i`, for the writer (see [`Word::get`]).
    #[inline]
    pub(super) fn gap(&self, i: usize) -> u64 {
        self.gaps[i].get()
    }

    /// The longest `None` range below this node.
    pub(super) fn max_gap(&self) -> u64 {
        self.gaps[..usize::from(self.hdr.len)]
            .iter()
            .map(Word::<AtomicU64>::get)
            .max()
            .unwrap_or(0)
    }
}

/// Allocates an empty leaf (`len == 0`: the caller fills it before anyone
/// else sees it).
pub(super) fn alloc_leaf<V: Copy>(txn: u64, tracked: bool) -> *mut Header {
    let leaf = Box::new(Leaf::<V> {
        hdr: Header::new(txn, 0, tracked),
        pivots: [u64::MAX; FANOUT],
        slots: [None; FANOUT],
    });
    leaf.hdr.mark_built();
    Box::into_raw(leaf).cast::<Header>()
}

/// Allocates an empty internal node of the given height (`>= 1`).
pub(super) fn alloc_internal(txn: u64, height: u8, tracked: bool) -> *mut Header {
    debug_assert!(height >= 1);
    let node = Box::new(Internal {
        hdr: Header::new(txn, height, tracked),
        pivots: [u64::MAX; FANOUT],
        gaps: core::array::from_fn(|_| Word::<AtomicU64>::new(0)),
        children: core::array::from_fn(|_| Word::<AtomicPtr<Header>>::new(ptr::null_mut())),
    });
    node.hdr.mark_built();
    Box::into_raw(node).cast::<Header>()
}

/// Frees one node now (not its children).
///
/// # Safety
///
/// `node` came from [`alloc_leaf::<V>`](alloc_leaf) or [`alloc_internal`],
/// has not been freed, and nobody (reader or writer) uses it again.
pub(super) unsafe fn free_node<V>(node: *mut Header) {
    // SAFETY: `node` is a live allocation (contract), so its header is
    // readable.
    let height = unsafe { (*node).height };
    if height == 0 {
        // SAFETY: height 0 means `node` was allocated as a `Box<Leaf<V>>`
        // (header invariant: height never changes), and nobody uses it
        // again (contract).
        drop(unsafe { Box::from_raw(node.cast::<Leaf<V>>()) });
    } else {
        // SAFETY: as above, for a `Box<Internal>`.
        drop(unsafe { Box::from_raw(node.cast::<Internal>()) });
    }
}

/// Adds one node to `batch`, to be freed after an RCU grace period.
///
/// # Safety
///
/// - `node` came from [`alloc_leaf::<V>`](alloc_leaf) or [`alloc_internal`]
///   and is neither freed nor retired elsewhere.
/// - `node` is unreachable for readers that start after `batch` is
///   retired (the pointer that reached it has been replaced).
pub(super) unsafe fn retire_node<V>(batch: &mut RetireBatch, node: *mut Header) {
    // SAFETY: `node` is still allocated (contract).
    let height = unsafe { (*node).height };
    if height == 0 {
        // SAFETY: `node` is a `Box<Leaf<V>>` (height 0), unlinked and freed
        // nowhere else (contract). Dropping a leaf on another thread is
        // sound: trees only hold `V: Copy` (`MapleTree::new` requires it),
        // which has no destructor, so the drop only frees memory.
        unsafe { batch.push(node.cast::<Leaf<V>>()) };
    } else {
        // SAFETY: as above, for a `Box<Internal>`, whose drop only frees
        // memory (children are freed separately).
        unsafe { batch.push(node.cast::<Internal>()) };
    }
}

/// Frees `node` and every node below it, now.
///
/// # Safety
///
/// Every node of the subtree satisfies [`free_node`]'s contract.
pub(super) unsafe fn free_subtree<V>(node: *mut Header) {
    // SAFETY: `node` is live (contract).
    let height = unsafe { (*node).height };
    if height > 0 {
        // SAFETY: height > 0, so `node` is an `Internal`, and it is live.
        let int = unsafe { &*node.cast::<Internal>() };
        for i in 0..usize::from(int.hdr.len) {
            // SAFETY: the children are part of the subtree (contract).
            unsafe { free_subtree::<V>(int.child(i)) };
        }
    }
    // SAFETY: the subtree's root, freed once, after its children.
    unsafe { free_node::<V>(node) };
}
