//! `write`: the writers' own cost among N VMAs, on one thread. `mmap` +
//! `munmap` of one page where the strategy chooses (pervma and the kernel
//! search the gap tree; range maps without a gap search use a fixed
//! address), and an `mprotect` that splits a 3-page VMA in three plus the
//! one that merges it back (one operation = the pair).

use super::kernel::{self, Mapping};
use super::measure::{measure, Summary};
use super::registry::{Context, Workload};
use super::report::{group, Table};
use super::strategy::{with_strategy, Kind, Layout, Strategy, WithStrategy, P};

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

struct Run<'a, 'c> {
    cx: &'a Context<'c>,
    layout: Layout,
    kind: Kind,
}

impl WithStrategy for Run<'_, '_> {
    type Out = Vec<Summary>;
    fn run<S: Strategy>(self, s: &S) -> Vec<Summary> {
        let split = s.map(Some(self.layout.end()), 3 * P);
        OPS.iter()
            .map(|&op| {
                self.cx.progress.set(format!(
                    "write vmas={} {} {}",
                    self.layout.n,
                    op.name(),
                    self.kind.name()
                ));
                measure(&self.cx.plan, 1, &[], &|| {}, self.cx.progress, |_| {
                    move || {
                        for _ in 0..BATCH {
                            match op {
                                Op::MmapMunmap => {
                                    let a = s.map(None, P);
                                    s.unmap(a, P);
                                }
                                Op::MprotectSplitMerge => {
                                    s.protect(split + P, P, false);
                                    s.protect(split + P, P, true);
                                }
                            }
                        }
                        BATCH
                    }
                })
            })
            .collect()
    }
}

/// The live kernel doing the same among `n` real VMAs of this process.
fn kernel_row(cx: &Context<'_>, n: u64) -> Vec<Summary> {
    let _vmas = kernel::Vmas::new(n as usize).expect("mapping the kernel layout");
    let split = Mapping::new(3).expect("mmap");
    OPS.iter()
        .map(|&op| {
            cx.progress
                .set(format!("write vmas={n} {} kernel", op.name()));
            measure(&cx.plan, 1, &[], &|| {}, cx.progress, |_| {
                let split = &split;
                move || {
                    for _ in 0..BATCH {
                        match op {
                            Op::MmapMunmap => kernel::mmap_munmap_page(),
                            Op::MprotectSplitMerge => {
                                split.protect(1, 1, libc::PROT_READ).expect("mprotect");
                                split
                                    .protect(1, 1, libc::PROT_READ | libc::PROT_WRITE)
                                    .expect("mprotect");
                            }
                        }
                    }
                    BATCH
                }
            })
        })
        .collect()
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
            let mut rows: Vec<(&str, Vec<Summary>)> = KINDS
                .iter()
                .map(|&kind| {
                    (
                        kind.name(),
                        with_strategy(kind, layout, Run { cx, layout, kind }),
                    )
                })
                .collect();
            rows.push(("kernel", kernel_row(cx, n)));
            for (i, op) in OPS.iter().enumerate() {
                for (name, sums) in &rows {
                    table.push(
                        name,
                        group![vmas = n, op = op.name()],
                        sums[i].clone(),
                        vec![],
                    );
                }
            }
        }
        vec![table]
    }
}
