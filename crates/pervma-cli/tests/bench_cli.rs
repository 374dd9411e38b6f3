//! `pervma bench` from the outside: bad arguments are refused with a
//! clear message and a non-zero exit; a quick run writes JSON that parses
//! with the keys a reader needs, and an SVG.

use std::path::PathBuf;
use std::process::{Command, Output};

fn pervma(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pervma"))
        .args(args)
        .output()
        .expect("running pervma")
}

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{name}", std::process::id()))
}

#[track_caller]
fn refused(args: &[&str], mentions: &str) {
    let out = pervma(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(
        stderr.contains(mentions),
        "{args:?}: the message should mention {mentions:?}:\n{stderr}"
    );
    assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
}

#[test]
fn bad_arguments_get_a_clear_message_and_a_non_zero_exit() {
    refused(&["bench", "--duration", "fast"], "not a duration");
    refused(&["bench", "--duration", "2h"], "unknown unit");
    refused(&["bench", "--duration", "0ms"], "out of range");
    refused(&["bench", "--workload", "nope"], "possible values");
    refused(&["bench", "--threads", "0"], "--threads");
    refused(&["bench", "--vmas", "many"], "--vmas");
    refused(&["bench", "--reps", "2"], "--reps");
    refused(&["bench", "--frobnicate"], "--frobnicate");
    refused(&["bench", "--json"], "--json");
    refused(&["nosuchcommand"], "nosuchcommand");
    let dir = tmp("no/such/dir/out.json");
    refused(
        &[
            "bench",
            "--duration",
            "5ms",
            "--json",
            dir.to_str().unwrap(),
        ],
        "cannot write",
    );
}

#[test]
fn a_quick_run_writes_json_and_svg() {
    let (json, svg) = (tmp("quick.json"), tmp("quick.svg"));
    let out = pervma(&[
        "bench",
        "--duration",
        "5ms",
        "--workload",
        "lookup",
        "--json",
        json.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("== lookup") && stdout.contains("== verdict"),
        "{stdout}"
    );

    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).expect("the JSON parses");
    for key in ["cpu_model", "cpus", "kernel"] {
        assert!(
            v["machine"][key].is_string() || v["machine"][key].is_number(),
            "machine.{key}: {v}"
        );
    }
    assert_eq!(v["plan"]["reps"], 5);
    let tables = v["tables"].as_array().unwrap();
    // `lookup` and `lookup-sharing`.
    assert_eq!(tables.len(), 2);
    assert_eq!(tables[0]["workload"], "lookup");
    assert_eq!(tables[1]["workload"], "lookup-sharing");
    let rows = tables[0]["rows"].as_array().unwrap();
    for strategy in [
        "pervma",
        "pervma-fallback",
        "mmap-lock",
        "rwlock-btreemap",
        "parking-lot-btreemap",
        "skiplist",
        "btreemap-unlocked",
    ] {
        assert!(
            rows.iter().any(|r| r["strategy"] == strategy),
            "no {strategy} row"
        );
    }
    for r in rows {
        let ns = &r["ns_per_op"];
        let (min, med, max) = (
            ns["min"].as_f64().unwrap(),
            ns["median"].as_f64().unwrap(),
            ns["max"].as_f64().unwrap(),
        );
        assert!(0.0 < min && min <= med && med <= max, "{r}");
        assert_eq!(r["ns_per_op_reps"].as_array().unwrap().len(), 5);
        assert!(r["ops_per_sec"].as_f64().unwrap() > 0.0);
        assert!(r["ratio_to_first"].as_f64().unwrap() > 0.0);
        assert!(
            r["group"]["vmas"].is_u64() && r["group"]["threads"].is_u64(),
            "{r}"
        );
    }
    let verdict = v["verdict"].as_array().unwrap();
    assert!(
        verdict.iter().any(|t| t["met"].is_boolean()),
        "lookup targets are computed"
    );
    assert!(
        verdict.iter().any(|t| t["met"].is_null()),
        "others were not run"
    );

    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    let _ = std::fs::remove_file(json);
}
