//! The fast path against the obvious alternative, in one run:
//! `lock_vma` + drop on N VMAs versus `BTreeMap::range(..=addr).next_back()`
//! (no locking at all) on the same addresses, plus `lock_vma_under_rcu`,
//! the `mmap_lock` path, `mmap` + `munmap` of one page among N VMAs, and the
//! gap search.
//!
//! `cargo bench -p pervma --bench lock_vma`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use pervma::{MapFlags, Mm, Prot};
use std::collections::BTreeMap;
use std::hint::black_box;

const P: u64 = 4096;
const BASE: u64 = 0x1000_0000;

fn addresses(n: u64) -> Vec<u64> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            BASE + (x % n) * 2 * P + (x >> 40) % P
        })
        .collect()
}

fn setup(n: u64) -> (Mm<u64>, BTreeMap<u64, (u64, u64)>) {
    let mm = Mm::new();
    let mut map = BTreeMap::new();
    for i in 0..n {
        let start = BASE + i * 2 * P;
        mm.mmap(
            start,
            P,
            Prot::READ,
            MapFlags::PRIVATE | MapFlags::FIXED,
            None,
            i,
        )
        .unwrap();
        map.insert(start, (start + P, i));
    }
    (mm, map)
}

fn lookups(c: &mut Criterion) {
    for n in [10u64, 1000, 30_000] {
        let (mm, map) = setup(n);
        let addrs = addresses(n);
        let mut g = c.benchmark_group(format!("lookup/{n}"));
        g.bench_function("btreemap_range_next_back", |b| {
            let mut i = 0;
            b.iter(|| {
                let a = addrs[i & 4095];
                i += 1;
                let (&start, &(end, id)) = map.range(..=a).next_back().unwrap();
                black_box((start <= a && a < end).then_some(id))
            })
        });
        g.bench_function("lock_vma", |b| {
            let mut i = 0;
            b.iter(|| {
                let a = addrs[i & 4095];
                i += 1;
                black_box(*mm.lock_vma(a).unwrap().payload())
            })
        });
        g.bench_function("lock_vma_under_rcu", |b| {
            let mut i = 0;
            b.iter(|| {
                let a = addrs[i & 4095];
                i += 1;
                black_box(*mm.lock_vma_under_rcu(a).unwrap().payload())
            })
        });
        g.bench_function("mmap_read_lock_vma_lookup", |b| {
            let mut i = 0;
            b.iter(|| {
                let a = addrs[i & 4095];
                i += 1;
                let g = mm.mmap_read_lock();
                black_box(*g.vma_lookup(a).unwrap().payload())
            })
        });
        g.finish();
    }
}

fn writes(c: &mut Criterion) {
    for n in [1000u64, 30_000] {
        let (mm, _) = setup(n);
        let mut g = c.benchmark_group(format!("write/{n}"));
        g.bench_function("mmap_munmap_one_page", |b| {
            b.iter(|| {
                let a = mm
                    .mmap(0, P, Prot::READ | Prot::WRITE, MapFlags::PRIVATE, None, 0)
                    .unwrap();
                mm.munmap(a, P).unwrap();
            })
        });
        g.bench_function("munmap_middle_split_and_refill", |b| {
            b.iter_batched(
                || BASE + (n / 2) * 2 * P,
                |a| {
                    let mut w = mm.mmap_write_lock();
                    w.munmap(a, P).unwrap();
                    w.mmap(
                        a,
                        P,
                        Prot::READ,
                        MapFlags::PRIVATE | MapFlags::FIXED,
                        None,
                        0,
                    )
                    .unwrap();
                },
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

criterion_group!(benches, lookups, writes);
criterion_main!(benches);
