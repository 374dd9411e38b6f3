//! The tree under the locks: the walk, the gap search, and `mmap` +
//! `munmap` with and without it.
//!
//! - `walk/N`: `vma_lookup` (the maple tree walk) under one `mmap_read_lock`
//!   taken outside the loop, so the figure is the walk alone.
//! - `find_vma/N`: the first VMA ending above a random address (hits the
//!   holes too).
//! - `gap/N`: `mmap(0, 2 pages)` + `munmap` in a space whose only
//!   2-page gap under `mmap_base` lies below N one-page VMAs separated by
//!   one-page holes: the top-down gap search must skip every hole (with
//!   cached gaps, a walk down one path; without, a scan). Beside it the
//!   same pair at a fixed address (no gap search) and the pair with hint 0
//!   in an unfragmented space.
//!
//! `cargo bench -p pervma --bench tree`

use criterion::{criterion_group, criterion_main, Criterion};
use pervma::{MapFlags, Mm, MmConfig, Prot};
use std::hint::black_box;
use std::time::Duration;

const P: u64 = 4096;
const BASE: u64 = 0x1000_0000;

fn addresses(n: u64) -> Vec<u64> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            BASE + (x % (2 * n)) * P + (x >> 40) % P
        })
        .collect()
}

/// `n` one-page VMAs at `BASE + 2iP`, in a space whose `mmap_base` is the
/// end of the layout when `fragmented`.
fn setup(n: u64, fragmented: bool) -> Mm<u64> {
    let mm = if fragmented {
        let d = MmConfig::default();
        Mm::with_config(MmConfig::new(
            d.task_size,
            d.mmap_min_addr,
            BASE + 2 * n * P,
            d.max_map_count,
        ))
    } else {
        Mm::new()
    };
    for i in 0..n {
        mm.mmap(
            BASE + 2 * i * P,
            P,
            Prot::READ,
            MapFlags::PRIVATE | MapFlags::FIXED,
            None,
            i,
        )
        .unwrap();
    }
    mm
}

fn walk(c: &mut Criterion) {
    for n in [10u64, 1000, 30_000] {
        let mm = setup(n, false);
        let addrs = addresses(n);
        let mut g = c.benchmark_group(format!("walk/{n}"));
        let locked = mm.mmap_read_lock();
        g.bench_function("vma_lookup", |b| {
            let mut i = 0;
            b.iter(|| {
                let a = addrs[i & 4095];
                i += 1;
                black_box(locked.vma_lookup(a).map(|v| *v.payload()))
            })
        });
        g.bench_function("find_vma", |b| {
            let mut i = 0;
            b.iter(|| {
                let a = addrs[i & 4095];
                i += 1;
                black_box(locked.find_vma(a).map(|v| v.start()))
            })
        });
        drop(locked);
        g.finish();
    }
}

fn gap(c: &mut Criterion) {
    let rw = Prot::READ | Prot::WRITE;
    for n in [1000u64, 30_000] {
        let mm = setup(n, true);
        let mut g = c.benchmark_group(format!("gap/{n}"));
        g.bench_function("mmap_hint0_munmap_fragmented", |b| {
            b.iter(|| {
                let a = mm.mmap(0, 2 * P, rw, MapFlags::PRIVATE, None, 0).unwrap();
                debug_assert!(a < BASE, "the only gap is below the layout");
                mm.munmap(a, 2 * P).unwrap();
            })
        });
        g.bench_function("mmap_fixed_munmap", |b| {
            let fixed = MapFlags::PRIVATE | MapFlags::FIXED;
            b.iter(|| {
                let a = mm.mmap(BASE - 2 * P, 2 * P, rw, fixed, None, 0).unwrap();
                mm.munmap(a, 2 * P).unwrap();
            })
        });
        drop(mm);
        let mm = setup(n, false);
        g.bench_function("mmap_hint0_munmap", |b| {
            b.iter(|| {
                let a = mm.mmap(0, 2 * P, rw, MapFlags::PRIVATE, None, 0).unwrap();
                mm.munmap(a, 2 * P).unwrap();
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = walk, gap
}
criterion_main!(benches);
