//! Loom models of the tree's publication protocol.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p pervma --lib --release tree::loom`.
//!
//! The tree is crate-private, so its model lives here rather than in
//! `tests/loom_*.rs`. Node fields are plain memory, invisible to loom; each
//! node's loom-only canary (`Header::canary`, a loom atomic created and
//! set when the node is built, loaded by every reader visit) makes a
//! missing happens-before edge between building a node and reading it
//! fail the model (loom reports a "Causality violation"). Weakening the
//! `Release` store in `commit` or the `Acquire` load in `snapshot` to
//! `Relaxed` makes the first three models fail. Child pointers, which a
//! commit may patch in place (`patch.rs`), are loom atomics themselves:
//! weakening `Word::publish` or `Word::load` makes `loom_walk_vs_leaf_patch`
//! fail.

use loom::sync::Arc;
use loom::thread;

use super::MapleTree;
use crate::sync::rcu::rcu_read_lock;

/// Three preemptions unless `LOOM_MAX_PREEMPTIONS` says otherwise.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// Runs `writer` and `reader` on two spawned threads and joins them.
///
/// Both roles run on spawned threads, not the reader on the model's main
/// thread: with the latter, loom 0.7's exploration never preempted the
/// reader in favour of a writer whose first access is a load, and the
/// model checked a single interleaving.
fn race(tree: &Arc<MapleTree<u32>>, writer: fn(&MapleTree<u32>), reader: fn(&MapleTree<u32>)) {
    let (t1, t2) = (tree.clone(), tree.clone());
    let w = thread::spawn(move || writer(&t1));
    let r = thread::spawn(move || reader(&t2));
    w.join().unwrap();
    r.join().unwrap();
}

/// A writer replaces `[10, 19]` (one store per commit, twice) while a
/// reader walks it: the reader sees a value, never a hole, and sees the
/// commits in order.
#[test]
fn loom_walk_vs_store() {
    model(|| {
        let tree = Arc::new(MapleTree::<u32>::new());
        // SAFETY: no other thread exists yet.
        let mut w = unsafe { tree.write() };
        w.store(10, 19, Some(1));
        w.store(30, 39, Some(9));
        w.commit();
        race(
            &tree,
            |tree| {
                for v in [2, 3] {
                    // SAFETY: this thread is the only writer.
                    let mut w = unsafe { tree.write() };
                    w.store(10, 19, Some(v));
                    w.commit();
                }
            },
            |tree| {
                let mut seen = 0;
                for addr in [10, 19] {
                    let g = rcu_read_lock();
                    let (first, last, v) = tree.walk(addr, &g).expect("transient hole");
                    assert_eq!((first, last), (10, 19));
                    assert!(v >= seen, "went back in time");
                    seen = v;
                }
            },
        );
        assert_eq!(tree.walk(15, &rcu_read_lock()), Some((10, 19, 3)));
    });
}

/// A commit that splits the root leaf (a new root and two new leaves,
/// published by one store) while a reader iterates: the reader sees the
/// old or the new version whole.
#[test]
fn loom_iterate_vs_root_split() {
    model(|| {
        let tree = Arc::new(MapleTree::<u32>::new());
        // SAFETY: no other thread exists yet.
        let mut w = unsafe { tree.write() };
        for i in 0..7u64 {
            w.store(i * 10, i * 10 + 4, Some(i as u32));
        }
        w.commit();
        race(
            &tree,
            |tree| {
                // SAFETY: this thread is the only writer.
                let mut w = unsafe { tree.write() };
                for i in 7..12u64 {
                    w.store(i * 10, i * 10 + 4, Some(i as u32));
                }
                w.commit();
            },
            |tree| {
                let g = rcu_read_lock();
                let snap = tree.snapshot(&g);
                let n = snap.iter_from(0).count();
                assert!(n == 7 || n == 12, "torn iteration: {n}");
                assert_eq!(snap.len(), n);
            },
        );
        let g = rcu_read_lock();
        assert_eq!(tree.len(&g), 12);
        assert!(tree.validate(&g).height >= 1);
    });
}

/// A spanning erase that empties most of a two-level tree in one commit,
/// against a reader doing a gap search and a `find` on one snapshot: both
/// answers come from the same version.
#[test]
fn loom_gap_search_vs_spanning_erase() {
    model(|| {
        let tree = Arc::new(MapleTree::<u32>::new());
        // SAFETY: no other thread exists yet.
        let mut w = unsafe { tree.write() };
        for i in 0..40u64 {
            w.store(i * 10, i * 10 + 7, Some(i as u32));
        }
        w.commit();
        race(
            &tree,
            |tree| {
                // SAFETY: this thread is the only writer.
                let mut w = unsafe { tree.write() };
                w.store(5, 394, None);
                w.commit();
            },
            |tree| {
                let g = rcu_read_lock();
                let snap = tree.snapshot(&g);
                let gap = snap.gap_bottom_up(0, u64::MAX, 100, 1);
                let next = snap.find(5).map(|r| r.0);
                match snap.len() {
                    40 => assert_eq!((gap, next), (Some(398), Some(0))),
                    2 => assert_eq!((gap, next), (Some(5), Some(395))),
                    n => panic!("torn: {n} ranges"),
                }
            },
        );
        assert_eq!(tree.len(&rcu_read_lock()), 2);
    });
}

/// A commit whose changes all lie in one leaf publishes by storing the new
/// leaf's pointer into its published parent (`patch.rs`), not a new root.
/// A reader racing it sees the old leaf or the new one, whole: both of the
/// commit's changes, or neither. (Two stores: the second one settles the
/// first, so the commit goes through the path copies' `LeafPatch`.)
#[test]
fn loom_walk_vs_leaf_patch() {
    use crate::sync::prim::Ordering;
    model(|| {
        let tree = Arc::new(MapleTree::<u32>::new());
        // SAFETY: no other thread exists yet.
        let mut w = unsafe { tree.write() };
        for i in 0..20u64 {
            w.store(i * 10, i * 10 + 4, Some(i as u32));
        }
        w.commit();
        let root = tree.root.load(Ordering::Relaxed);
        assert!(tree.validate(&rcu_read_lock()).height >= 1);
        race(
            &tree,
            |tree| {
                // SAFETY: this thread is the only writer.
                let mut w = unsafe { tree.write() };
                w.store(10, 14, Some(100));
                w.store(16, 17, Some(101));
                w.commit();
            },
            |tree| {
                let g = rcu_read_lock();
                let (first, last, v) = tree.walk(12, &g).expect("transient hole");
                assert_eq!((first, last), (10, 14));
                assert!(v == 1 || v == 100, "torn value {v}");
                let second = tree.walk(16, &g);
                if v == 100 {
                    assert_eq!(second, Some((16, 17, 101)), "half a commit");
                } else {
                    assert!(second.is_none() || second == Some((16, 17, 101)));
                }
            },
        );
        // The commit patched a leaf in place: the root stayed.
        assert_eq!(tree.root.load(Ordering::Relaxed), root, "not a leaf patch");
        let g = rcu_read_lock();
        assert_eq!(tree.walk(12, &g), Some((10, 14, 100)));
        assert_eq!(tree.len(&g), 21);
        tree.validate(&g);
    });
}

/// One store, committed at once: the commit publishes the deferred leaf
/// (`DeferredLeaf`) into the published parent without copying its
/// ancestors, and updates the cached gaps and count beside it. A racing
/// reader sees the range or the hole, never a torn leaf.
#[test]
fn loom_walk_vs_deferred_leaf() {
    use crate::sync::prim::Ordering;
    model(|| {
        let tree = Arc::new(MapleTree::<u32>::new());
        // SAFETY: no other thread exists yet.
        let mut w = unsafe { tree.write() };
        for i in 0..20u64 {
            w.store(i * 10, i * 10 + 4, Some(i as u32));
        }
        w.commit();
        let root = tree.root.load(Ordering::Relaxed);
        race(
            &tree,
            |tree| {
                // SAFETY: this thread is the only writer.
                let mut w = unsafe { tree.write() };
                // Joins the hole above: the leaf's longest gap grows from 5
                // to 10 keys, which its parent's cached gap follows.
                w.store(0, 4, None);
                w.commit();
            },
            |tree| {
                let g = rcu_read_lock();
                match tree.walk(2, &g) {
                    None => {}
                    Some(r) => assert_eq!(r, (0, 4, 0), "torn leaf"),
                }
                // The neighbour is in the same leaf, old or new.
                assert_eq!(tree.walk(10, &g), Some((10, 14, 1)));
            },
        );
        assert_eq!(tree.root.load(Ordering::Relaxed), root, "not a leaf patch");
        let g = rcu_read_lock();
        assert_eq!(tree.walk(2, &g), None);
        assert_eq!(tree.len(&g), 19);
        assert_eq!(tree.gap_bottom_up(0, u64::MAX, 10, 1, &g), Some(0));
        tree.validate(&g);
    });
}
