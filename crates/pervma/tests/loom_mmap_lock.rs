//! loom models of `mmap_lock` (the writer-preferring rwsem and
//! `mm_lock_seq`), through the public API. See loom_vma_lock.rs for how to
//! run them.
#![cfg(loom)]

use loom::sync::atomic::{AtomicU32, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use pervma::Mm;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.max_branches = 20_000;
    b.check(f);
}

/// Writers exclude readers and each other; the sequence count is odd
/// exactly while a writer holds the lock.
#[test]
fn writer_excludes_reader_and_writer() {
    model(|| {
        let mm: Arc<Mm<()>> = Arc::new(Mm::new());
        let inside = Arc::new(AtomicU32::new(0));
        let t = {
            let (mm, inside) = (mm.clone(), inside.clone());
            thread::spawn(move || {
                let w = mm.mmap_write_lock();
                assert_eq!(inside.fetch_add(100, SeqCst), 0);
                assert!(mm.mmap_lock_speculate_try_begin().is_none());
                inside.fetch_sub(100, SeqCst);
                drop(w);
            })
        };
        {
            let r = mm.mmap_read_lock();
            assert!(inside.fetch_add(1, SeqCst) < 100);
            inside.fetch_sub(1, SeqCst);
            drop(r);
        }
        t.join().unwrap();
        assert!(!mm.mmap_is_locked());
        assert!(mm.mmap_lock_speculate_try_begin().is_some());
    });
}

/// A downgrade keeps the lock held throughout: a writer waiting for it
/// gets in only after the downgraded reader leaves.
#[test]
fn downgrade_lets_no_writer_in_between() {
    model(|| {
        let mm: Arc<Mm<()>> = Arc::new(Mm::new());
        let phase = Arc::new(AtomicU32::new(0));
        let w = mm.mmap_write_lock();
        let t = {
            let (mm, phase) = (mm.clone(), phase.clone());
            thread::spawn(move || {
                let _w = mm.mmap_write_lock();
                assert_eq!(
                    phase.load(SeqCst),
                    2,
                    "got in before the downgraded reader left"
                );
            })
        };
        phase.store(1, SeqCst);
        let r = w.downgrade();
        assert!(
            mm.mmap_lock_speculate_try_begin().is_some(),
            "the write cycle ended"
        );
        phase.store(2, SeqCst);
        drop(r);
        t.join().unwrap();
    });
}
