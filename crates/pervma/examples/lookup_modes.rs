//! One thread's `lock_vma` cost (1,000 VMAs), to compare builds and the
//! `no_std` kernel hooks: `cargo run --release -p pervma --example
//! lookup_modes [--no-default-features] -- [hooks]`. With `hooks`, a fake
//! kernel's per-CPU read-section hooks are installed (CPU 0, nothing to
//! disable on one thread); `std` builds ignore them.

use pervma::{MapFlags, Mm, Prot};
use std::hint::black_box;
use std::time::Instant;

const P: u64 = 4096;
const BASE: u64 = 0x1000_0000;

fn main() {
    if std::env::args().any(|a| a == "hooks") {
        pervma::set_rcu_cpu_hooks(1, || 0, || {});
    }
    let mm: Mm<u64> = Mm::new();
    let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    for i in 0..1000u64 {
        mm.mmap(BASE + 2 * i * P, P, Prot::READ, fixed, None, i)
            .unwrap();
    }
    let addrs: Vec<u64> = (0..1u64 << 14)
        .map(|i| BASE + 2 * ((i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 1000) * P)
        .collect();
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t0 = Instant::now();
        for _ in 0..100 {
            for &a in &addrs {
                black_box(*mm.lock_vma(a).unwrap().payload());
            }
        }
        best = best.min(t0.elapsed().as_nanos() as f64 / (100.0 * addrs.len() as f64));
    }
    println!("{best:.1} ns/lookup (best of 7)");
}
