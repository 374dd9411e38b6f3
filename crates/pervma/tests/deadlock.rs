//! The deadlock rule: a thread that holds `mmap_lock` or a VMA read lock
//! of an `Mm` must not wait for that `Mm`'s `mmap_lock`. Debug builds
//! detect it and panic with an explanation; these tests reproduce the
//! scenarios, with timeouts that fail instead of hanging.
#![cfg(all(debug_assertions, feature = "std"))]

use pervma::{MapFlags, Mm, Prot};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

const P: u64 = 4096;

fn mm_with_two_vmas() -> Mm<()> {
    let mm = Mm::new();
    let f = MapFlags::PRIVATE | MapFlags::FIXED;
    mm.mmap(0x10_0000, P, Prot::READ, f, None, ()).unwrap();
    mm.mmap(0x20_0000, P, Prot::READ, f, None, ()).unwrap();
    mm
}

fn panic_message(err: Box<dyn std::any::Any + Send>) -> String {
    err.downcast_ref::<String>().cloned().unwrap_or_default()
}

/// x86 shadow stacks wrote a token to user memory with `mmap_lock` held,
/// and the fault path took it again (the recursion the series' helper must
/// not reintroduce): `lock_vma` under `mmap_read_lock` is refused.
#[test]
fn regression_shstk_mmap_lock_recursion() {
    let mm = mm_with_two_vmas();
    let err = catch_unwind(AssertUnwindSafe(|| {
        let _mmap = mm.mmap_read_lock();
        let _vma = mm.lock_vma(0x10_0000);
    }))
    .unwrap_err();
    let msg = panic_message(err);
    assert!(
        msg.contains("lock_vma called while this thread holds mmap_lock for read"),
        "{msg}"
    );
    // The guards were released while unwinding: the Mm is usable.
    assert!(mm.lock_vma(0x10_0000).is_some());
}

#[test]
fn lock_vma_while_holding_a_vma_read_lock_is_refused() {
    let mm = mm_with_two_vmas();
    let err = catch_unwind(AssertUnwindSafe(|| {
        let _a = mm.lock_vma(0x10_0000).unwrap();
        let _b = mm.lock_vma(0x20_0000);
    }))
    .unwrap_err();
    assert!(panic_message(err).contains("holds a VMA read lock"));
    // The fast path alone never waits, so it is allowed.
    let a = mm.lock_vma(0x10_0000).unwrap();
    assert!(mm.lock_vma_under_rcu(0x20_0000).is_some());
    drop(a);
}

#[test]
fn mmap_write_lock_while_holding_a_vma_read_lock_is_refused() {
    let mm = mm_with_two_vmas();
    let err = catch_unwind(AssertUnwindSafe(|| {
        let _a = mm.lock_vma(0x10_0000).unwrap();
        let _w = mm.mmap_write_lock();
    }))
    .unwrap_err();
    assert!(panic_message(err)
        .contains("mmap_write_lock called while this thread holds a VMA read lock"));
}

/// The reviewers' scenario: thread A holds a VMA read lock and "faults"
/// (needs `mmap_lock`), while thread B holds `mmap_lock` for write and
/// waits in `vma_start_write` for A's VMA. Without the detector both wait
/// forever; with it, A panics, its guard is released while unwinding, and
/// B completes.
#[test]
fn vma_reader_faulting_while_writer_waits_for_it() {
    let owned = mm_with_two_vmas();
    let mm = &owned;
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::scope(|s| {
        let (locked_tx, locked_rx) = mpsc::channel();
        let a = s.spawn(move || {
            catch_unwind(AssertUnwindSafe(|| {
                let _vma = mm.lock_vma(0x10_0000).unwrap();
                locked_tx.send(()).unwrap();
                // Give B time to take mmap_lock and wait for our VMA.
                std::thread::sleep(Duration::from_millis(50));
                // The "fault" that would fall back to mmap_lock.
                let _other = mm.lock_vma(0x20_0000);
            }))
        });
        locked_rx.recv().unwrap();
        s.spawn(move || {
            // munmap write-locks the VMA A holds: waits for A's guard.
            mm.munmap(0x10_0000, P).unwrap();
            done_tx.send(()).unwrap();
        });
        let a_result = a.join().unwrap();
        assert!(panic_message(a_result.unwrap_err()).contains("deadlock"));
        done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the writer never finished: deadlock");
    });
    assert!(mm.lock_vma(0x10_0000).is_none());
}
