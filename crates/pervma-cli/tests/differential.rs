//! The differential test: each mmscript runs on the model (`pervma
//! replay`) and on the live kernel (`pervma-kernel-runner`, real system
//! calls in a window of its own process), and the two outputs must be the
//! same bytes. The live kernel is the judge; the `.out` files in
//! tests/corpus are what it printed when the scripts were written, and a
//! difference between those and the live kernel is reported too.
//!
//! `corpus_and_random_scripts` runs every script of tests/corpus (33,
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

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How many seeded random scripts run (seeds `0..RANDOM_SEEDS`).
const RANDOM_SEEDS: u64 = 400;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The kernel runner binary, built if this test run did not build it.
fn kernel_runner() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap(); // target/<profile>
    let runner = dir.join("pervma-kernel-runner");
    if !runner.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let profile = if dir.ends_with("release") {
            vec!["--release"]
        } else {
            vec![]
        };
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "pervma-kernel-runner"])
            .args(profile)
            .current_dir(workspace())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building pervma-kernel-runner failed");
    }
    runner
}

/// Runs `program args` with `script` on standard input: (stdout, exit code).
fn run(program: &Path, args: &[&str], script: &str) -> (String, i32) {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// The first differing line of two outputs, for the report.
fn first_difference(model: &str, kernel: &str) -> String {
    let (m, k): (Vec<_>, Vec<_>) = (model.lines().collect(), kernel.lines().collect());
    let i = m
        .iter()
        .zip(&k)
        .position(|(a, b)| a != b)
        .unwrap_or(m.len().min(k.len()));
    format!(
        "line {}: model {:?}, kernel {:?}",
        i + 1,
        m.get(i).copied().unwrap_or("<end>"),
        k.get(i).copied().unwrap_or("<end>")
    )
}

struct Judge {
    kernel: PathBuf,
}

impl Judge {
    /// `None` (with the reason printed) where the kernel runner cannot run.
    fn new() -> Option<Judge> {
        if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            println!("SKIPPED: the kernel runner needs Linux on x86-64");
            return None;
        }
        let kernel = kernel_runner();
        let (_, code) = run(&kernel, &["-"], "maps\n");
        if code == 77 {
            println!("SKIPPED: the kernel runner cannot run here (its window is taken?)");
            return None;
        }
        assert_eq!(code, 0, "the kernel runner failed on a trivial script");
        Some(Judge { kernel })
    }

    /// `Err(first difference)` if model and kernel disagree on `script`.
    fn compare(&self, script: &str) -> Result<String, String> {
        let (kernel, kcode) = run(&self.kernel, &["-"], script);
        let (model, mcode) = run(
            Path::new(env!("CARGO_BIN_EXE_pervma")),
            &["replay", "-"],
            script,
        );
        if (kernel.as_str(), kcode) == (model.as_str(), mcode) {
            Ok(kernel)
        } else if kernel == model {
            Err(format!(
                "same output, exit codes model {mcode}, kernel {kcode}"
            ))
        } else {
            Err(first_difference(&model, &kernel))
        }
    }
}

fn corpus() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let root = workspace().join("tests/corpus");
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "mms") {
                let name = path.strip_prefix(&root).unwrap().with_extension("");
                out.push((
                    name.display().to_string(),
                    std::fs::read_to_string(&path).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn corpus_and_random_scripts() {
    let Some(judge) = Judge::new() else { return };
    let mut scripts = corpus();
    for seed in 0..RANDOM_SEEDS {
        let ops = 30 + (seed * 7919 % 171) as usize;
        scripts.push((
            format!("random seed {seed} ({ops} ops)"),
            mmscript::generate(seed, ops),
        ));
    }
    let root = workspace().join("tests/corpus");
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    let mut ops = 0;
    for (name, script) in &scripts {
        ops += script
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .count();
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
    let Some(judge) = Judge::new() else { return };
    let seeds = std::env::var("PERVMA_HUNT_SEEDS").unwrap_or_else(|_| "0..3000".into());
    let (from, to) = seeds.split_once("..").expect("PERVMA_HUNT_SEEDS=FROM..TO");
    let (from, to): (u64, u64) = (from.parse().unwrap(), to.parse().unwrap());
    let smaps = std::env::var_os("PERVMA_HUNT_SMAPS").is_some();
    let mode: &[&str] = if smaps { &["--smaps"] } else { &[] };
    let mut failures = Vec::new();
    for seed in from..to {
        let ops = 30 + (seed * 7919 % 171) as usize;
        let script = mmscript::generate(seed, ops);
        let kernel = run(&judge.kernel, &[mode, &["-"]].concat(), &script);
        let model = run(
            Path::new(env!("CARGO_BIN_EXE_pervma")),
            &[&["replay"], mode, &["-"]].concat(),
            &script,
        );
        if kernel != model {
            failures.push(format!(
                "seed {seed} ({ops} ops): {}",
                first_difference(&model.0, &kernel.0)
            ));
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
