//! The reviewers' worry, for user memory: a thread holding a VMA read lock
//! touches user memory while a writer holding `mmap_lock` waits for that
//! VMA. The no-fault copies return instead of blocking; the faulting ones
//! are refused (debug builds with `std`) instead of hanging. Every wait
//! has a timeout that fails the test rather than hanging CI.
#![cfg(feature = "std")]

use pervma::{MapFlags, Mm, NoFaultKind, Prot, VmaReadGuard};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

const P: u64 = 4096;
const A: u64 = 0x10_0000;
const TIMEOUT: Duration = Duration::from_secs(10);

fn mm_with_one_vma() -> Mm<()> {
    let mm = Mm::new();
    let rw = Prot::READ | Prot::WRITE;
    mm.mmap(A, 4 * P, rw, MapFlags::PRIVATE | MapFlags::FIXED, None, ())
        .unwrap();
    mm.access_write(A, b"mapped").unwrap();
    mm
}

/// Runs `reader` on a thread holding the VMA read lock at `A` while
/// another thread runs `mprotect` on that VMA (so it holds `mmap_lock` for
/// write and waits in `vma_start_write` for the reader), and checks that
/// both finish. Returns what `reader` returned, or its panic.
fn with_writer_waiting<R: Send>(
    mm: &Mm<()>,
    reader: impl FnOnce(&VmaReadGuard<'_, ()>) -> R + Send,
) -> std::thread::Result<R> {
    let (done_tx, done_rx) = mpsc::channel();
    let (result_tx, result_rx) = mpsc::channel();
    std::thread::scope(|s| {
        let (locked_tx, locked_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        s.spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(|| {
                let vma = mm.lock_vma(A).unwrap();
                locked_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                reader(&vma)
            }));
            // The guard is gone (returned or unwound): the writer may go.
            result_tx.send(result).unwrap();
        });
        locked_rx.recv().unwrap();
        s.spawn(move || {
            // Splits the VMA the reader holds (waiting for it), then merges
            // it back, so each call starts from the same single VMA.
            mm.mprotect(A, P, Prot::READ).unwrap();
            mm.mprotect(A, P, Prot::READ | Prot::WRITE).unwrap();
            done_tx.send(()).unwrap();
        });
        // Wait until the writer holds mmap_lock; it then waits for us.
        let deadline = std::time::Instant::now() + TIMEOUT;
        while !mm.mmap_is_write_locked() {
            assert!(
                std::time::Instant::now() < deadline,
                "the writer never took mmap_lock"
            );
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(20));
        go_tx.send(()).unwrap();
        let result = result_rx
            .recv_timeout(TIMEOUT)
            .expect("the VMA reader blocked: deadlock");
        done_rx
            .recv_timeout(TIMEOUT)
            .expect("the writer never finished: deadlock");
        assert_eq!(mm.map_count(), 1);
        result
    })
}

#[test]
fn nofault_copies_return_while_a_writer_waits_for_the_vma() {
    let mm = mm_with_one_vma();
    let (read, stop) = with_writer_waiting(&mm, |vma| {
        // The writer holds mmap_lock and waits for this VMA: a mapped page
        // still copies, an unmapped one reports itself instead of faulting.
        assert!(vma.mm().mmap_read_trylock().is_none());
        let mut buf = [0u8; 6];
        vma.read_nofault(A, &mut buf).unwrap();
        (buf, vma.write_nofault(A + P, b"x").unwrap_err())
    })
    .unwrap();
    assert_eq!(&read, b"mapped");
    assert_eq!((stop.addr, stop.kind), (A + P, NoFaultKind::NotMapped));
    // After the writer: the helper faults the page in and writes.
    mm.access_vma(A + P, |vma| vma.write_nofault(A + P, b"x"))
        .unwrap();
}

#[cfg(debug_assertions)]
fn assert_refused(result: std::thread::Result<()>, call: &str) {
    let panic = result.unwrap_err();
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    if !msg.contains(&format!(
        "deadlock: {call} called while this thread holds a VMA read lock"
    )) {
        resume_unwind(panic);
    }
}

/// The reviewers' deadlock, reached through each faulting entry point:
/// without the detector the reader would wait for `mmap_lock` (held by the
/// writer) while the writer waits for the reader's VMA.
#[cfg(debug_assertions)]
#[test]
fn faulting_while_holding_the_vma_lock_is_refused() {
    let mm = mm_with_one_vma();
    let fault = |vma: &VmaReadGuard<'_, ()>| {
        // The page is not mapped: a fault would need mmap_lock.
        let _ = vma.mm().handle_fault(A + 2 * P, pervma::Access::Write);
    };
    assert_refused(with_writer_waiting(&mm, fault), "handle_fault");
    let copy = |vma: &VmaReadGuard<'_, ()>| {
        let _ = vma.mm().access_write(A + 2 * P, b"x");
    };
    assert_refused(with_writer_waiting(&mm, copy), "access_vma");
    let helper = |vma: &VmaReadGuard<'_, ()>| {
        let _ = vma.mm().access_vma(A, |v| v.read_nofault(A, &mut [0; 1]));
    };
    assert_refused(with_writer_waiting(&mm, helper), "access_vma");
    // Nothing was lost: the Mm works and the first page kept its bytes.
    let mut buf = [0u8; 6];
    mm.access_read(A, &mut buf).unwrap();
    assert_eq!(&buf, b"mapped");
}

/// The safe pattern under churn: `access_vma` on a VMA that another thread
/// keeps write-locking (mprotect back and forth) always completes.
#[test]
fn access_vma_completes_while_the_vma_is_write_locked_in_a_loop() {
    let mm = mm_with_one_vma();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                mm.mprotect(A + 3 * P, P, Prot::READ).unwrap();
                mm.mprotect(A + 3 * P, P, Prot::READ | Prot::WRITE).unwrap();
            }
        });
        let mm = &mm;
        s.spawn(move || {
            for i in 0..2000u64 {
                let at = A + (i % 3) * P + 8;
                mm.access_vma(at, |vma| vma.write_nofault(at, &i.to_le_bytes()))
                    .unwrap();
                let mut back = [0u8; 8];
                mm.access_read(at, &mut back).unwrap();
                assert_eq!(u64::from_le_bytes(back), i);
            }
            done_tx.send(()).unwrap();
        });
        let finished = done_rx.recv_timeout(TIMEOUT);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        finished.expect("access_vma did not complete: deadlock or livelock");
    });
}
