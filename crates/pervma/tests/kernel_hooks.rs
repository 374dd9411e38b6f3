//! The hooks a `no_std` kernel installs: per-CPU read sections with
//! "preemption disabled" ([`pervma::set_rcu_cpu_hooks`]) and sleeping
//! waits ([`pervma::set_wait_hooks`]). A fake kernel plays both: a "CPU"
//! is a spin lock that a thread holds from `enter` to `exit` (nothing
//! else can run on that CPU meanwhile, as with preemption disabled), and
//! waiting sleeps on a condition variable, checking the word under its
//! lock as `futex_wait` does. Readers race a writer that mprotects their
//! VMAs; every lookup must succeed (`lock_vma` is never spurious) and, in
//! `no_std` builds, the writer's waits must have gone through the hook.
//! Its own test binary: the hooks are global.
#![cfg(not(loom))]

use pervma::{MapFlags, Mm, Prot};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Condvar, Mutex};

const CPUS: usize = 2;
const P: u64 = 4096;
const BASE: u64 = 0x1000_0000;

static CPU_BUSY: [AtomicBool; CPUS] = [const { AtomicBool::new(false) }; CPUS];
static NEXT: AtomicUsize = AtomicUsize::new(0);
static ENTERS: AtomicU64 = AtomicU64::new(0);
std::thread_local! {
    static HOME: usize = NEXT.fetch_add(1, Relaxed) % CPUS;
    /// The CPU this thread is "on" and how deeply its sections nest.
    static ON: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

fn enter() -> usize {
    ENTERS.fetch_add(1, Relaxed);
    ON.with(|on| {
        let (cpu, depth) = on.get();
        if depth > 0 {
            // Nested: preemption is already off on `cpu`.
            on.set((cpu, depth + 1));
            return cpu;
        }
        let mut cpu = HOME.with(|h| *h);
        // "Get scheduled on" a free CPU and disable preemption there.
        while CPU_BUSY[cpu]
            .compare_exchange(false, true, Acquire, Relaxed)
            .is_err()
        {
            cpu = (cpu + 1) % CPUS;
            std::hint::spin_loop();
        }
        on.set((cpu, 1));
        cpu
    })
}

fn exit() {
    ON.with(|on| {
        let (cpu, depth) = on.get();
        on.set((cpu, depth - 1));
        if depth == 1 {
            CPU_BUSY[cpu].store(false, Release);
        }
    });
}

static QUEUE: Mutex<()> = Mutex::new(());
static WOKEN: Condvar = Condvar::new();
static SLEEPS: AtomicU64 = AtomicU64::new(0);

fn wait(word: &AtomicU32, value: u32) {
    let mut q = QUEUE.lock().unwrap();
    // Checked under the queue lock: a waker changes the word, then takes
    // the lock to wake, so it cannot slip between this check and the sleep.
    while word.load(SeqCst) == value {
        SLEEPS.fetch_add(1, Relaxed);
        q = WOKEN.wait(q).unwrap();
    }
}

fn wake_all(_word: &AtomicU32) {
    drop(QUEUE.lock().unwrap());
    WOKEN.notify_all();
}

#[test]
fn readers_on_cpu_slots_and_a_writer_that_sleeps() {
    pervma::set_rcu_cpu_hooks(CPUS, enter, exit);
    pervma::set_wait_hooks(wait, wake_all);
    let mm: Mm<u64> = Mm::new();
    let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    for i in 0..64 {
        mm.mmap(BASE + 2 * i * P, P, Prot::READ, fixed, None, i)
            .unwrap();
    }
    let stop = AtomicBool::new(false);
    let lookups = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (mm, stop, lookups) = (&mm, &stop, &lookups);
            s.spawn(move || {
                let mut i = t;
                while !stop.load(Relaxed) {
                    let index = i % 64;
                    let vma = mm.lock_vma(BASE + 2 * index * P).expect("never spurious");
                    assert_eq!(*vma.payload(), index);
                    // Hold it a little, so that the writer has to wait.
                    for _ in 0..200 {
                        std::hint::spin_loop();
                    }
                    drop(vma);
                    let _ = mm.maps();
                    lookups.fetch_add(1, Relaxed);
                    i = i
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407)
                        >> 3;
                }
            });
        }
        for round in 0..2000u64 {
            let index = round % 64;
            let prot = if round % 2 == 0 {
                Prot::READ | Prot::WRITE
            } else {
                Prot::READ
            };
            mm.mprotect(BASE + 2 * index * P, P, prot).unwrap();
        }
        stop.store(true, Relaxed);
    });
    assert!(lookups.load(Relaxed) > 0);
    if cfg!(feature = "std") {
        // Thread-locals and futexes: the hooks are not consulted.
        assert_eq!(ENTERS.load(Relaxed), 0);
    } else {
        assert!(ENTERS.load(Relaxed) > 0, "read sections used the CPU hooks");
        println!("hooked waits that slept: {}", SLEEPS.load(Relaxed));
    }
    assert_eq!(mm.map_count(), 64);
    // Every lock_vma counted a success, or an abort and a wait; the maps
    // readers count more. Counting through the hooks (plain adds on the
    // CPU's shard) loses none, so the sum cannot fall short.
    let stats = mm.stats();
    assert!(
        stats.success + stats.wait >= lookups.load(Relaxed),
        "{stats:?} for {} lookups",
        lookups.load(Relaxed)
    );
}
