//! `callers`: the per-VMA lock series' callers (crate `pervma-callers`),
//! each in the kernel's old form and converted to the helper, alone and
//! beside a writer.
//!
//! Each figure runs one caller thread; the writer, when there is one,
//! either maps and unmaps a page elsewhere (`other VMAs`) or `madvise`s
//! the caller's own VMA between `MADV_HUGEPAGE` and `MADV_NOHUGEPAGE`
//! (`own VMA`: each call write-locks it). One operation:
//!
//! - `binder-install`: `binder_page_insert` of a page into the binder
//!   mapping (after the first pass the pages are there and
//!   `vm_insert_page` says `EBUSY`: the figure is the lookup, the
//!   identity check and the PTE check);
//! - `binder-shrink`: `binder_alloc_free_page` of a page;
//! - `tcp-receive`: four pages queued and mapped by `tcp_zerocopy_receive`;
//! - `shstk-pop`: `shstk_pop_sigframe` of a token; the old form is
//!   upstream's speculate/retry (the form that deadlocked is not run).
//!
//! `p99` is the latency of one operation (including two clock reads);
//! `slow%` the share that took `mmap_lock` (old forms: counted by the
//! caller; helper forms: `VmaLockStats::wait`; the speculate form always
//! takes it); `skip%` the share the shrinker skipped.

use super::measure::{measure, percentile, Background, Plan};
use super::registry::{Context, Workload};
use super::report::{group, Table};
use pervma::{Advice, MapFlags, Mm, MmConfig, Prot};
use pervma_callers::shstk::{
    alloc_shstk, shstk_pop_sigframe, shstk_pop_sigframe_vma_locked, shstk_push_sigframe,
};
use pervma_callers::{
    alloc_page, BinderAlloc, Form, Frames, LruStatus, TcpSocket, TcpZerocopyReceive, Vm, PAGE,
};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The callers, in the order they print.
const CALLERS: [&str; 4] = [
    "binder-install",
    "binder-shrink",
    "tcp-receive",
    "shstk-pop",
];

/// Operations per batch.
const BATCH: u64 = 32;

/// Latency samples kept per figure.
const MAX_SAMPLES: usize = 1 << 20;

/// The `callers` workload.
pub(crate) struct Callers;

/// One process with every caller's mapping.
struct Process<'mm> {
    mm: &'mm Mm<Vm>,
    binder: BinderAlloc<'mm>,
    tcp: TcpSocket<'mm>,
    tcp_area: u64,
    tcp_pages: Vec<pervma_callers::Frame>,
    shstk: u64,
}

impl<'mm> Process<'mm> {
    fn new(mm: &'mm Mm<Vm>, frames: &std::sync::Arc<Frames>) -> Self {
        let binder = BinderAlloc::mmap(mm, frames.clone(), 1, 64 * PAGE).expect("binder_mmap");
        let tcp = TcpSocket::new(mm, frames.clone(), 2);
        let tcp_area = tcp.tcp_mmap(4 * PAGE).expect("tcp_mmap");
        let shstk = alloc_shstk(mm, 4 * PAGE).expect("alloc_shstk");
        let mut ssp = shstk + 2 * PAGE;
        shstk_push_sigframe(mm, &mut ssp).expect("push");
        Process {
            mm,
            binder,
            tcp,
            tcp_area,
            tcp_pages: (0..4).map(|_| alloc_page()).collect(),
            shstk,
        }
    }

    /// The caller's own VMA: `(start, len)`.
    fn vma_of(&self, caller: &str) -> (u64, u64) {
        match caller {
            "binder-install" | "binder-shrink" => (self.binder.vm_start(), 64 * PAGE),
            "tcp-receive" => (self.tcp_area, 4 * PAGE),
            _ => (self.shstk, 4 * PAGE),
        }
    }

    /// Operation `i` of `caller` in `form`; whether the shrinker skipped.
    fn op(&self, caller: &str, form: Form, i: u64) -> bool {
        match caller {
            "binder-install" => {
                let addr = self.binder.vm_start() + (i % 64) * PAGE;
                let page = alloc_page();
                let r = match form {
                    Form::Old => self.binder.binder_page_insert_old(addr, page),
                    Form::Helper => self.binder.binder_page_insert(addr, page),
                };
                black_box(r).ok();
                false
            }
            "binder-shrink" => {
                let index = (i % 64) as usize;
                let r = match form {
                    Form::Old => self.binder.binder_alloc_free_page_old(index),
                    Form::Helper => self.binder.binder_alloc_free_page(index),
                };
                r == LruStatus::Skip
            }
            "tcp-receive" => {
                self.tcp.deliver(self.tcp_pages.iter().cloned());
                let mut zc = TcpZerocopyReceive {
                    address: self.tcp_area,
                    length: 4 * PAGE,
                    recv_skip_hint: 0,
                };
                self.tcp
                    .tcp_zerocopy_receive(&mut zc, form)
                    .expect("tcp_zerocopy_receive");
                false
            }
            _ => {
                let mut ssp = self.shstk + 2 * PAGE - 8;
                match form {
                    Form::Old => shstk_pop_sigframe(self.mm, &mut ssp),
                    Form::Helper => shstk_pop_sigframe_vma_locked(self.mm, &mut ssp),
                }
                .expect("shstk_pop_sigframe");
                false
            }
        }
    }

    /// How often `caller`'s `form` took `mmap_lock` so far, as counted by
    /// the caller (old forms) or by `Mm::stats` (the helper).
    fn slow(&self, caller: &str, form: Form) -> u64 {
        match (caller, form) {
            (_, Form::Helper) => self.mm.stats().wait,
            ("tcp-receive", _) => self.tcp.counts.get().0,
            ("shstk-pop", _) => 0, // counted per operation below
            _ => self.binder.counts.get().0,
        }
    }
}

impl Workload for Callers {
    fn name(&self) -> &'static str {
        "callers"
    }

    fn run(&self, cx: &Context<'_>) -> Vec<Table> {
        let mut table = Table::new(
            "callers",
            "the series' callers, old form (lock_vma_under_rcu, else mmap_lock) and converted \
             (lock_vma), beside a writer on other VMAs or on the caller's own VMA",
            "op",
        );
        // A quarter of the other workloads' time per figure: 24 figures.
        let plan = Plan {
            duration: (cx.plan.duration / 4).max(Duration::from_millis(1)),
            warmup: (cx.plan.warmup / 4).max(Duration::from_millis(1)),
            ..cx.plan
        };
        let frames = Frames::new();
        let mm: Mm<Vm> = Mm::with_backend(MmConfig::default(), frames.clone());
        let p = Process::new(&mm, &frames);
        for caller in CALLERS {
            let (own, own_len) = p.vma_of(caller);
            let other = |stop: &AtomicBool| {
                while !stop.load(Relaxed) {
                    let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
                    let a = mm.mmap(0, PAGE, Prot::READ, flags, None, Vm::Anon);
                    mm.munmap(a.expect("mmap"), PAGE).expect("munmap");
                }
            };
            let on_own = |stop: &AtomicBool| {
                while !stop.load(Relaxed) {
                    mm.madvise(own, own_len, Advice::HugePage).expect("madvise");
                    mm.madvise(own, own_len, Advice::NoHugePage)
                        .expect("madvise");
                }
            };
            let writers: [(&str, &[Background<'_>]); 3] = [
                ("none", &[]),
                ("other VMAs", &[&other]),
                ("own VMA", &[&on_own]),
            ];
            for (writer, bg) in writers {
                for (form, name) in [(Form::Old, "old"), (Form::Helper, "lock_vma")] {
                    cx.progress
                        .set(format!("callers {caller} writer={writer} {name}"));
                    let samples = Mutex::new(Vec::new());
                    let (ops, skips, slow_ops) =
                        (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
                    let slow0 = AtomicU64::new(p.slow(caller, form));
                    let reset = || {
                        samples.lock().unwrap().clear();
                        ops.store(0, Relaxed);
                        skips.store(0, Relaxed);
                        slow_ops.store(0, Relaxed);
                        slow0.store(p.slow(caller, form), Relaxed);
                    };
                    let summary = measure(&plan, 1, bg, &reset, cx.progress, |_| {
                        let (p, samples, ops, skips, slow_ops) =
                            (&p, &samples, &ops, &skips, &slow_ops);
                        let mut local = Vec::with_capacity(BATCH as usize);
                        let mut i = 0;
                        move || {
                            let mut skipped = 0;
                            for _ in 0..BATCH {
                                let t = Instant::now();
                                skipped += p.op(caller, form, i) as u64;
                                local.push(t.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                                i += 1;
                            }
                            if caller == "shstk-pop" && form == Form::Old {
                                slow_ops.fetch_add(BATCH, Relaxed); // mmap_read_lock each time
                            }
                            skips.fetch_add(skipped, Relaxed);
                            ops.fetch_add(BATCH, Relaxed);
                            let mut all = samples.lock().unwrap();
                            if all.len() < MAX_SAMPLES {
                                all.extend_from_slice(&local);
                            }
                            local.clear();
                            BATCH
                        }
                    });
                    let n = ops.load(Relaxed).max(1) as f64;
                    let slow = p.slow(caller, form) - slow0.load(Relaxed) + slow_ops.load(Relaxed);
                    let mut v: Vec<u64> = samples
                        .into_inner()
                        .unwrap()
                        .into_iter()
                        .map(u64::from)
                        .collect();
                    v.sort_unstable();
                    table.push(
                        name,
                        group![caller = caller, writer = writer],
                        summary,
                        vec![
                            ("p99", percentile(&v, 99.0) as f64),
                            ("slow%", 100.0 * (slow as f64 / n).min(1.0)),
                            ("skip%", 100.0 * skips.load(Relaxed) as f64 / n),
                        ],
                    );
                }
            }
        }
        drop(p);
        vec![table]
    }
}
