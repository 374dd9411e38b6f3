//! Where do two readers' costs come from? Each row runs one operation in a
//! loop on 1 thread, then on 2 threads at once, and prints the per-thread
//! *on-CPU* cost (`CLOCK_THREAD_CPUTIME_ID`, so time other processes take
//! on this shared machine is set aside) and the 2/1 ratio.
//!
//! Threads are pinned, thread `t` to CPU `t`, so that the 2-thread rows
//! really run on two CPUs at once.
//!
//! `cargo run --release -p pervma --example sharing_probe [-- lookups
//! [rounds]]`: `lookups` runs only the `lock_vma` rows, `rounds` times
//! (default 5) each, for comparing builds run after one another.

use pervma::{MapFlags, Mm, Prot};
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Barrier;

const N: u64 = 2_000_000;
const P: u64 = 4096;
const BASE: u64 = 0x1000_0000;

#[path = "common/clock.rs"]
mod clock;
#[path = "common/pin.rs"]
mod pin;
use clock::thread_cpu_ns;
use pin::pin_to_cpu;

/// Per-thread on-CPU ns/op with `threads` threads running `op(t, i)`.
fn run(threads: usize, op: &(dyn Fn(usize, u64) + Sync)) -> f64 {
    let barrier = Barrier::new(threads);
    let best = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    pin_to_cpu(t);
                    barrier.wait();
                    let t0 = thread_cpu_ns();
                    for i in 0..N {
                        op(t, i);
                    }
                    (thread_cpu_ns() - t0) as f64 / N as f64
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    best.iter().sum::<f64>() / best.len() as f64
}

fn row(name: &str, rounds: usize, op: &(dyn Fn(usize, u64) + Sync)) {
    // The median of `rounds`, 1 and 2 threads interleaved.
    let mut one = Vec::new();
    let mut two = Vec::new();
    for _ in 0..rounds {
        one.push(run(1, op));
        two.push(run(2, op));
    }
    one.sort_by(f64::total_cmp);
    two.sort_by(f64::total_cmp);
    let (one, two) = (one[rounds / 2], two[rounds / 2]);
    println!("{name:<44} {one:>7.1} {two:>7.1} {:>6.2}x", two / one);
}

#[repr(align(128))]
struct Line(AtomicU32);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lookups_only = args.first().is_some_and(|a| a == "lookups");
    let rounds = args
        .get(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    println!(
        "{:<44} {:>7} {:>7} {:>7}",
        "per-thread on-CPU ns/op", "1 thr", "2 thr", "ratio"
    );
    if !lookups_only {
        primitives(rounds);
    }
    lookups(rounds);
}

/// The floors: an epoch pin, atomics on shared and private lines, and
/// private memory reads.
fn primitives(rounds: usize) {
    row("crossbeam_epoch::pin() + unpin", rounds, &|_, _| {
        drop(black_box(crossbeam_epoch::pin()));
    });
    let shared = AtomicU32::new(1);
    row("fetch_add+fetch_sub, one shared word", rounds, &|_, _| {
        shared.fetch_add(1, Ordering::Acquire);
        shared.fetch_sub(1, Ordering::Release);
    });
    let same_line = [AtomicU32::new(1), AtomicU32::new(1)];
    row(
        "fetch_add+fetch_sub, own word, same line",
        rounds,
        &|t, _| {
            same_line[t].fetch_add(1, Ordering::Acquire);
            same_line[t].fetch_sub(1, Ordering::Release);
        },
    );
    let own_line = [Line(AtomicU32::new(1)), Line(AtomicU32::new(1))];
    row("fetch_add+fetch_sub, own line", rounds, &|t, _| {
        own_line[t].0.fetch_add(1, Ordering::Acquire);
        own_line[t].0.fetch_sub(1, Ordering::Release);
    });

    // Private work that shares nothing but the machine: random reads in a
    // buffer of each thread's own. A 2/1 ratio above 1 here is the
    // machine's (a cache level the two vCPUs share, or memory bandwidth),
    // and bounds what any lookup with that working set can do.
    for kb in [64usize, 512] {
        let bufs: Vec<Vec<u64>> = (0..2).map(|_| vec![1u64; kb << 7]).collect();
        row(
            &format!("private random reads, {kb} KB each"),
            rounds,
            &|t, i| {
                let b = &bufs[t];
                let r = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20) as usize % b.len();
                black_box(b[r]);
            },
        );
    }
}

/// `lock_vma` + a payload read, by access pattern.
fn lookups(rounds: usize) {
    let mm: Mm<u64> = Mm::new();
    let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    for i in 0..1000u64 {
        mm.mmap(BASE + 2 * i * P, P, Prot::READ, fixed, None, i)
            .unwrap();
    }
    let a = &*mm.lock_vma(BASE).unwrap() as *const _ as usize;
    let b = &*mm.lock_vma(BASE + 2 * P).unwrap() as *const _ as usize;
    println!(
        "Vma<u64>: {} B, neighbours' addresses {:#x} and {:#x} ({} B apart)",
        std::mem::size_of_val(&*mm.lock_vma(BASE).unwrap()),
        a,
        b,
        b.abs_diff(a)
    );
    let addr = |t: usize, i: u64, pattern: u8| -> u64 {
        let r = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54; // 0..1024
        let index = match pattern {
            0 => r % 1000,
            1 => (r % 500) * 2 + t as u64,
            2 => 0,
            _ => t as u64 * 500,
        };
        BASE + 2 * index * P
    };
    for (name, pattern) in [
        ("lock_vma+payload, random", 0u8),
        ("lock_vma+payload, neighbours", 1),
        ("lock_vma+payload, same VMA", 2),
        ("lock_vma+payload, apart", 3),
    ] {
        row(name, rounds, &|t, i| {
            let v = mm.lock_vma(addr(t, i, pattern)).unwrap();
            black_box(*v.payload());
        });
    }
    println!("stats: {:?}", mm.stats());
}
