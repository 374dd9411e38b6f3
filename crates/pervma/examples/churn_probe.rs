//! Where does a reader's time go while another thread churns unrelated
//! ranges? Reader: `lock_vma` + payload at random among 1,000 VMAs.
//! Writer: mprotect split+merge (or mmap+munmap) far above them.
//!
//! Windows of 200 ms alone, beside `mprotect` churn and beside `mmap`
//! churn, interleaved, `rounds` times; medians and the share of the solo
//! rate kept (on-CPU, so other processes' time is set aside).
//!
//! `cargo run --release -p pervma --example churn_probe -- [rounds] [none|mprotect|mmap]`

use pervma::{MapFlags, Mm, Prot};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

const P: u64 = 4096;
const BASE: u64 = 0x1000_0000;

#[path = "common/clock.rs"]
mod clock;
use clock::thread_cpu_ns;

/// Reader on-CPU ns per lookup over `secs`, with `mode`'s writer beside it.
fn window(mm: &Mm<u64>, far: u64, mode: &str, secs: f64) -> f64 {
    let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        if mode != "none" {
            s.spawn(|| {
                while !stop.load(Relaxed) {
                    if mode == "mmap" {
                        let a = mm
                            .mmap(far + 16 * P, P, Prot::READ | Prot::WRITE, fixed, None, 1)
                            .unwrap();
                        mm.munmap(a, P).unwrap();
                    } else {
                        mm.mprotect(far + P, P, Prot::READ).unwrap();
                        mm.mprotect(far + P, P, Prot::READ | Prot::WRITE).unwrap();
                    }
                }
            });
        }
        let t0 = std::time::Instant::now();
        let c0 = thread_cpu_ns();
        let mut i = 0u64;
        let mut n = 0u64;
        while t0.elapsed().as_secs_f64() < secs {
            for _ in 0..1024 {
                i = i.wrapping_add(1);
                let r = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) % 1000;
                black_box(mm.lock_vma(BASE + 2 * r * P).map(|v| *v.payload()));
            }
            n += 1024;
        }
        let cpu = thread_cpu_ns() - c0;
        stop.store(true, Relaxed);
        cpu as f64 / n as f64
    })
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let mm: Mm<u64> = Mm::new();
    let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    for i in 0..1000u64 {
        mm.mmap(BASE + 2 * i * P, P, Prot::READ, fixed, None, i)
            .unwrap();
    }
    let far = BASE + 0x100_0000 + 2000 * P;
    mm.mmap(far, 3 * P, Prot::READ | Prot::WRITE, fixed, None, 7)
        .unwrap();
    pervma::rcu_barrier();
    let only = std::env::args().nth(2);
    let modes: Vec<&str> = ["none", "mprotect", "mmap"]
        .into_iter()
        .filter(|m| only.as_deref().is_none_or(|o| o == *m))
        .collect();
    let mut ns = vec![Vec::new(); modes.len()];
    for _ in 0..rounds {
        for (k, mode) in modes.iter().enumerate() {
            ns[k].push(window(&mm, far, mode, 0.2));
        }
    }
    for v in &mut ns {
        v.sort_by(f64::total_cmp);
    }
    let med = |k: usize| ns[k][ns[k].len() / 2];
    for (k, mode) in modes.iter().enumerate() {
        println!(
            "{mode:<9} reader on-CPU {:6.1} ns/lookup (min {:5.1})  kept {:.2}",
            med(k),
            ns[k][0],
            med(0) / med(k)
        );
    }
}
