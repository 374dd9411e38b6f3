//! Regression test for the shadow-stack `sigreturn` deadlock: 7fad2a432cd3
//! ("x86/shstk: Check that signal frame is shadow stack mem") made
//! `shstk_pop_sigframe` hold `mmap_lock` for read across `get_shstk_data`.
//! A token read that faults takes `mmap_lock` for read again; with a
//! writer queued in between (rwsems let a waiting writer go first), the
//! second read waits for the writer and the writer for the first read.
//! Fixed upstream by 9874b2917b9f ("x86/shstk: Prevent deadlock during
//! shstk sigreturn"), the speculate/retry form; the series' helper gives
//! the other fix (VMA lock + no-fault read + retry).
//!
//! Every token's page is dropped before each pop so that each read faults,
//! and a writer takes `mmap_lock` for write in a loop. Every wait is
//! bounded: a hang fails the test instead of hanging CI.

use pervma::{Advice, Errno, MapFlags, Mm, MmConfig, Prot};
use pervma_callers::shstk::{
    alloc_shstk, shstk_pop_sigframe, shstk_pop_sigframe_mmap_locked, shstk_pop_sigframe_vma_locked,
    shstk_push_sigframe,
};
use pervma_callers::{Frames, Vm, PAGE};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc;
use std::time::Duration;

type Pop = fn(&Mm<Vm>, &mut u64) -> Result<(), Errno>;

const TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `pops` push/pop pairs with `pop` while a writer maps and unmaps
/// in a loop; the token's page is dropped before each pop, so each read
/// faults. Returns the pops' outcome (a panic's message as `Err`), or
/// panics if they did not finish within the timeout.
fn pop_beside_a_writer(pop: Pop, pops: usize) -> Result<(), String> {
    // Shared (shmem) rather than alloc_shstk's private memory, so that
    // MADV_DONTNEED keeps the token in its shmem page and the next read
    // faults it back in, as a swapped-out page would.
    let mm: Mm<Vm> = Mm::new();
    let flags = MapFlags::SHARED | MapFlags::ANONYMOUS;
    let rw = Prot::READ | Prot::WRITE;
    let base = mm
        .mmap(0, 4 * PAGE, rw, flags, None, Vm::ShadowStack)
        .unwrap();
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Relaxed) {
                let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
                let a = mm.mmap(0, PAGE, Prot::READ, flags, None, Vm::Anon).unwrap();
                mm.munmap(a, PAGE).unwrap();
            }
        });
        let mm = &mm;
        s.spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(|| {
                for _ in 0..pops {
                    // The SSP lands on a page boundary: the case that
                    // takes mmap_lock in the old form.
                    let mut ssp = base + 2 * PAGE + 8;
                    shstk_push_sigframe(mm, &mut ssp).unwrap();
                    assert_eq!(ssp % PAGE, 0);
                    mm.madvise(base + 2 * PAGE, PAGE, Advice::DontNeed).unwrap();
                    pop(mm, &mut ssp).unwrap();
                    assert_eq!(ssp, base + 2 * PAGE + 8);
                }
            }));
            let _ = tx.send(result.map_err(|p| {
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            }));
        });
        let result = rx.recv_timeout(TIMEOUT);
        stop.store(true, Relaxed);
        result.expect("shstk_pop_sigframe hung: the mmap_lock recursion deadlock")
    })
}

#[test]
fn shstk_pop_sigframe_mmap_lock_recursion_deadlock() {
    // The old form: the faulting read under mmap_lock is the deadlock.
    // Debug builds of pervma track held locks and refuse the nested wait
    // before it can hang (as lockdep's might_fault() reports it in the
    // kernel). Release builds do not track them, and pervma's fault path
    // for a read never needs mmap_lock when the VMA lock is free (the
    // kernel's fault from kernel mode always took it), so the old form
    // cannot be shown to fail there.
    if cfg!(debug_assertions) {
        let err = pop_beside_a_writer(shstk_pop_sigframe_mmap_locked, 1)
            .expect_err("the old form must be refused");
        assert!(
            err.contains("deadlock: access_vma called while this thread holds mmap_lock for read"),
            "{err}"
        );
    }
    // Both fixes: no user access under a lock a fault could need.
    pop_beside_a_writer(shstk_pop_sigframe, 300).expect("speculate/retry form");
    pop_beside_a_writer(shstk_pop_sigframe_vma_locked, 300).expect("helper form");
}

/// The check the old form held the lock for still holds in both fixes: a
/// token just past the end of a shadow stack, in ordinary memory, is
/// refused, and so is one whose VMA was replaced.
#[test]
fn a_token_outside_shadow_stack_memory_is_refused() {
    let mm: Mm<Vm> = Mm::with_backend(MmConfig::default(), Frames::new());
    let base = alloc_shstk(&mm, 2 * PAGE).unwrap();
    let top = base + 2 * PAGE;
    let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    let rw = Prot::READ | Prot::WRITE;
    mm.mmap(top, PAGE, rw, fixed, None, Vm::Anon).unwrap();
    for pop in [shstk_pop_sigframe as Pop, shstk_pop_sigframe_vma_locked] {
        let mut ssp = top + 8;
        shstk_push_sigframe(&mm, &mut ssp).unwrap();
        assert_eq!(pop(&mm, &mut ssp), Err(Errno::EINVAL));
        // A good token, then its shadow stack replaced by ordinary memory.
        let mut ssp = top - 8;
        shstk_push_sigframe(&mm, &mut ssp).unwrap();
        mm.mmap(base, 2 * PAGE, rw, fixed, None, Vm::Anon).unwrap();
        assert_eq!(pop(&mm, &mut ssp), Err(Errno::EINVAL));
        mm.mmap(base, 2 * PAGE, rw, fixed, None, Vm::ShadowStack)
            .unwrap();
    }
}
