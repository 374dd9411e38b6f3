//! A fixed-iteration loop of the `write` bench's operations, for `perf`.
//!
//! `cargo run --release -p pervma --example write_loop -- [mmap|mprotect|fixed|read-mprotect] [iters] [vmas]`
//!
//! `read-mprotect` looks the VMA up before each mprotect pair, so that
//! the writer finds it read-biased (and revokes) whenever the bias's
//! inhibition window has passed.

use pervma::{MapFlags, Mm, Prot};
use std::time::Instant;

const P: u64 = 4096;
const BASE: u64 = 0x1000_0000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let op = args.get(1).map_or("mmap", |s| s.as_str());
    let iters: u64 = args.get(2).map_or(1_000_000, |s| s.parse().unwrap());
    let n: u64 = args.get(3).map_or(30_000, |s| s.parse().unwrap());
    let mm: Mm<u64> = Mm::new();
    for i in 0..n {
        let a = BASE + 2 * i * P;
        mm.mmap(
            a,
            P,
            Prot::READ,
            MapFlags::PRIVATE | MapFlags::FIXED,
            None,
            i,
        )
        .unwrap();
    }
    let split = BASE + 2 * n * P + 64 * P;
    let rw = Prot::READ | Prot::WRITE;
    mm.mmap(
        split,
        3 * P,
        rw,
        MapFlags::PRIVATE | MapFlags::FIXED,
        None,
        u64::MAX,
    )
    .unwrap();
    pervma::rcu_barrier();
    let (t, cpu) = (Instant::now(), thread_cpu_ns());
    for _ in 0..iters {
        match op {
            "mmap" => {
                let a = mm
                    .mmap(0, P, rw, MapFlags::PRIVATE, None, u64::MAX)
                    .unwrap();
                mm.munmap(a, P).unwrap();
            }
            "fixed" => {
                let a = BASE - 2 * P;
                mm.mmap(
                    a,
                    P,
                    rw,
                    MapFlags::PRIVATE | MapFlags::FIXED,
                    None,
                    u64::MAX,
                )
                .unwrap();
                mm.munmap(a, P).unwrap();
            }
            "mprotect" => {
                mm.mprotect(split + P, P, Prot::READ).unwrap();
                mm.mprotect(split + P, P, rw).unwrap();
            }
            "read-mprotect" => {
                drop(mm.lock_vma(split + P));
                mm.mprotect(split + P, P, Prot::READ).unwrap();
                mm.mprotect(split + P, P, rw).unwrap();
            }
            _ => panic!("op: mmap, fixed, mprotect or read-mprotect"),
        }
    }
    let cpu = (thread_cpu_ns() - cpu) as f64 / iters as f64;
    let ns = t.elapsed().as_nanos() as f64 / iters as f64;
    println!("{op}: {cpu:.0} ns CPU ({ns:.0} ns wall) per pair ({iters} pairs, {n} VMAs)");
}

/// This thread's CPU time so far (Linux: the first field of schedstat).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
