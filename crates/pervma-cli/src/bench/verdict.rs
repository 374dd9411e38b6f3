//! The targets, computed from the run: reported, never asserted.

use super::report::{Row, Table};
use serde_json::{json, Value};

/// Which side of the limit meets the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    AtMost,
    AtLeast,
}

/// One target and what this run measured for it.
#[derive(Clone, Debug)]
pub(crate) struct Verdict {
    pub(crate) target: &'static str,
    pub(crate) cmp: Cmp,
    pub(crate) limit: f64,
    /// `None` when the run did not measure it (a workload or size left
    /// out).
    pub(crate) measured: Option<f64>,
    /// The same from on-CPU costs (see `Basis::Cpu`), where the machine
    /// reports CPU time: a second opinion on a busy machine.
    pub(crate) on_cpu: Option<f64>,
}

impl Verdict {
    pub(crate) fn met(&self) -> Option<bool> {
        self.measured.map(|m| self.meets(m))
    }

    fn meets(&self, m: f64) -> bool {
        match self.cmp {
            Cmp::AtMost => m <= self.limit,
            Cmp::AtLeast => m >= self.limit,
        }
    }

    fn margin(&self) -> String {
        let Some(m) = self.measured else {
            return "not measured in this run".into();
        };
        let off = (m / self.limit - 1.0) * 100.0;
        match (self.met(), self.cmp) {
            (Some(true), Cmp::AtMost) => format!("{:.0}% under the limit", -off),
            (Some(true), Cmp::AtLeast) => format!("{off:.0}% over the limit"),
            (_, Cmp::AtMost) => format!("{off:.0}% over the limit"),
            (_, Cmp::AtLeast) => format!("{:.0}% under the limit", -off),
        }
    }

    pub(crate) fn json(&self) -> Value {
        json!({
            "target": self.target,
            "comparison": match self.cmp { Cmp::AtMost => "<=", Cmp::AtLeast => ">=" },
            "limit": self.limit,
            "measured": self.measured,
            "met": self.met(),
            "measured_on_cpu": self.on_cpu,
            "met_on_cpu": self.on_cpu.map(|m| self.meets(m)),
        })
    }
}

fn table<'a>(tables: &'a [Table], workload: &str) -> Option<&'a Table> {
    tables.iter().find(|t| t.workload == workload)
}

/// What a cost is measured in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Basis {
    /// Wall-clock time per operation (the figures of the tables).
    Wall,
    /// Wall-clock time times the share of it the threads spent on a CPU:
    /// the time other processes took from them set aside.
    Cpu,
}

fn cost(r: &Row, basis: Basis) -> Option<f64> {
    match basis {
        Basis::Wall => Some(r.summary.ns.median),
        Basis::Cpu => Some(r.summary.ns.median * r.summary.on_cpu?),
    }
}

/// The cost of `a` over that of `b`, each found by strategy and group.
fn cost_ratio(
    tables: &[Table],
    workload: &str,
    (a, ga): (&str, &[(&str, &str)]),
    (b, gb): (&str, &[(&str, &str)]),
    basis: Basis,
) -> Option<f64> {
    let t = table(tables, workload)?;
    Some(cost(t.find(a, ga)?, basis)? / cost(t.find(b, gb)?, basis)?)
}

/// The largest VMA count `workload` ran with.
fn largest_n(tables: &[Table], workload: &str) -> Option<String> {
    table(tables, workload)?
        .rows
        .iter()
        .filter_map(|r| r.group.iter().find(|(k, _)| *k == "vmas"))
        .map(|(_, v)| v.clone())
        .max_by_key(|v| v.parse::<u64>().unwrap_or(0))
}

/// The targets: name, comparison, limit.
const TARGETS: [(&str, Cmp, f64); 9] = [
    (
        "lookup 1 thread, 1,000 VMAs: pervma / btreemap-unlocked",
        Cmp::AtMost,
        1.5,
    ),
    (
        "lookup 1 thread, 1,000 VMAs: pervma / skiplist",
        Cmp::AtMost,
        1.3,
    ),
    (
        "lookup 1 thread, 1,000 VMAs: pervma / rwlock-btreemap",
        Cmp::AtMost,
        1.0,
    ),
    (
        "lookup 1 thread, 1,000 VMAs: pervma / parking-lot-btreemap",
        Cmp::AtMost,
        1.0,
    ),
    (
        "lookup 1,000 VMAs: pervma per-thread cost, 2 threads / 1 thread",
        Cmp::AtMost,
        1.15,
    ),
    (
        "churn mmap+munmap, 1,000 VMAs: pervma reader keeps of solo",
        Cmp::AtLeast,
        0.95,
    ),
    (
        "churn mprotect, 1,000 VMAs: pervma reader keeps of solo",
        Cmp::AtLeast,
        0.95,
    ),
    (
        "write mmap+munmap, 30,000 VMAs: pervma / kernel",
        Cmp::AtMost,
        0.15,
    ),
    (
        "maps, largest N: pervma per line / kernel per line",
        Cmp::AtMost,
        0.5,
    ),
];

/// The measured value of each of [`TARGETS`], on `basis`.
fn measured(tables: &[Table], basis: Basis) -> [Option<f64>; 9] {
    let one: &[(&str, &str)] = &[("vmas", "1000"), ("threads", "1")];
    let two: &[(&str, &str)] = &[("vmas", "1000"), ("threads", "2")];
    let lookup = |b| cost_ratio(tables, "lookup", ("pervma", one), (b, one), basis);
    let kept = |writer| {
        let t = table(tables, "churn")?;
        let g = [("vmas", "1000"), ("threads", "1"), ("writer", writer)];
        let key = if basis == Basis::Wall {
            "kept"
        } else {
            "kept(cpu)"
        };
        let row = t.find("pervma", &g)?;
        row.extra.iter().find(|(k, _)| *k == key).map(|e| e.1)
    };
    let write: &[(&str, &str)] = &[("vmas", "30000"), ("op", "mmap+munmap")];
    let maps = || {
        let n = largest_n(tables, "maps")?;
        let g: &[(&str, &str)] = &[("vmas", &n)];
        cost_ratio(tables, "maps", ("pervma", g), ("kernel", g), basis)
    };
    [
        lookup("btreemap-unlocked"),
        lookup("skiplist"),
        lookup("rwlock-btreemap"),
        lookup("parking-lot-btreemap"),
        cost_ratio(tables, "lookup", ("pervma", two), ("pervma", one), basis),
        kept("mmap+munmap"),
        kept("mprotect"),
        cost_ratio(tables, "write", ("pervma", write), ("kernel", write), basis),
        maps(),
    ]
}

/// Every target, measured from `tables`.
pub(crate) fn verdicts(tables: &[Table]) -> Vec<Verdict> {
    let wall = measured(tables, Basis::Wall);
    let cpu = measured(tables, Basis::Cpu);
    TARGETS
        .iter()
        .zip(wall.into_iter().zip(cpu))
        .map(|(&(target, cmp, limit), (measured, on_cpu))| Verdict {
            target,
            cmp,
            limit,
            measured,
            on_cpu,
        })
        .collect()
}

/// The verdict section as text.
pub(crate) fn render(verdicts: &[Verdict]) -> String {
    let mut out = String::from(
        "== verdict (targets of issue 5; reported, not asserted; on-CPU: the same \
         from costs with the time other processes took set aside)\n",
    );
    let w = verdicts.iter().map(|v| v.target.len()).max().unwrap_or(0);
    for v in verdicts {
        let cmp = match v.cmp {
            Cmp::AtMost => "<=",
            Cmp::AtLeast => ">=",
        };
        let measured = v.measured.map_or("-".to_string(), |m| format!("{m:.2}"));
        let met = match v.met() {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "n/a",
        };
        let on_cpu = v.on_cpu.map_or(String::new(), |m| {
            let met = if v.meets(m) { "met" } else { "missed" };
            format!("on-CPU {m:.2} {met}")
        });
        out.push_str(&format!(
            "{:<w$}  {cmp} {:<5} {:>7}  {:<6}  {:<24}  {}\n",
            v.target,
            v.limit,
            measured,
            met,
            v.margin(),
            on_cpu
        ));
    }
    out
}
