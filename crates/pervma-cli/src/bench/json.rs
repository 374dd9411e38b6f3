//! `--json FILE`: every figure of the run, with the machine it ran on.

use super::machine::Machine;
use super::measure::Plan;
use super::report::Table;
use super::verdict::Verdict;
use serde_json::{json, Map, Value};

fn table(t: &Table) -> Value {
    let rows: Vec<Value> = t
        .rows
        .iter()
        .map(|r| {
            let group: Map<String, Value> = r
                .group
                .iter()
                .map(|(k, v)| {
                    let v = v.parse::<u64>().map_or_else(|_| json!(v), |n| json!(n));
                    (k.to_string(), v)
                })
                .collect();
            let extra: Map<String, Value> = r
                .extra
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            json!({
                "strategy": r.strategy,
                "group": group,
                "threads": r.summary.threads,
                "ns_per_op": {
                    "median": r.summary.ns.median,
                    "min": r.summary.ns.min,
                    "max": r.summary.ns.max,
                },
                "ns_per_op_reps": r.summary.reps,
                "ops_per_sec": r.summary.ops_per_sec,
                "on_cpu_share": r.summary.on_cpu,
                "ratio_to_first": r.ratio,
                "extra": extra,
            })
        })
        .collect();
    json!({
        "workload": t.workload,
        "title": t.title,
        "unit": t.unit,
        "rows": rows,
    })
}

/// The whole report.
pub(crate) fn report(
    machine: &Machine,
    plan: &Plan,
    tables: &[Table],
    verdicts: &[Verdict],
    wall_seconds: f64,
) -> Value {
    json!({
        "pervma_bench": 1,
        "machine": machine.json(),
        "command": std::env::args().collect::<Vec<_>>(),
        "plan": {
            "duration_ms": plan.duration.as_secs_f64() * 1e3,
            "reps": plan.reps,
            "warmup_ms": plan.warmup.as_secs_f64() * 1e3,
            "interleaved": "lookup, churn, write and maps run one repetition of every figure of a VMA count per round; helper runs its figures one after another",
            "statistic": "median of the repetitions' per-thread ns/op, with min and max",
        },
        "tables": tables.iter().map(table).collect::<Vec<_>>(),
        "verdict": verdicts.iter().map(Verdict::json).collect::<Vec<_>>(),
        "wall_seconds": wall_seconds,
    })
}
