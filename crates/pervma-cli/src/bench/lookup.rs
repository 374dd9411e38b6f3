//! `lookup`: each thread locks the VMA at a random address among N VMAs,
//! reads its payload and unlocks. The addresses are drawn before the
//! clock starts, so the random generator's cost is not in the figure.
//! Every strategy is built once per N and the figures of one N are
//! measured interleaved (see [`interleave`]).

use super::measure::{interleave, measure, Background, Plan, Summary};
use super::registry::{Context, Workload};
use super::report::{group, Table};
use super::strategy::{Built, Kind, Layout, Strategy, WithStrategy};
use std::hint::black_box;

/// Lookups per batch (between two looks at the stop flag).
const BATCH: usize = 256;
/// Addresses per thread: 128 KiB, drawn once.
const ADDRS: usize = 1 << 14;

/// Runs `threads` readers doing lookups on `s` (with `background`
/// threads beside them) and returns their per-thread ns/lookup.
pub(crate) fn readers<S: Strategy>(
    cx: &Context<'_>,
    plan: &Plan,
    s: &S,
    layout: Layout,
    threads: usize,
    background: &[Background<'_>],
) -> Summary {
    measure(plan, threads, background, &|| {}, cx.progress, |t| {
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

/// One repetition of readers alone.
struct Readers<'a, 'c> {
    cx: &'a Context<'c>,
    plan: &'a Plan,
    layout: Layout,
    threads: usize,
}

impl WithStrategy for Readers<'_, '_> {
    type Out = Summary;
    fn run<S: Strategy>(self, s: &S) -> Summary {
        readers(self.cx, self.plan, s, self.layout, self.threads, &[])
    }
}

/// The `lookup` workload.
pub(crate) struct Lookup;

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
        let kinds: Vec<Kind> = Kind::SHARED
            .into_iter()
            .chain([Kind::BTreeMapUnlocked])
            .collect();
        for n in cx.args.vmas_or(&[10, 1000, 30_000]) {
            let layout = Layout { n };
            cx.progress.set(format!("lookup vmas={n}: building"));
            let built: Vec<Built> = kinds.iter().map(|&k| Built::new(k, layout)).collect();
            pervma::rcu_barrier();
            // The figures, in table order; the unlocked map is the
            // reference for one thread only.
            let figures: Vec<(usize, usize)> = threads
                .iter()
                .flat_map(|&t| (0..kinds.len()).map(move |k| (t, k)))
                .filter(|&(t, k)| kinds[k] != Kind::BTreeMapUnlocked || t == 1)
                .collect();
            let sums = interleave(&cx.plan, figures.len(), |i, round, plan| {
                let (t, k) = figures[i];
                cx.progress.set(format!(
                    "lookup vmas={n} round {}/{} threads={t} {}",
                    round + 1,
                    cx.plan.reps,
                    kinds[k].name()
                ));
                built[k].visit(Readers {
                    cx,
                    plan,
                    layout,
                    threads: t,
                })
            });
            for (&(t, k), s) in figures.iter().zip(sums) {
                table.push(kinds[k].name(), group![vmas = n, threads = t], s, vec![]);
            }
            drop(built);
            pervma::rcu_barrier();
        }
        vec![table]
    }
}
