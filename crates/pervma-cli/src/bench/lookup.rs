//! `lookup`: each thread locks the VMA at a random address among N VMAs,
//! reads its payload and unlocks. The addresses are drawn before the
//! clock starts, so the random generator's cost is not in the figure.
//! Every strategy is built once per N and the figures of one N are
//! measured interleaved (see [`interleave`]).
//!
//! A second table, `lookup-sharing`, asks what readers of *different*
//! VMAs cost each other (1,000 VMAs, pervma against the unlocked
//! `BTreeMap`, the physical limit of scaling here): each thread on VMAs
//! of its own that neighbour the other's (thread `t` takes the VMAs
//! `i % threads == t`: adjacent VMAs, likely sharing cache lines), all
//! threads on one VMA (the worst case for any reference count), and each
//! thread on one VMA far from the other's.

use super::measure::{interleave, measure, Background, Plan, Summary};
use super::registry::{Context, Workload};
use super::report::{group, Table};
use super::strategy::{Built, Kind, Layout, Strategy, WithStrategy, P};
use std::hint::black_box;

/// Lookups per batch (between two looks at the stop flag).
const BATCH: usize = 256;
/// Addresses per thread: 128 KiB, drawn once.
const ADDRS: usize = 1 << 14;

/// Which VMAs each reader thread looks up.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// Any VMA, at random.
    Random,
    /// Thread `t` of `threads` takes the VMAs `i % threads == t`.
    Neighbours,
    /// Every thread takes VMA 0.
    Same,
    /// Thread `t` takes one VMA, `t * n / threads`.
    Apart,
}

impl Pattern {
    fn name(self) -> &'static str {
        match self {
            Pattern::Random => "random",
            Pattern::Neighbours => "neighbours",
            Pattern::Same => "same VMA",
            Pattern::Apart => "apart",
        }
    }

    /// `ADDRS` addresses (anywhere within their pages) for thread `t`.
    fn addrs(self, layout: Layout, t: usize, threads: usize) -> Vec<u64> {
        let random = layout.random_addrs(t as u64, ADDRS);
        let (n, t, threads) = (layout.n, t as u64, threads as u64);
        random
            .into_iter()
            .map(|a| {
                let index = (a - layout.start(0)) / (2 * P);
                let offset = a % P;
                let index = match self {
                    Pattern::Random => index,
                    Pattern::Neighbours => (index - index % threads + t) % n,
                    Pattern::Same => 0,
                    Pattern::Apart => t * n / threads,
                };
                layout.start(index) + offset
            })
            .collect()
    }
}

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
    readers_on(cx, plan, s, layout, threads, Pattern::Random, background)
}

/// [`readers`] with the addresses of `pattern`.
fn readers_on<S: Strategy>(
    cx: &Context<'_>,
    plan: &Plan,
    s: &S,
    layout: Layout,
    threads: usize,
    pattern: Pattern,
    background: &[Background<'_>],
) -> Summary {
    measure(plan, threads, background, &|| {}, cx.progress, |t| {
        let addrs = pattern.addrs(layout, t, threads);
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
    pattern: Pattern,
}

impl WithStrategy for Readers<'_, '_> {
    type Out = Summary;
    fn run<S: Strategy>(self, s: &S) -> Summary {
        let (cx, plan, layout, threads) = (self.cx, self.plan, self.layout, self.threads);
        readers_on(cx, plan, s, layout, threads, self.pattern, &[])
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
            // The figures, in table order.
            let figures: Vec<(usize, usize)> = threads
                .iter()
                .flat_map(|&t| (0..kinds.len()).map(move |k| (t, k)))
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
                    pattern: Pattern::Random,
                })
            });
            for (&(t, k), s) in figures.iter().zip(sums) {
                table.push(kinds[k].name(), group![vmas = n, threads = t], s, vec![]);
            }
            drop(built);
            pervma::rcu_barrier();
        }
        vec![table, sharing(cx, &threads)]
    }
}

/// The `lookup-sharing` table (see the module docs).
fn sharing(cx: &Context<'_>, threads: &[usize]) -> Table {
    let mut table = Table::new(
        "lookup-sharing",
        "lookups by threads on neighbouring VMAs, on one VMA, on VMAs far apart \
         (1,000 VMAs; per-thread cost)",
        "op",
    );
    let kinds = [Kind::Pervma, Kind::BTreeMapUnlocked];
    let patterns = [Pattern::Neighbours, Pattern::Same, Pattern::Apart];
    let layout = Layout { n: 1000 };
    cx.progress.set("lookup-sharing: building".to_string());
    let built: Vec<Built> = kinds.iter().map(|&k| Built::new(k, layout)).collect();
    pervma::rcu_barrier();
    let figures: Vec<(Pattern, usize, usize)> = patterns
        .iter()
        .flat_map(|&p| {
            threads
                .iter()
                .flat_map(move |&t| (0..kinds.len()).map(move |k| (p, t, k)))
        })
        .collect();
    let sums = interleave(&cx.plan, figures.len(), |i, round, plan| {
        let (pattern, t, k) = figures[i];
        cx.progress.set(format!(
            "lookup-sharing round {}/{} {} threads={t} {}",
            round + 1,
            cx.plan.reps,
            pattern.name(),
            kinds[k].name()
        ));
        built[k].visit(Readers {
            cx,
            plan,
            layout,
            threads: t,
            pattern,
        })
    });
    for (&(pattern, t, k), s) in figures.iter().zip(sums) {
        let group = group![pattern = pattern.name(), threads = t];
        table.push(kinds[k].name(), group, s, vec![]);
    }
    drop(built);
    pervma::rcu_barrier();
    table
}
