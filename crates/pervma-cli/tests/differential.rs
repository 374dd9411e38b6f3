//! The differential test: each mmscript runs on the model (`pervma
//! replay`) and on the live kernel (`pervma-kernel-runner`, real system
//! calls in a window of its own process), and the two outputs must be the
//! same bytes. The live kernel is the judge; the `.out` files in
//! tests/corpus are what it printed when the scripts were written, and a
//! difference between those and the live kernel is reported too.
//!
//! `corpus_and_random_scripts` runs every script of tests/corpus (58,
//! smaps/ and examples/ included) and [`RANDOM_SEEDS`] (400) seeded random
//! scripts (`mmscript::generate`, 30 to 200 operations each, every
//! operation including `mremap`, with `maps` checkpoints), and prints how
//! many agree and the first difference of each that does not.
//!
//! `max_map_count_reached` fills the address space up to
//! `vm.max_map_count` and compares the calls that fail there, with the
//! model's limit lowered by the kernel runner's own VMAs (`--own-vmas`).
//!
//! `random_scripts_hunt` (ignored: minutes, not for CI) runs the seeds of
//! `PERVMA_HUNT_SEEDS` (`FROM..TO`, default `0..3000`) with the same op
//! counts, in the smaps mode if `PERVMA_HUNT_SMAPS` is set, and lists
//! every disagreement.
//!
//! It skips with a message (not a pass) where the kernel runner cannot
//! run: not Linux on x86-64, or its window is taken.

mod common;

use common::{
    first_difference, is_op, model, random_ops, recorded, run, scripts_in, workspace, Judge,
};

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
                if let Ok(recorded) = recorded(&root, name, false, judge.pku) {
                    if recorded != kernel {
                        failures.push(format!(
                            "{name}: the live kernel no longer prints the recorded output: {}",
                            first_difference(&recorded, &kernel)
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

/// The model in both modes, with and without protection keys, against
/// the recorded outputs (`NAME.out`, `NAME.pku.out`, and the smaps
/// outputs of smaps/): the mode this host does not have is checked here,
/// on every host, and without a kernel runner.
#[test]
fn model_prints_the_recorded_outputs_with_and_without_protection_keys() {
    let root = workspace().join("tests/corpus");
    let scripts = scripts_in(&root, &root, true);
    let mut failures = Vec::new();
    let mut compared = 0;
    for (name, script) in &scripts {
        for pku in [false, true] {
            for smaps in [false, true] {
                let Ok(expected) = recorded(&root, name, smaps, pku) else {
                    assert!(smaps, "{name} has no recorded output");
                    continue;
                };
                let pku_arg = if pku { "on" } else { "off" };
                let mut args = vec!["replay", "--pku", pku_arg];
                if smaps {
                    args.push("--smaps");
                }
                args.push("-");
                let (out, code) = run(model(), &args, script);
                compared += 1;
                if code != 0 || out != expected {
                    failures.push(format!(
                        "{name} (--pku {pku_arg}{}): exit {code}, {}",
                        if smaps { " --smaps" } else { "" },
                        first_difference(&out, &expected)
                    ));
                }
            }
        }
    }
    println!(
        "{} of {compared} recorded outputs of {} scripts reprinted by the model \
         with and without protection keys",
        compared - failures.len(),
        scripts.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A script that reaches `vm.max_map_count`: 65,530 one-page mappings
/// with gaps between them, then the calls that fail there (`mmap`, an
/// `mprotect` and a `munmap` that split, a fixed `mremap`) and, after a
/// few VMAs are freed, succeed.
fn max_map_count_script(max: usize) -> String {
    let mut s = String::from("mmap 0x40000000 0x10000 rw- private-anon fixed\n");
    for i in 0..max as u64 {
        s += &format!("mmap {:#x} 0x1000 r-- private-anon fixed\n", i * 0x2000);
    }
    s += "mprotect 0x40004000 0x1000 r--\n\
          munmap 0x40004000 0x1000\n\
          mremap 0x40000000 0x1000 0x1000 fixed 0x50000000\n\
          munmap 0x0 0x6000\n\
          mprotect 0x40004000 0x1000 r--\n\
          munmap 0x40008000 0x1000\n\
          mremap 0x40000000 0x1000 0x1000 fixed 0x50000000\n\
          mremap 0x40000000 0x1000 0x1000 fixed 0x50000000\n";
    s
}

/// `vm.max_map_count` counts the runner's own VMAs too: with the model's
/// limit lowered by them (`--own-vmas`, `--max-map-count`), the two agree
/// exactly at the limit.
#[test]
fn max_map_count_reached() {
    let Some(judge) = Judge::new(false) else {
        return;
    };
    let max: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .expect("read vm.max_map_count")
        .trim()
        .parse()
        .expect("vm.max_map_count is a number");
    if max > 1 << 20 {
        println!("SKIPPED: vm.max_map_count is {max}, too many VMAs to reach");
        return;
    }
    let script = max_map_count_script(max);
    let own = judge.own_vmas(&script);
    let (kernel, kcode) = judge.run_kernel(&script);
    let limit = (max - own).to_string();
    let (model, mcode) = judge.run_model_with(&["--max-map-count", &limit], &script);
    assert!(
        kernel.contains("err ENOMEM"),
        "the script never reached the limit"
    );
    assert_eq!(kcode, mcode);
    assert!(
        kernel == model,
        "{}",
        common::first_difference(&model, &kernel)
    );
    println!("agree at vm.max_map_count {max}, {own} VMAs of the runner's own");
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
