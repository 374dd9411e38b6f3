//! `write`: the writers' own cost among N VMAs, on one thread. `mmap` +
//! `munmap` of one page where the strategy chooses (pervma and the kernel
//! search the gap tree; range maps without a gap search use a fixed
//! address), and an `mprotect` that splits a 3-page VMA in three plus the
//! one that merges it back (one operation = the pair).

use super::kernel::{self, Mapping};
use super::measure::{interleave, measure, Plan, Progress, Summary};
use super::registry::{Context, Workload};
use super::report::{group, Table};
use super::strategy::{split_and_merge, Built, Kind, Layout, Strategy, WithStrategy, P};

/// Operations per batch.
const BATCH: u64 = 16;

/// What is measured.
#[derive(Clone, Copy)]
enum Op {
    MmapMunmap,
    MprotectSplitMerge,
}

const OPS: [Op; 2] = [Op::MmapMunmap, Op::MprotectSplitMerge];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::MmapMunmap => "mmap+munmap",
            Op::MprotectSplitMerge => "mprotect split+merge",
        }
    }
}

/// The strategies with writers (the three pervma lookups share one
/// writer, so one row stands for them).
const KINDS: [Kind; 4] = [
    Kind::Pervma,
    Kind::RwLockBTreeMap,
    Kind::ParkingLotBTreeMap,
    Kind::SkipList,
];

/// One repetition of one operation on one strategy; `split` is the
/// strategy's 3-page VMA for `mprotect`.
struct Figure<'a> {
    plan: &'a Plan,
    progress: &'a Progress,
    op: Op,
    split: u64,
}

impl WithStrategy for Figure<'_> {
    type Out = Summary;
    fn run<S: Strategy>(self, s: &S) -> Summary {
        let (op, split) = (self.op, self.split);
        measure(self.plan, 1, &[], &|| {}, self.progress, |_| {
            move || {
                for _ in 0..BATCH {
                    match op {
                        Op::MmapMunmap => {
                            let a = s.map(None, P);
                            s.unmap(a, P);
                        }
                        Op::MprotectSplitMerge => {
                            split_and_merge(s, split);
                        }
                    }
                }
                BATCH
            }
        })
    }
}

/// The live kernel doing the same among the real VMAs of this process;
/// `split` is a 3-page mapping for `mprotect`.
fn kernel_figure(plan: &Plan, progress: &Progress, op: Op, split: &Mapping) -> Summary {
    measure(plan, 1, &[], &|| {}, progress, |_| {
        move || {
            for _ in 0..BATCH {
                match op {
                    Op::MmapMunmap => kernel::mmap_munmap_page(),
                    Op::MprotectSplitMerge => {
                        split.split_and_merge();
                    }
                }
            }
            BATCH
        }
    })
}

/// The `write` workload.
pub(crate) struct Write;

impl Workload for Write {
    fn name(&self) -> &'static str {
        "write"
    }

    fn run(&self, cx: &Context<'_>) -> Vec<Table> {
        let mut table = Table::new(
            "write",
            "one writer among N VMAs: mmap+munmap of a page, mprotect split and re-merge",
            "op",
        );
        for n in cx.args.vmas_or(&[1000, 30_000]) {
            let layout = Layout { n };
            cx.progress.set(format!("write vmas={n}: building"));
            let built: Vec<(Built, u64)> = KINDS
                .iter()
                .map(|&k| {
                    let b = Built::new(k, layout);
                    let split = b.visit(MapSplit(layout.end()));
                    (b, split)
                })
                .collect();
            pervma::rcu_barrier();
            let _vmas = kernel::Vmas::new(n as usize).expect("mapping the kernel layout");
            let split = Mapping::new(3).expect("mmap");
            // `None` is the kernel.
            let name = |w: Option<usize>| w.map_or("kernel", |k| KINDS[k].name());
            let figures: Vec<(Op, Option<usize>)> = OPS
                .iter()
                .flat_map(|&op| {
                    (0..KINDS.len())
                        .map(Some)
                        .chain([None])
                        .map(move |w| (op, w))
                })
                .collect();
            let sums = interleave(&cx.plan, figures.len(), |i, round, plan| {
                let (op, w) = figures[i];
                cx.progress.set(format!(
                    "write vmas={n} round {}/{} {} {}",
                    round + 1,
                    cx.plan.reps,
                    op.name(),
                    name(w)
                ));
                match w {
                    Some(k) => built[k].0.visit(Figure {
                        plan,
                        progress: cx.progress,
                        op,
                        split: built[k].1,
                    }),
                    None => kernel_figure(plan, cx.progress, op, &split),
                }
            });
            for (&(op, w), s) in figures.iter().zip(sums) {
                table.push(name(w), group![vmas = n, op = op.name()], s, vec![]);
            }
            drop(built);
            pervma::rcu_barrier();
        }
        vec![table]
    }
}

/// Maps the 3-page VMA that `mprotect` splits, at the given address.
struct MapSplit(u64);

impl WithStrategy for MapSplit {
    type Out = u64;
    fn run<S: Strategy>(self, s: &S) -> u64 {
        s.map(Some(self.0), 3 * P)
    }
}
