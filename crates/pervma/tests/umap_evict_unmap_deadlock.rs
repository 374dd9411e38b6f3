//! Regression test after LLNL UMap's evict-versus-unmap deadlock (UMap
//! pull request 102, "fix deadlock in evict_region"): `uunmap` took the
//! pager's buffer lock and waited for the region's pages to be evicted,
//! while an evict worker that had already marked a page LEAVING needed
//! that buffer lock to finish it. The same cycle in pervma's terms: the
//! unmapping thread holds the pager's lock across `munmap`, which waits
//! in `vma_start_write` for the VMA's readers, while the evictor holds
//! that VMA's read lock (to write the page back without it changing
//! under it) and waits for the pager's lock. The fix is a lock order:
//! never wait for the pager's lock while holding a VMA lock; write back
//! under the VMA lock, drop it, then take the pager's lock.
//!
//! Every wait is bounded; the deadlock is detected by a timeout and then
//! broken (the evictor's wait can give up), so the test never hangs.
#![cfg(feature = "std")]

use pervma::{Advice, MapFlags, Mm, Prot};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

const P: u64 = 4096;
const REGION: u64 = 0x10_0000;

/// The pager's state (UMap's `Buffer`): pages written back.
struct Pager {
    buffer: Mutex<Vec<u64>>,
}

fn region(mm: &Mm<()>) {
    let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    mm.mmap(REGION, 4 * P, Prot::READ | Prot::WRITE, flags, None, ())
        .unwrap();
    mm.access_write(REGION, b"dirty").unwrap();
}

/// Waits for the pager's lock, giving up (`None`) once `abandon` is set:
/// what lets the test break the deadlock it detects.
fn lock_or_abandon<'a>(
    pager: &'a Pager,
    abandon: &AtomicBool,
) -> Option<std::sync::MutexGuard<'a, Vec<u64>>> {
    loop {
        if let Ok(g) = pager.buffer.try_lock() {
            return Some(g);
        }
        if abandon.load(Relaxed) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn umap_evict_versus_unmap_deadlock() {
    // The bug: the evictor waits for the pager's lock under the VMA lock.
    let mm: Mm<()> = Mm::new();
    region(&mm);
    let pager = Pager {
        buffer: Mutex::new(Vec::new()),
    };
    let abandon = AtomicBool::new(false);
    let (evicted_tx, evicted_rx) = mpsc::channel();
    let (unmapped_tx, unmapped_rx) = mpsc::channel();
    std::thread::scope(|s| {
        let (locked_tx, locked_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (mm, pager, abandon) = (&mm, &pager, &abandon);
        s.spawn(move || {
            // evict worker: the page is LEAVING, its VMA read-locked.
            let vma = mm.lock_vma(REGION).unwrap();
            let mut page = [0u8; 5];
            vma.read_nofault(REGION, &mut page).unwrap(); // write-back copy
            locked_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            let done = lock_or_abandon(pager, abandon).map(|mut b| b.push(REGION));
            drop(vma);
            evicted_tx.send(done.is_some()).unwrap();
        });
        locked_rx.recv().unwrap();
        s.spawn(move || {
            // uunmap: the pager's lock held across munmap.
            let buffer = pager.buffer.lock().unwrap();
            go_tx.send(()).unwrap();
            mm.munmap(REGION, 4 * P).unwrap(); // waits for the evictor
            drop(buffer);
            unmapped_tx.send(()).unwrap();
        });
        // Neither finishes: the deadlock.
        let wait = Duration::from_millis(300);
        assert!(unmapped_rx.recv_timeout(wait).is_err(), "munmap finished");
        assert!(evicted_rx.try_recv().is_err(), "the evictor finished");
        // Break it: the evictor gives up its wait and its VMA lock.
        abandon.store(true, Relaxed);
        let evicted = evicted_rx.recv_timeout(Duration::from_secs(20)).unwrap();
        assert!(
            !evicted,
            "the evictor got the pager's lock while deadlocked"
        );
        unmapped_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("munmap still stuck after the evictor let go");
    });

    // The fix: write back under the VMA lock, drop it, then the pager's
    // lock. The unmapping thread keeps its habit; nothing hangs.
    let mm: Mm<()> = Mm::new();
    let pager = Pager {
        buffer: Mutex::new(Vec::new()),
    };
    let (done_tx, done_rx) = mpsc::channel();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (mm, pager, stop) = (&mm, &pager, &stop);
        s.spawn(move || {
            while !stop.load(Relaxed) {
                let Some(vma) = mm.lock_vma(REGION) else {
                    std::thread::yield_now();
                    continue;
                };
                let mut page = [0u8; 5];
                let copied = vma.read_nofault(REGION, &mut page).is_ok();
                drop(vma); // before the pager's lock
                if copied {
                    pager.buffer.lock().unwrap().push(REGION);
                    let _ = mm.madvise(REGION, P, Advice::DontNeed);
                }
            }
        });
        s.spawn(move || {
            // 300 rounds, and on until the evictor wrote back at least
            // once (on a loaded machine it may not run during the 300).
            for round in 0.. {
                region(mm);
                let buffer = pager.buffer.lock().unwrap();
                mm.munmap(REGION, 4 * P).unwrap();
                let evicted = !buffer.is_empty();
                drop(buffer);
                if round >= 300 && evicted || stop.load(Relaxed) {
                    break;
                }
                if round >= 300 {
                    std::thread::yield_now();
                }
            }
            done_tx.send(()).unwrap();
        });
        let finished = done_rx.recv_timeout(Duration::from_secs(30));
        stop.store(true, Relaxed);
        finished.expect("evict versus unmap deadlocked with the fixed lock order");
    });
    assert!(!pager.buffer.lock().unwrap().is_empty());
}
