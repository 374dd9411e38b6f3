//! `lookup`: each thread locks the VMA at a random address among N VMAs,
//! reads its payload and unlocks. The addresses are drawn before the
//! clock starts, so the random generator's cost is not in the figure.

use super::measure::{measure, Background, Summary};
use super::registry::{Context, Workload};
use super::report::{group, Table};
use super::strategy::{with_strategy, Kind, Layout, Strategy, WithStrategy};
use std::hint::black_box;

/// Lookups per batch (between two looks at the stop flag).
const BATCH: usize = 256;
/// Addresses per thread: 128 KiB, drawn once.
const ADDRS: usize = 1 << 14;

/// Runs `threads` readers doing lookups on `s` (with `background`
/// threads beside them) and returns their per-thread ns/lookup.
pub(crate) fn readers<S: Strategy>(
    cx: &Context<'_>,
    s: &S,
    layout: Layout,
    threads: usize,
    background: &[Background<'_>],
) -> Summary {
    measure(&cx.plan, threads, background, &|| {}, cx.progress, |t| {
        let addrs = layout.random_addrs(t as u64, ADDRS);
        let mut i = 0;
        move || {
            for _ in 0..BATCH {
                let a = addrs[i % ADDRS];
                i += 1;
                black_box(s.lookup(black_box(a)));
            }
            BATCH as u64
        }
    })
}

/// The `lookup` workload.
pub(crate) struct Lookup;

struct AllThreads<'a, 'c> {
    cx: &'a Context<'c>,
    layout: Layout,
    threads: &'a [usize],
    label: &'a dyn Fn(usize) -> String,
}

impl WithStrategy for AllThreads<'_, '_> {
    type Out = Vec<Summary>;
    fn run<S: Strategy>(self, s: &S) -> Vec<Summary> {
        self.threads
            .iter()
            .map(|&t| {
                self.cx.progress.set((self.label)(t));
                readers(self.cx, s, self.layout, t, &[])
            })
            .collect()
    }
}

impl Workload for Lookup {
    fn name(&self) -> &'static str {
        "lookup"
    }

    fn run(&self, cx: &Context<'_>) -> Vec<Table> {
        let mut table = Table::new(
            "lookup",
            "lock the VMA at a random address, read its payload, unlock (per-thread cost)",
            "op",
        );
        let threads = cx.args.threads_or(&[1, 2]);
        for n in cx.args.vmas_or(&[10, 1000, 30_000]) {
            let layout = Layout { n };
            let kinds = Kind::SHARED.into_iter().chain([Kind::BTreeMapUnlocked]);
            let mut rows = Vec::new();
            for kind in kinds {
                // The unlocked map is the reference for one thread only.
                let ts: Vec<usize> = match kind {
                    Kind::BTreeMapUnlocked => threads.iter().copied().filter(|&t| t == 1).collect(),
                    _ => threads.clone(),
                };
                let label = |t: usize| format!("lookup vmas={n} threads={t} {}", kind.name());
                let w = AllThreads {
                    cx,
                    layout,
                    threads: &ts,
                    label: &label,
                };
                for (t, s) in ts.iter().zip(with_strategy(kind, layout, w)) {
                    rows.push((*t, kind, s));
                }
            }
            // Print grouped by thread count, in strategy order.
            for &t in &threads {
                for (_, kind, s) in rows.iter().filter(|r| r.0 == t) {
                    table.push(
                        kind.name(),
                        group![vmas = n, threads = t],
                        s.clone(),
                        vec![],
                    );
                }
            }
        }
        vec![table]
    }
}
