//! Installing a kernel's per-CPU read-section hooks
//! ([`pervma::set_rcu_cpu_hooks`]) while readers run, then again: with
//! the same CPU count and other hooks, and with fewer CPUs; more CPUs than
//! the first install panics. Readers that began before an install end
//! correctly: a section that began on claimed slots gives its slot back,
//! and one that began under earlier hooks ends with those hooks' `exit`
//! (each thread checks that every `exit` matches its `enter`). Each
//! reader thread is its own "CPU" (a thread number), so nothing needs
//! disabling. Its own test binary: the hooks are global.
#![cfg(not(loom))]

use pervma::{MapFlags, Mm, Prot};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::time::Duration;

const P: u64 = 4096;
const BASE: u64 = 0x1000_0000;
const READERS: usize = 2;

static NEXT: AtomicUsize = AtomicUsize::new(0);
/// Sections entered through each install's hooks: first, second, third.
static ENTERS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
std::thread_local! {
    static ME: usize = NEXT.fetch_add(1, Relaxed);
    /// Which install's `enter` began each open section of this thread.
    static OPEN: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

fn enter(install: usize) -> usize {
    ENTERS[install].fetch_add(1, Relaxed);
    OPEN.with(|o| o.borrow_mut().push(install));
    ME.with(|m| *m)
}

fn exit(install: usize) {
    let began = OPEN.with(|o| o.borrow_mut().pop());
    assert_eq!(
        began,
        Some(install),
        "a section ended with another install's exit"
    );
}

fn enter0() -> usize {
    enter(0)
}
fn exit0() {
    exit(0)
}
fn enter1() -> usize {
    enter(1)
}
fn exit1() {
    exit(1)
}
fn enter2() -> usize {
    enter(2)
}
fn exit2() {
    exit(2)
}

#[test]
fn install_while_readers_run_then_again() {
    let mm: Mm<u64> = Mm::new();
    let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    for i in 0..64 {
        mm.mmap(BASE + 2 * i * P, P, Prot::READ, fixed, None, i)
            .unwrap();
    }
    let stop = AtomicBool::new(false);
    let lookups = AtomicU64::new(0);
    let pause = || std::thread::sleep(Duration::from_millis(30));
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..READERS as u64)
            .map(|t| {
                let (mm, stop, lookups) = (&mm, &stop, &lookups);
                s.spawn(move || {
                    ME.with(|_| ());
                    let mut i = t;
                    while !stop.load(Relaxed) {
                        let index = i % 64;
                        let vma = mm.lock_vma(BASE + 2 * index * P).expect("mapped");
                        assert_eq!(*vma.payload(), index);
                        drop(vma);
                        let _ = mm.maps();
                        lookups.fetch_add(1, Relaxed);
                        i = i
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407)
                            >> 3;
                    }
                    OPEN.with(|o| assert!(o.borrow().is_empty(), "sections left open"));
                })
            })
            .collect();
        // Readers on claimed slots, then the first install under them.
        pause();
        pervma::set_rcu_cpu_hooks(2 * READERS, enter0, exit0);
        pause();
        // Again, the same count, other hooks: sections that began under
        // the first end with its exit.
        pervma::set_rcu_cpu_hooks(2 * READERS, enter1, exit1);
        pause();
        // Fewer CPUs: still enough for every reader, and for this thread
        // afterwards (it numbers itself last).
        pervma::set_rcu_cpu_hooks(READERS + 1, enter2, exit2);
        pause();
        // More CPUs than the first install made slots for: refused.
        let more = std::panic::catch_unwind(|| {
            pervma::set_rcu_cpu_hooks(4 * READERS, enter0, exit0);
        });
        // (`std` builds ignore the hooks.)
        assert_eq!(more.is_err(), cfg!(not(feature = "std")), "CPU count grew");
        pause();
        stop.store(true, Relaxed);
        for r in readers {
            r.join().unwrap();
        }
    });
    assert!(lookups.load(Relaxed) > 0);
    let enters = ENTERS.each_ref().map(|e| e.load(Relaxed));
    if cfg!(feature = "std") {
        // A thread-local handle: the CPU hooks are not consulted.
        assert_eq!(enters, [0; 3]);
    } else {
        assert!(
            enters.iter().all(|&n| n > 0),
            "sections per install: {enters:?}"
        );
    }
    // This thread's sections now run on its own CPU slot, the last one.
    assert_eq!(*mm.lock_vma(BASE).expect("mapped").payload(), 0);
    let stats = mm.stats();
    assert!(stats.success > lookups.load(Relaxed), "{stats:?}");
    drop(mm);
    pervma::rcu_barrier();
}
