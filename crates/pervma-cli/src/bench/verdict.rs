//! The targets, computed from the run: reported, never asserted.

use super::report::Table;
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
}

impl Verdict {
    pub(crate) fn met(&self) -> Option<bool> {
        self.measured.map(|m| match self.cmp {
            Cmp::AtMost => m <= self.limit,
            Cmp::AtLeast => m >= self.limit,
        })
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
        })
    }
}

fn table<'a>(tables: &'a [Table], workload: &str) -> Option<&'a Table> {
    tables.iter().find(|t| t.workload == workload)
}

/// Median cost of `a` over that of `b` in the same group of `workload`.
fn cost_ratio(
    tables: &[Table],
    workload: &str,
    a: &str,
    b: &str,
    group: &[(&str, &str)],
) -> Option<f64> {
    let t = table(tables, workload)?;
    Some(t.find(a, group)?.summary.ns.median / t.find(b, group)?.summary.ns.median)
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

/// Every target, measured from `tables`.
pub(crate) fn verdicts(tables: &[Table]) -> Vec<Verdict> {
    let one = [("vmas", "1000"), ("threads", "1")];
    let two = [("vmas", "1000"), ("threads", "2")];
    let lookup = |b| cost_ratio(tables, "lookup", "pervma", b, &one);
    let kept = |writer| {
        let t = table(tables, "churn")?;
        let g = [("vmas", "1000"), ("threads", "1"), ("writer", writer)];
        t.find("pervma", &g)?
            .extra
            .iter()
            .find(|(k, _)| *k == "kept")
            .map(|e| e.1)
    };
    let scaling = || {
        let t = table(tables, "lookup")?;
        Some(t.find("pervma", &two)?.summary.ns.median / t.find("pervma", &one)?.summary.ns.median)
    };
    let maps = || {
        let n = largest_n(tables, "maps")?;
        cost_ratio(tables, "maps", "pervma", "kernel", &[("vmas", &n)])
    };
    let v = |target, cmp, limit, measured| Verdict {
        target,
        cmp,
        limit,
        measured,
    };
    vec![
        v(
            "lookup 1 thread, 1,000 VMAs: pervma / btreemap-unlocked",
            Cmp::AtMost,
            1.5,
            lookup("btreemap-unlocked"),
        ),
        v(
            "lookup 1 thread, 1,000 VMAs: pervma / skiplist",
            Cmp::AtMost,
            1.3,
            lookup("skiplist"),
        ),
        v(
            "lookup 1 thread, 1,000 VMAs: pervma / rwlock-btreemap",
            Cmp::AtMost,
            1.0,
            lookup("rwlock-btreemap"),
        ),
        v(
            "lookup 1 thread, 1,000 VMAs: pervma / parking-lot-btreemap",
            Cmp::AtMost,
            1.0,
            lookup("parking-lot-btreemap"),
        ),
        v(
            "lookup 1,000 VMAs: pervma per-thread cost, 2 threads / 1 thread",
            Cmp::AtMost,
            1.15,
            scaling(),
        ),
        v(
            "churn mmap+munmap, 1,000 VMAs: pervma reader keeps of solo",
            Cmp::AtLeast,
            0.95,
            kept("mmap+munmap"),
        ),
        v(
            "churn mprotect, 1,000 VMAs: pervma reader keeps of solo",
            Cmp::AtLeast,
            0.95,
            kept("mprotect"),
        ),
        v(
            "write mmap+munmap, 30,000 VMAs: pervma / kernel",
            Cmp::AtMost,
            0.15,
            cost_ratio(
                tables,
                "write",
                "pervma",
                "kernel",
                &[("vmas", "30000"), ("op", "mmap+munmap")],
            ),
        ),
        v(
            "maps, largest N: pervma per line / kernel per line",
            Cmp::AtMost,
            0.5,
            maps(),
        ),
    ]
}

/// The verdict section as text.
pub(crate) fn render(verdicts: &[Verdict]) -> String {
    let mut out = String::from("== verdict (targets of issue 5; reported, not asserted)\n");
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
        out.push_str(&format!(
            "{:<w$}  {cmp} {:<5} {:>7}  {:<6}  {}\n",
            v.target,
            v.limit,
            measured,
            met,
            v.margin()
        ));
    }
    out
}
