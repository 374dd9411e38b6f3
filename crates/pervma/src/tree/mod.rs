//! The maple tree: an RCU-readable, copy-on-write range B-tree that maps
//! the address space to VMAs.
//!
//! Linux: lib/maple_tree.c, include/linux/maple_tree.h. pervma keeps the
//! ideas (ranges keyed by their last address, explicit empty ranges with
//! cached gap sizes, lock-free readers under RCU, one writer) but not the
//! node formats.
//!
//! # The partition model
//!
//! The tree maps the whole key space `0..=u64::MAX` as a partition into
//! ranges, each holding an `Option<V>`. Empty space is stored explicitly as
//! `None` ranges, so gaps are first-class: every internal node caches, per
//! child, the longest `None` range below it, and [`gap_top_down`] /
//! [`gap_bottom_up`] find room for a mapping without scanning.
//!
//! - Ranges are contiguous and cover `0..=u64::MAX`.
//! - No two adjacent ranges are both `None` (stores coalesce them).
//! - Adjacent `Some` ranges are never merged, even with equal values.
//! - `V: Copy` is opaque to the tree (in pervma a `NonNull<Vma<..>>`): the
//!   tree never dereferences, drops or frees values.
//!
//! **Ranges are inclusive everywhere** in this API: a range is
//! `(first, last)` with `first <= last`, covering `first..=last`, so the
//! top of the key space (`last == u64::MAX`) needs no special case. Lookups
//! return `(first, last, value)`.
//!
//! # Structure
//!
//! A B+-tree keyed by each range's last address (its *pivot*), fanout 16
//! ([`node`] has the layout). A range's first address is the previous
//! pivot + 1, or the node's minimum, which descents carry down from the
//! parent. Every range lives in exactly one leaf. Nodes other than the root
//! hold 8 to 16 slots; a root leaf holds at least one range and a root
//! internal node at least two children. The empty tree is one root leaf
//! holding `0..=u64::MAX => None`.
//!
//! # Concurrency
//!
//! - **Readers** ([`MapleTree::walk`] and friends, [`MapleTree::snapshot`])
//!   take `&RcuGuard` as proof that they are inside an RCU read section.
//!   Each call loads the root pointer once, with `Acquire`, and each child
//!   pointer it follows once, with `Acquire`. A descent therefore sees,
//!   for each commit, either the tree before it or the tree after it, never
//!   a mixture and never a transient hole; so does an iteration, which
//!   visits each leaf once.
//! - **One writer** at a time ([`MapleTree::write`], unsafe: the caller
//!   holds the lock that serialises writers, `mmap_lock` for write in
//!   pervma). The writer builds a new version by path copying and
//!   [`TreeWriter::commit`] publishes it with one `Release` store: of the
//!   new root, or, when every change of the transaction lies in one leaf
//!   (the common case: one VMA mapped, unmapped, split or merged), of the
//!   new leaf's pointer in its published parent ([`patch`]). The copies of
//!   the leaf's ancestors are then never published, and are reused.
//! - Several lookups on one [`Snapshot`] see one version of the tree
//!   except for leaves that later commits patched in: as with Linux's
//!   maple tree, a reader that needs several lookups to agree re-checks
//!   (pervma's speculative readers check `mm_lock_seq`) or holds the
//!   writers' lock. A snapshot's `len` is a statistic in the same way.
//!
//! ## Invariants
//!
//! - **Published nodes are immutable, but for patched words.** Once a node
//!   is reachable from the published root, none of its fields change until
//!   it is freed, except the root's count and an internal node's child
//!   pointers and cached gaps ([`node::Word`]), which a commit may change
//!   with one atomic store each: a child is replaced only by a leaf
//!   covering exactly the same keys. Every node carries the id of the
//!   write transaction that allocated it (`Header::txn`); a writer writes
//!   other fields only of nodes carrying its own id, which it allocated
//!   (or took from the spare list) and which are unreachable from the
//!   published root until its commit. Ids come from a counter and are
//!   never reused.
//! - **Publication**: all writes to a transaction's nodes happen before
//!   the `Release` store that publishes them in [`TreeWriter::commit`]; a
//!   reader whose `Acquire` load returns the new root or leaf sees them.
//! - **Reclamation**: a node reachable from some published root is freed
//!   only (a) through a [`RetireBatch`] that the committer retires after
//!   the commit that unlinked it, so readers that may still see it are
//!   done first, or (b) by `Drop for
//!   MapleTree`, which has `&mut self` and so no readers. Nodes a
//!   transaction allocates and drops again, or allocates and then aborts,
//!   were never published and are freed at once (or kept as spares).
//!
//! [`gap_top_down`]: MapleTree::gap_top_down
//! [`gap_bottom_up`]: MapleTree::gap_bottom_up

mod gap;
mod node;
mod patch;
mod read;
#[cfg(test)]
mod validate;
mod write;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;
#[cfg(all(test, not(loom)))]
mod tests_model;
#[cfg(all(test, not(loom), feature = "std"))]
mod tests_std;

use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::marker::PhantomData;
use core::ptr;
use crossbeam_utils::CachePadded;

use crate::sync::prim::{AtomicPtr, AtomicU64, Ordering, UnsafeCell};
use crate::sync::rcu::{rcu_read_lock, RcuGuard, RetireBatch};

use node::{alloc_leaf, free_node, free_subtree, retire_node, Header, MAX_LEVELS};
pub(crate) use node::{leaf_size, INTERNAL_SIZE};
pub(crate) use read::{Iter, Snapshot};

/// `(leaf, internal node)` sizes in bytes, for values the size of a
/// pointer (pervma stores `NonNull<Vma<T>>`).
pub(crate) fn node_sizes() -> (usize, usize) {
    (leaf_size::<core::ptr::NonNull<()>>(), INTERNAL_SIZE)
}

/// The maple tree: a partition of `0..=u64::MAX` into ranges holding
/// `Option<V>`, readable under RCU while one writer updates it.
///
/// See the [module docs](self) for the model.
///
/// # Invariants
///
/// - `root` points at the root of a valid tree (see [`node`]) whose nodes
///   were all allocated with this `V`.
/// - Every node reachable from `root` carries a transaction id below
///   `next_txn`.
pub(crate) struct MapleTree<V> {
    /// On a cache line of its own: every lookup reads it, and the
    /// writers' bookkeeping below changes on every transaction, even one
    /// that publishes by a leaf patch and leaves the root as it is.
    root: CachePadded<AtomicPtr<Header>>,
    /// The id of the next write transaction. Only writers touch it, and
    /// they are serialised by the caller, so `Relaxed` suffices.
    next_txn: AtomicU64,
    /// Internal nodes that a transaction built and never published (its
    /// copies of a leaf's ancestors when it committed by a leaf patch),
    /// kept for later transactions. Only writers touch it, one at a time
    /// (the contract of [`MapleTree::write`]).
    spare: UnsafeCell<Vec<*mut Header>>,
    /// The writers' list of retired nodes, kept between transactions so
    /// that its memory is reused (empty while no writer runs; writers only).
    retired: UnsafeCell<Vec<*mut Header>>,
    /// Whether nodes count in the tests' live-node counter.
    #[cfg(all(test, not(loom)))]
    tracked: bool,
    /// The tree hands out copies of `V` on any thread: not `Send`/`Sync`
    /// by default (see the impls below).
    _values: PhantomData<*mut V>,
}

// SAFETY: the tree owns its nodes, which hold `V`s by value; sending the
// tree sends those `V`s (`V: Send`), and nothing in the tree is tied to a
// thread.
unsafe impl<V: Send + Sync> Send for MapleTree<V> {}

// SAFETY: through `&MapleTree`, readers on any thread copy `V`s that the
// writer stored on another thread (`V: Send + Sync`), and see node memory
// only through the Release/Acquire publication of the root (module
// invariants). Nodes are freed only after an RCU grace period, or with
// `&mut self`. The single-writer rule is the contract of the unsafe
// `write`.
unsafe impl<V: Send + Sync> Sync for MapleTree<V> {}

impl<V: Copy> Default for MapleTree<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Copy> MapleTree<V> {
    /// An empty tree: `0..=u64::MAX => None`.
    #[doc(alias = "mt_init")]
    pub(crate) fn new() -> Self {
        Self::with_tracking(false)
    }

    /// An empty tree whose nodes count in the live-node counter.
    #[cfg(all(test, not(loom)))]
    pub(super) fn new_tracked() -> Self {
        Self::with_tracking(true)
    }

    fn with_tracking(tracked: bool) -> Self {
        let root = alloc_leaf::<V>(0, tracked);
        // SAFETY: just allocated, not shared yet.
        unsafe { &mut *root.cast::<node::Leaf<V>>() }.fill(&[u64::MAX], &[None]);
        // INVARIANT: one leaf covering everything; txn 0 < next_txn.
        MapleTree {
            root: CachePadded::new(AtomicPtr::new(root)),
            next_txn: AtomicU64::new(1),
            spare: UnsafeCell::new(Vec::new()),
            retired: UnsafeCell::new(Vec::new()),
            #[cfg(all(test, not(loom)))]
            tracked,
            _values: PhantomData,
        }
    }

    fn tracked(&self) -> bool {
        #[cfg(all(test, not(loom)))]
        return self.tracked;
        #[cfg(not(all(test, not(loom))))]
        false
    }

    /// The current version of the tree, for several consistent lookups.
    #[inline]
    pub(crate) fn snapshot<'a>(&'a self, _guard: &'a RcuGuard) -> Snapshot<'a, V> {
        // Acquire: pairs with the Release store in `commit`, so every write
        // to the nodes of the version we load happens-before our reads.
        let root = self.root.load(Ordering::Acquire);
        // SAFETY: nodes reachable from a root loaded inside a read section
        // are freed only after the section ends (retired through RCU after
        // being unlinked) or by `Drop`, which cannot run while `self` is
        // borrowed; published nodes are immutable (module invariants).
        unsafe { Snapshot::new(root) }
    }

    /// The `Some` range containing `addr`, as `(first, last, value)`.
    #[doc(alias = "mas_walk")]
    #[doc(alias = "mtree_load")]
    #[inline]
    pub(crate) fn walk(&self, addr: u64, guard: &RcuGuard) -> Option<(u64, u64, V)> {
        self.snapshot(guard).walk(addr)
    }

    /// The first `Some` range with `last >= addr` (`find_vma`).
    #[doc(alias = "mas_find")]
    #[doc(alias = "find_vma")]
    pub(crate) fn find(&self, addr: u64, guard: &RcuGuard) -> Option<(u64, u64, V)> {
        self.snapshot(guard).find(addr)
    }

    /// The last `Some` range with `last < addr`.
    #[doc(alias = "mas_prev")]
    pub(crate) fn prev(&self, addr: u64, guard: &RcuGuard) -> Option<(u64, u64, V)> {
        self.snapshot(guard).prev(addr)
    }

    /// The `Some` ranges with `last >= addr`, ascending, from one version.
    #[doc(alias = "mas_for_each")]
    // Tree API that pervma's `mm` does not call (yet).
    #[allow(dead_code)]
    pub(crate) fn iter_from<'a>(&'a self, addr: u64, guard: &'a RcuGuard) -> Iter<'a, V> {
        self.snapshot(guard).iter_from(addr)
    }

    /// The number of `Some` ranges (`map_count`), O(1).
    pub(crate) fn len(&self, guard: &RcuGuard) -> usize {
        self.snapshot(guard).len()
    }

    /// The highest free start; see [`Snapshot::gap_top_down`].
    #[doc(alias = "mas_empty_area_rev")]
    // Tree API that pervma's `mm` does not call (yet).
    #[allow(dead_code)]
    pub(crate) fn gap_top_down(
        &self,
        low: u64,
        high: u64,
        size: u64,
        align: u64,
        guard: &RcuGuard,
    ) -> Option<u64> {
        self.snapshot(guard).gap_top_down(low, high, size, align)
    }

    /// The lowest free start; see [`Snapshot::gap_bottom_up`].
    #[doc(alias = "mas_empty_area")]
    // Tree API that pervma's `mm` does not call (yet).
    #[allow(dead_code)]
    pub(crate) fn gap_bottom_up(
        &self,
        low: u64,
        high: u64,
        size: u64,
        align: u64,
        guard: &RcuGuard,
    ) -> Option<u64> {
        self.snapshot(guard).gap_bottom_up(low, high, size, align)
    }

    /// Starts a write transaction.
    ///
    /// The writer sees its own pending changes; readers see none of them
    /// until [`TreeWriter::commit`]. Dropping the writer without committing
    /// discards them.
    ///
    /// # Safety
    ///
    /// No other `TreeWriter` for this tree exists, and none is created
    /// until this one is dropped or committed (in pervma: the caller holds
    /// `mmap_lock` for write). Successive writers must be ordered by
    /// happens-before (any lock does that).
    pub(crate) unsafe fn write(&self) -> TreeWriter<'_, V> {
        // Relaxed: writers are serialised by the caller's lock, which
        // orders this with the previous writer's accesses.
        let txn = self.next_txn.fetch_add(1, Ordering::Relaxed);
        // Relaxed would do for the same reason; Acquire costs nothing here
        // and keeps the writer correct even if the caller's lock were
        // weaker than documented.
        let root = self.root.load(Ordering::Acquire);
        TreeWriter {
            tree: self,
            root: Cell::new(root),
            published: root,
            patch: Cell::new(None),
            deferred: Cell::new(None),
            txn,
            tracked: self.tracked(),
            // SAFETY: writers are serialised (our contract), so only this
            // one touches the list; it gives it back in `commit_into` or
            // `drop`.
            retired: RefCell::new(
                self.retired
                    .with_mut(|r| unsafe { core::mem::take(&mut *r) }),
            ),
        }
    }
}

/// The most spare internal nodes a tree keeps: two paths' worth.
const SPARES: usize = 2 * MAX_LEVELS;

impl<V> MapleTree<V> {
    /// Takes a spare internal node, if there is one (writers only).
    fn take_spare(&self) -> Option<*mut Header> {
        self.spare.with_mut(|spare| {
            // SAFETY: only the one live `TreeWriter` calls this, and
            // writers are serialised (the contract of `write`), so this is
            // the only access to the list.
            unsafe { (*spare).pop() }
        })
    }

    /// Keeps `node` as a spare, or hands it back if the list is full
    /// (writers only).
    fn put_spare(&self, node: *mut Header) -> Option<*mut Header> {
        self.spare.with_mut(|spare| {
            // SAFETY: as in `take_spare`.
            let spare = unsafe { &mut *spare };
            if spare.len() < SPARES {
                spare.push(node);
                None
            } else {
                Some(node)
            }
        })
    }

    /// The number of spare nodes (they count as live in the tests).
    #[cfg(all(test, not(loom)))]
    pub(super) fn spares(&self) -> usize {
        // SAFETY: the tests call this with no writer running.
        self.spare.with(|spare| unsafe { (*spare).len() })
    }
}

impl<V> Drop for MapleTree<V> {
    fn drop(&mut self) {
        // Relaxed: `&mut self` means whatever gave us exclusive access
        // already ordered every earlier access to the tree before this.
        let root = self.root.load(Ordering::Relaxed);
        // SAFETY: `&mut self`: no reader or writer can reach the nodes
        // (readers borrow the tree), and nodes retired earlier are not
        // reachable from `root`. Each node is freed exactly once.
        unsafe { free_subtree::<V>(root) };
        while let Some(node) = self.take_spare() {
            // SAFETY: spare nodes were never published and are linked from
            // nothing; each is in the list once.
            unsafe { free_node::<V>(node) };
        }
    }
}

/// A write transaction: pending changes to a [`MapleTree`], visible to
/// readers only after [`commit`](TreeWriter::commit).
///
/// Not `Send`: the transaction's node bookkeeping is plain raw pointers and
/// belongs to the thread that holds the writer's lock.
///
/// # Invariants
///
/// - `root` is the root of a valid tree (the pending version); the nodes
///   reachable from it carrying `txn` were allocated by this transaction
///   and are reachable from nothing else, the others are reachable from the
///   published root too.
/// - `retired` holds each node that was reachable from the published root
///   and is no longer reachable from `root`, once.
/// - `root` is null once the transaction has been committed (or if a
///   store panicked halfway, in which case its nodes are leaked).
/// - While `deferred` holds a change, the pending version is `root` (then
///   the published root) with that change applied ([`patch::DeferredLeaf`]);
///   `settle` applies it before anything reads `root`.
///
/// `root`, `retired`, `patch` and `deferred` are cells because lookups
/// (`&self`) may have to settle a deferred change first.
#[must_use = "a TreeWriter dropped without commit() discards its changes"]
pub(crate) struct TreeWriter<'a, V: Copy> {
    tree: &'a MapleTree<V>,
    root: Cell<*mut Header>,
    /// The published root when the transaction began (still published:
    /// only this writer publishes).
    published: *mut Header,
    /// How to commit by a leaf patch, while every change so far lies in
    /// one leaf and this transaction's copies of its ancestors
    /// ([`patch`]).
    patch: Cell<Option<patch::LeafPatch>>,
    /// The transaction's only change so far, not yet applied to the
    /// pending tree ([`patch::DeferredLeaf`]).
    deferred: Cell<Option<patch::DeferredLeaf>>,
    txn: u64,
    tracked: bool,
    retired: RefCell<Vec<*mut Header>>,
}

impl<V: Copy> TreeWriter<'_, V> {
    /// This transaction's id: successive writers' ids increase.
    pub(crate) fn txn(&self) -> u64 {
        self.txn
    }

    /// The pending version, for lookups.
    #[inline]
    pub(crate) fn snapshot(&self) -> Snapshot<'_, V> {
        self.settle();
        let root = self.root.get();
        assert!(!root.is_null(), "TreeWriter used after a panic");
        // SAFETY: the pending nodes stay allocated and unmodified while
        // `self` is borrowed: this transaction's nodes change only through
        // `&mut self`, and the published ones are retired only by `commit`,
        // which consumes `self`.
        unsafe { Snapshot::new(root) }
    }

    /// The `Some` range containing `addr`, in the pending version.
    // Tree API that pervma's `mm` does not call (yet).
    #[allow(dead_code)]
    pub(crate) fn walk(&self, addr: u64) -> Option<(u64, u64, V)> {
        self.snapshot().walk(addr)
    }

    /// The first `Some` range with `last >= addr`, in the pending version.
    pub(crate) fn find(&self, addr: u64) -> Option<(u64, u64, V)> {
        self.snapshot().find(addr)
    }

    /// The last `Some` range with `last < addr`, in the pending version.
    // Tree API that pervma's `mm` does not call (yet).
    #[allow(dead_code)]
    pub(crate) fn prev(&self, addr: u64) -> Option<(u64, u64, V)> {
        self.snapshot().prev(addr)
    }

    /// The `Some` ranges with `last >= addr` in the pending version.
    pub(crate) fn iter_from(&self, addr: u64) -> Iter<'_, V> {
        self.snapshot().iter_from(addr)
    }

    /// The number of `Some` ranges in the pending version.
    pub(crate) fn len(&self) -> usize {
        self.snapshot().len()
    }

    /// [`Snapshot::gap_top_down`] on the pending version.
    pub(crate) fn gap_top_down(&self, low: u64, high: u64, size: u64, align: u64) -> Option<u64> {
        self.snapshot().gap_top_down(low, high, size, align)
    }

    /// [`Snapshot::gap_bottom_up`] on the pending version.
    pub(crate) fn gap_bottom_up(&self, low: u64, high: u64, size: u64, align: u64) -> Option<u64> {
        self.snapshot().gap_bottom_up(low, high, size, align)
    }

    /// Publishes the pending version, then retires the nodes it replaced.
    ///
    /// Publishing is one store: of the new root, or, when the pending
    /// version differs from the published one in a single leaf, of that
    /// leaf's pointer in its published parent ([`patch`]).
    // Tree API (the tree's own tests): pervma's `mm` uses `commit_into`,
    // retiring the nodes with the rest of its operation's garbage.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn commit(self) {
        let mut batch = RetireBatch::new();
        self.commit_into(&mut batch);
        rcu_read_lock().retire(batch);
    }

    /// [`commit`](Self::commit), adding the replaced nodes to the caller's
    /// `batch`, which the caller retires after this returns (with the
    /// rest of its operation's garbage: one callback for all of it).
    pub(crate) fn commit_into(mut self, batch: &mut RetireBatch) {
        let root = self.root.replace(ptr::null_mut());
        let mut retired = self.retired.take();
        if let Some(deferred) = self.deferred.take() {
            self.publish_deferred(&deferred);
        } else if root == self.published {
            self.give_back(retired);
            return;
        } else {
            match self.patch.take() {
                Some(patch) => self.apply_leaf_patch(&patch, &mut retired),
                // Release: every write to this transaction's nodes (all
                // made by this thread, before this point) happens-before
                // the reads of any reader whose Acquire load in `snapshot`
                // returns `root`.
                None => self.tree.root.store(root, Ordering::Release),
            }
        }
        for node in retired.drain(..) {
            // SAFETY: `node` was reachable from the published version only
            // through the pointer (root, or parent's child) that the store
            // above replaced, so readers that start from now on cannot
            // reach it; `retired` holds it once and nothing else frees it
            // (type invariant); it was allocated with this tree's `V`.
            unsafe { retire_node::<V>(batch, node) };
        }
        self.give_back(retired);
    }

    /// Returns the (empty) retired list to the tree for the next writer.
    fn give_back(&self, retired: Vec<*mut Header>) {
        debug_assert!(retired.is_empty());
        // SAFETY: this is the only writer (contract of `write`).
        self.tree.retired.with_mut(|r| unsafe { *r = retired });
    }
}

impl<V: Copy> Drop for TreeWriter<'_, V> {
    fn drop(&mut self) {
        let root = self.root.get();
        if !root.is_null() {
            // Abort: free this transaction's nodes; the published version
            // (including the nodes in `retired`) is untouched.
            if let Some(deferred) = self.deferred.take() {
                self.free_deferred(deferred);
            }
            self.free_own_nodes(root);
            let mut retired = self.retired.take();
            retired.clear();
            self.give_back(retired);
        }
    }
}
