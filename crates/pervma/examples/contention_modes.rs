//! Readers under a writer that mprotects their VMAs: lookups per second,
//! to compare builds and the `no_std` kernel hooks. `cargo run --release
//! -p pervma --example contention_modes [--no-default-features] --
//! [hooks]`. With `hooks`, waits sleep on a futex through
//! `set_wait_hooks` and read sections run on per-thread "CPU" slots (each
//! thread its own, so nothing to disable); `std` builds ignore them.

use pervma::{MapFlags, Mm, Prot};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use std::time::{Duration, Instant};

const P: u64 = 4096;
const BASE: u64 = 0x1000_0000;
const READERS: usize = 2;

static NEXT: AtomicUsize = AtomicUsize::new(0);
std::thread_local! {
    static ME: usize = NEXT.fetch_add(1, Relaxed);
}

fn futex_wait(word: &AtomicU32, value: u32) {
    // SAFETY: FUTEX_WAIT on a live word; returns on change, wake or signal.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            value,
            std::ptr::null::<libc::timespec>(),
        );
    }
}

fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a live word.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "hooks") {
        pervma::set_wait_hooks(futex_wait, futex_wake_all);
        // Each thread its own "CPU" (a thread number, never shared).
        pervma::set_rcu_cpu_hooks(64, || ME.with(|m| *m), || {});
    }
    let mm: Mm<u64> = Mm::new();
    let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    for i in 0..64u64 {
        mm.mmap(BASE + 2 * i * P, P, Prot::READ, fixed, None, i)
            .unwrap();
    }
    let stop = AtomicBool::new(false);
    let lookups = AtomicU64::new(0);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for t in 0..READERS as u64 {
            let (mm, stop, lookups) = (&mm, &stop, &lookups);
            s.spawn(move || {
                let mut i = t + 1;
                let mut n = 0;
                while !stop.load(Relaxed) {
                    i = i
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let v = mm.lock_vma(BASE + 2 * ((i >> 33) % 64) * P).unwrap();
                    black_box(*v.payload());
                    n += 1;
                }
                lookups.fetch_add(n, Relaxed);
            });
        }
        let mut round = 0u64;
        while t0.elapsed() < Duration::from_millis(500) {
            let prot = if round % 2 == 0 {
                Prot::READ | Prot::WRITE
            } else {
                Prot::READ
            };
            mm.mprotect(BASE + 2 * (round % 64) * P, P, prot).unwrap();
            round += 1;
        }
        stop.store(true, Relaxed);
    });
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{:.2} M lookups/s",
        lookups.load(Relaxed) as f64 / secs / 1e6
    );
}
