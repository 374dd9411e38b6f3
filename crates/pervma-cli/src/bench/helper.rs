//! `helper`: `lock_vma` on a VMA that a writer write-locks in a loop.
//!
//! The writer takes `mmap_lock` for write and `mprotect`s the whole VMA
//! between read-only and read-write, back and forth (each call is a
//! `vma_start_write` on it). The reader locks that VMA over and over and
//! times each lock + payload read + unlock (the figures include the two
//! clock reads, about 2 x 20 ns). Three ways to lock:
//!
//! - `pervma`: [`Mm::lock_vma`], whose slow path takes the VMA reference
//!   under `mmap_lock` (`vma_start_read_locked`, cannot fail): the "no
//!   goto" helper.
//! - `goto`: the series' other form, retrying the fast path after waiting
//!   for `mmap_lock`: `loop { if let Some(v) = lock_vma_under_rcu(a) {
//!   break v } drop(mmap_read_lock()) }`.
//! - `pervma-fallback`: the fast path, and on failure the caller reads the
//!   VMA under `mmap_read_lock` itself (kernel callers today).
//!
//! `slow%` is the share of lookups that left the fast path (for `pervma`
//! from the `wait` counter of [`Mm::stats`], for the others counted by the
//! loop); `abort%` counts the fast path's failures (`VMA_LOCK_ABORT`,
//! several per lookup when `goto` retries); `writer/s` is how many `mprotect`s the writer got through.

use super::measure::{measure, percentile, Background};
use super::registry::{Context, Workload};
use super::report::{group, Table};
use super::strategy::{Layout, MmLookup, MmStrategy, P};
use pervma::{Mm, Prot};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

/// How the reader locks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Helper,
    Goto,
    Fallback,
}

const VARIANTS: [(Variant, &str); 3] = [
    (Variant::Helper, "pervma"),
    (Variant::Goto, "goto"),
    (Variant::Fallback, "pervma-fallback"),
];

/// Lookups per batch.
const BATCH: u64 = 64;

/// One lookup; returns whether it left the fast path (always `false` for
/// the helper, whose slow path is counted by `Mm::stats`).
#[inline]
fn lock(mm: &Mm<u64>, addr: u64, variant: Variant) -> bool {
    match variant {
        Variant::Helper => {
            black_box(*mm.lock_vma(addr).expect("mapped").payload());
            false
        }
        Variant::Goto => {
            let mut slow = false;
            let vma = loop {
                if let Some(v) = mm.lock_vma_under_rcu(addr) {
                    break v;
                }
                slow = true;
                drop(mm.mmap_read_lock());
            };
            black_box(*vma.payload());
            slow
        }
        Variant::Fallback => match mm.lock_vma_under_rcu(addr) {
            Some(v) => {
                black_box(*v.payload());
                false
            }
            None => {
                let g = mm.mmap_read_lock();
                black_box(*g.vma_lookup(addr).expect("mapped").payload());
                true
            }
        },
    }
}

/// Latencies of every timed lookup, sorted, and the slow-path count.
struct Latencies {
    samples: Mutex<Vec<u32>>,
    slow: AtomicU64,
    ops: AtomicU64,
}

/// Samples kept per figure (the reader keeps every lookup until then).
const MAX_SAMPLES: usize = 4 << 20;

/// The `helper` workload.
pub(crate) struct Helper;

impl Workload for Helper {
    fn name(&self) -> &'static str {
        "helper"
    }

    fn run(&self, cx: &Context<'_>) -> Vec<Table> {
        let mut table = Table::new(
            "helper",
            "lock_vma on a VMA that a writer mprotects in a loop: latency per lookup, \
             share that left the fast path",
            "op",
        );
        let n = cx.args.vmas_or(&[1000])[0];
        let layout = Layout { n };
        let s = MmStrategy::new(layout, MmLookup::Helper);
        let mm = &s.mm;
        let target = mm
            .mmap(
                layout.end(),
                3 * P,
                Prot::READ | Prot::WRITE,
                pervma::MapFlags::PRIVATE | pervma::MapFlags::FIXED,
                None,
                7,
            )
            .expect("mmap");
        let writes = AtomicU64::new(0);
        let writer = |stop: &AtomicBool| {
            let mut w = 0;
            while !stop.load(Relaxed) {
                mm.mprotect(target, 3 * P, Prot::READ).expect("mprotect");
                mm.mprotect(target, 3 * P, Prot::READ | Prot::WRITE)
                    .expect("mprotect");
                w += 2;
            }
            writes.fetch_add(w, Relaxed);
        };
        for writer_on in [false, true] {
            let writer_name = if writer_on { "mprotect loop" } else { "none" };
            for (variant, name) in VARIANTS {
                cx.progress
                    .set(format!("helper writer={writer_name} {name}"));
                let lat = Latencies {
                    samples: Mutex::new(Vec::new()),
                    slow: AtomicU64::new(0),
                    ops: AtomicU64::new(0),
                };
                writes.store(0, Relaxed);
                let before = std::cell::Cell::new(mm.stats());
                let bg: &[Background<'_>] = if writer_on { &[&writer] } else { &[] };
                let t0 = Instant::now();
                let after_warmup = || {
                    lat.samples.lock().unwrap().clear();
                    lat.slow.store(0, Relaxed);
                    lat.ops.store(0, Relaxed);
                    before.set(mm.stats());
                };
                let summary = measure(&cx.plan, 1, bg, &after_warmup, cx.progress, |_| {
                    let lat = &lat;
                    let mut local = Vec::with_capacity(BATCH as usize);
                    move || {
                        let mut slow = 0;
                        for _ in 0..BATCH {
                            let t = Instant::now();
                            slow += lock(mm, target + P, variant) as u64;
                            local.push(t.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                        }
                        lat.slow.fetch_add(slow, Relaxed);
                        lat.ops.fetch_add(BATCH, Relaxed);
                        let mut all = lat.samples.lock().unwrap();
                        if all.len() < MAX_SAMPLES {
                            all.extend_from_slice(&local);
                        }
                        local.clear();
                        BATCH
                    }
                });
                let elapsed = t0.elapsed().as_secs_f64();
                let (now, then) = (mm.stats(), before.get());
                let delta = (now.wait - then.wait, now.abort - then.abort);
                table.push(
                    name,
                    group![vmas = n, writer = writer_name],
                    summary.clone(),
                    extras(&lat, variant, delta, writes.load(Relaxed) as f64 / elapsed),
                );
            }
        }
        vec![table]
    }
}

/// The percentiles, the slow share and the writer's rate.
fn extras(
    lat: &Latencies,
    variant: Variant,
    (helper_waits, aborts): (u64, u64),
    writer_rate: f64,
) -> Vec<(&'static str, f64)> {
    let mut v = std::mem::take(&mut *lat.samples.lock().unwrap());
    v.sort_unstable();
    let v: Vec<u64> = v.into_iter().map(u64::from).collect();
    let ops = lat.ops.load(Relaxed).max(1) as f64;
    let slow = match variant {
        Variant::Helper => helper_waits,
        _ => lat.slow.load(Relaxed),
    };
    vec![
        ("p50", percentile(&v, 50.0) as f64),
        ("p99", percentile(&v, 99.0) as f64),
        ("p99.9", percentile(&v, 99.9) as f64),
        ("max", v.last().copied().unwrap_or(0) as f64),
        ("slow%", 100.0 * (slow as f64 / ops).min(1.0)),
        ("abort%", 100.0 * aborts as f64 / ops),
        ("writer/s", writer_rate),
    ]
}
