//! `churn`: readers do `lookup` while another thread maps and unmaps (or
//! splits and re-merges with `mprotect`) an unrelated range of the same
//! address space. The figure that matters is `kept`: the readers'
//! throughput with churn over their throughput alone. `kept(cpu)` is the
//! same per unit of CPU time the readers got: on two cores the writer and
//! any other process take CPU time from the readers, which `kept` counts
//! and `kept(cpu)` sets aside (but a reader that blocks on a lock also
//! stops using CPU, so `kept(cpu)` flatters the locking strategies).
//!
//! The kernel row: readers take real page faults (touch a page of their
//! own mapping, `MADV_DONTNEED` it all every 256 pages) while another
//! thread does real `mmap`/`munmap` (or `mprotect`) elsewhere.

use super::kernel::{self, Mapping};
use super::lookup::readers;
use super::measure::{interleave, measure, Background, Plan, Summary};
use super::registry::{Context, Workload};
use super::report::{group, Table};
use super::strategy::{split_and_merge, Built, Kind, Layout, Strategy, WithStrategy, P};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// What the writer thread does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Writer {
    None,
    Mmap,
    Mprotect,
}

pub(crate) const WRITERS: [Writer; 3] = [Writer::None, Writer::Mmap, Writer::Mprotect];

impl Writer {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Writer::None => "none",
            Writer::Mmap => "mmap+munmap",
            Writer::Mprotect => "mprotect",
        }
    }
}

/// The `churn` workload.
pub(crate) struct Churn;

/// One repetition of one strategy's readers beside one writer.
struct Figure<'a, 'c> {
    cx: &'a Context<'c>,
    plan: &'a Plan,
    layout: Layout,
    threads: usize,
    writer: Writer,
}

impl WithStrategy for Figure<'_, '_> {
    type Out = Summary;
    fn run<S: Strategy>(self, s: &S) -> Summary {
        with_writer(s, self.layout, self.writer, |bg| {
            readers(self.cx, self.plan, s, self.layout, self.threads, bg)
        })
    }
}

/// The first address above the writers' ranges (free for other uses).
pub(crate) fn above_writers(layout: Layout) -> u64 {
    layout.end() + 0x120_0000
}

/// Runs `f` with `writer` as its background thread on `s`: `mmap`+`munmap`
/// of a page, or `mprotect` splitting and merging a 3-page VMA, in ranges
/// far above `layout` (below [`above_writers`]).
pub(crate) fn with_writer<S: Strategy, R>(
    s: &S,
    layout: Layout,
    writer: Writer,
    f: impl FnOnce(&[Background<'_>]) -> R,
) -> R {
    let far = layout.end() + 0x100_0000;
    let split = far + 0x10_0000;
    let mmap_writer = |stop: &AtomicBool| {
        while !stop.load(Relaxed) {
            let a = s.map(Some(far), P);
            s.unmap(a, P);
        }
    };
    let mprotect_writer = |stop: &AtomicBool| {
        while !stop.load(Relaxed) {
            split_and_merge(s, split);
        }
    };
    let bg: &[Background<'_>] = match writer {
        Writer::None => &[],
        Writer::Mmap => &[&mmap_writer],
        Writer::Mprotect => &[&mprotect_writer],
    };
    s.map(Some(split), 3 * P);
    let result = f(bg);
    s.unmap(split, 3 * P);
    result
}

/// The `kept` columns of a figure with churn against the same strategy's
/// figure alone: throughput kept, and the same per unit of CPU time (the
/// time other processes took set aside).
pub(crate) fn kept(alone: &Summary, with: &Summary) -> Vec<(&'static str, f64)> {
    let kept = alone.ns.median / with.ns.median;
    let mut extra = vec![("kept", kept)];
    if let (Some(a), Some(c)) = (alone.on_cpu, with.on_cpu) {
        extra.push(("kept(cpu)", kept * a / c));
    }
    extra
}

/// The kernel's figure: faulting readers, a real writer elsewhere (`split`
/// is the writer's 3-page mapping for `mprotect`).
pub(crate) fn kernel_figure(
    cx: &Context<'_>,
    plan: &Plan,
    threads: usize,
    writer: Writer,
    split: &Mapping,
) -> Summary {
    let mmap_writer = |stop: &AtomicBool| {
        while !stop.load(Relaxed) {
            kernel::mmap_munmap_page();
        }
    };
    let mprotect_writer = |stop: &AtomicBool| {
        while !stop.load(Relaxed) {
            split.split_and_merge();
        }
    };
    let bg: &[Background<'_>] = match writer {
        Writer::None => &[],
        Writer::Mmap => &[&mmap_writer],
        Writer::Mprotect => &[&mprotect_writer],
    };
    measure(plan, threads, bg, &|| {}, cx.progress, |_| {
        let area = Mapping::new(256).expect("mmap");
        let mut page = 0;
        move || {
            for _ in 0..64 {
                area.touch(page);
                page += 1;
                if page == area.pages() {
                    area.drop_pages().expect("madvise");
                    page = 0;
                }
            }
            64
        }
    })
}

impl Workload for Churn {
    fn name(&self) -> &'static str {
        "churn"
    }

    fn run(&self, cx: &Context<'_>) -> Vec<Table> {
        let mut table = Table::new(
            "churn",
            "readers' lookups (kernel: page faults) while a writer churns an unrelated range; \
             kept = throughput with churn / alone",
            "op",
        );
        for n in cx.args.vmas_or(&[1000]) {
            let layout = Layout { n };
            cx.progress.set(format!("churn vmas={n}: building"));
            let built: Vec<Built> = Kind::SHARED
                .iter()
                .map(|&k| Built::new(k, layout))
                .collect();
            pervma::rcu_barrier();
            let _vmas = kernel::Vmas::new(n as usize).expect("mapping the kernel layout");
            let split = Mapping::new(3).expect("mmap");
            // `None` is the kernel.
            let who: Vec<Option<usize>> = (0..built.len()).map(Some).chain([None]).collect();
            let name = |w: Option<usize>| w.map_or("kernel", |k| Kind::SHARED[k].name());
            for threads in cx.args.threads_or(&[1]) {
                let figures: Vec<(Writer, Option<usize>)> = WRITERS
                    .iter()
                    .flat_map(|&c| who.iter().map(move |&w| (c, w)))
                    .collect();
                let sums = interleave(&cx.plan, figures.len(), |i, round, plan| {
                    let (writer, w) = figures[i];
                    cx.progress.set(format!(
                        "churn vmas={n} round {}/{} threads={threads} writer={} {}",
                        round + 1,
                        cx.plan.reps,
                        writer.name(),
                        name(w)
                    ));
                    match w {
                        Some(k) => built[k].visit(Figure {
                            cx,
                            plan,
                            layout,
                            threads,
                            writer,
                        }),
                        None => kernel_figure(cx, plan, threads, writer, &split),
                    }
                });
                let solo = |w: Option<usize>| {
                    let i = figures
                        .iter()
                        .position(|&f| f == (Writer::None, w))
                        .unwrap();
                    sums[i].clone()
                };
                for (&(writer, w), s) in figures.iter().zip(&sums) {
                    table.push(
                        name(w),
                        group![vmas = n, threads = threads, writer = writer.name()],
                        s.clone(),
                        kept(&solo(w), s),
                    );
                }
            }
            drop(built);
            pervma::rcu_barrier();
        }
        vec![table]
    }
}
