//! The differential test: each mmscript runs on the model (`pervma
//! replay`) and on the live kernel (`pervma-kernel-runner`, real system
//! calls in a window of its own process), and the two outputs must be the
//! same bytes. The live kernel is the judge; the `.out` files in
//! tests/corpus are what it printed when the scripts were written, and a
//! difference between those and the live kernel is reported too.
//!
//! `corpus_and_random_scripts` runs every script of tests/corpus (36,
//! smaps/ and examples/ included) and [`RANDOM_SEEDS`] (400) seeded random
//! scripts (`mmscript::generate`, 30 to 200 operations each, every
//! operation including `mremap`, with `maps` checkpoints), and prints how
//! many agree and the first difference of each that does not.
//!
//! `random_scripts_hunt` (ignored: minutes, not for CI) runs the seeds of
//! `PERVMA_HUNT_SEEDS` (`FROM..TO`, default `0..3000`) with the same op
//! counts, in the smaps mode if `PERVMA_HUNT_SMAPS` is set, and lists
//! every disagreement.
//!
//! It skips with a message (not a pass) where the kernel runner cannot
//! run: not Linux on x86-64, or its window is taken.

mod common;

use common::{is_op, random_ops, scripts_in, workspace, Judge};

/// How many seeded random scripts run (seeds `0..RANDOM_SEEDS`).
const RANDOM_SEEDS: u64 = 400;

#[test]
fn corpus_and_random_scripts() {
    let Some(judge) = Judge::new(false) else {
        return;
    };
    let root = workspace().join("tests/corpus");
    let mut scripts = scripts_in(&root, &root, true);
    for seed in 0..RANDOM_SEEDS {
        let ops = random_ops(seed);
        scripts.push((
            format!("random seed {seed} ({ops} ops)"),
            mmscript::generate(seed, ops),
        ));
    }
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    let mut ops = 0;
    for (name, script) in &scripts {
        ops += script.lines().filter(|l| is_op(l)).count();
        match judge.compare(script) {
            Ok(kernel) => {
                let recorded = root.join(format!("{name}.out"));
                if let Ok(recorded) = std::fs::read_to_string(recorded) {
                    if recorded != kernel {
                        failures.push(format!(
                            "{name}: the live kernel no longer prints the recorded .out"
                        ));
                    }
                }
            }
            Err(diff) => failures.push(format!("{name}: {diff}")),
        }
    }
    println!(
        "{} of {} scripts ({} corpus, {RANDOM_SEEDS} random; {ops} operations) \
         agree with the live kernel, in {:.1} s",
        scripts.len() - failures.len(),
        scripts.len(),
        scripts.len() - RANDOM_SEEDS as usize,
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "disagreements:\n{}",
        failures.join("\n")
    );
}

#[test]
#[ignore = "a hunt over thousands of seeds: minutes"]
fn random_scripts_hunt() {
    let smaps = std::env::var_os("PERVMA_HUNT_SMAPS").is_some();
    let Some(judge) = Judge::new(smaps) else {
        return;
    };
    let seeds = std::env::var("PERVMA_HUNT_SEEDS").unwrap_or_else(|_| "0..3000".into());
    let (from, to) = seeds.split_once("..").expect("PERVMA_HUNT_SEEDS=FROM..TO");
    let (from, to): (u64, u64) = (from.parse().unwrap(), to.parse().unwrap());
    let mut failures = Vec::new();
    for seed in from..to {
        let ops = random_ops(seed);
        if let Err(diff) = judge.compare(&mmscript::generate(seed, ops)) {
            failures.push(format!("seed {seed} ({ops} ops): {diff}"));
        }
    }
    println!(
        "{} of {} seeds agree{}",
        (to - from) as usize - failures.len(),
        to - from,
        if smaps { " in the smaps mode" } else { "" }
    );
    assert!(
        failures.is_empty(),
        "disagreements:\n{}",
        failures.join("\n")
    );
}
