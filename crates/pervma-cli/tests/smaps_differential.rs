//! The smaps differential test: scripts run in the smaps mode on the model
//! (`pervma replay --smaps`) and on the live kernel (`pervma-kernel-runner
//! --smaps`), where every `maps` line also carries the VMA's `Rss`,
//! `Anonymous` and `Locked` (kB), and the two outputs must be the same
//! bytes. The live kernel is the judge.
//!
//! - `smaps_corpus`: the hand-written scripts of tests/corpus/smaps (zero
//!   page, COW, shmem, fault-around, populate, mlock, zaps, splits, THP);
//!   the kernel must also still print their recorded `NAME.smaps.out`.
//! - `corpus_in_smaps_mode`: every other script of tests/corpus.
//! - `random_scripts_in_smaps_mode`: 100 seeded `mmscript::generate`
//!   scripts (seeds 0..100); differential.rs's ignored
//!   `random_scripts_hunt` runs more.
//!
//! The model runs `mremap` (moving pages, page tables and THPs), so every
//! script runs whole, `mremap` lines included. (While the model printed
//! `ENOSYS` for it, scripts with `mremap` were skipped or had those lines
//! removed; the check is still made at run time.) Every test skips with a
//! message (not a pass) where the kernel runner cannot run: not Linux on x86-64, or its
//! window is taken.
//!
//! Each script runs in a fresh runner process, so the page cache of its
//! files (memfds in the kernel runner) starts empty: no state leaks from
//! one script to the next.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Corpus scripts (relative to tests/corpus, without `.mms`) left out of
/// the smaps comparison, with the reason. Empty: every script agrees.
const EXCLUDED: &[(&str, &str)] = &[];

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

fn model() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pervma"))
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

/// Whether a line is an operation (not blank, not a comment).
fn is_op(line: &str) -> bool {
    let line = line.trim();
    !line.is_empty() && !line.starts_with('#')
}

fn has_mremap(script: &str) -> bool {
    script
        .lines()
        .any(|l| is_op(l) && l.trim_start().starts_with("mremap"))
}

struct Judge {
    kernel: PathBuf,
    /// Whether the model runs `mremap` (else it prints `err ENOSYS`).
    mremap_modelled: bool,
}

/// What a batch of comparisons found.
#[derive(Default)]
struct Tally {
    scripts: usize,
    /// `maps` lines (with smaps figures) that agreed.
    checkpoints: usize,
    skipped_mremap: Vec<String>,
    failures: Vec<String>,
}

impl Judge {
    /// `None` (with the reason printed) where the kernel runner cannot run.
    fn new() -> Option<Judge> {
        if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            println!("SKIPPED: the kernel runner needs Linux on x86-64");
            return None;
        }
        let kernel = kernel_runner();
        let (_, code) = run(&kernel, &["--smaps", "-"], "maps\n");
        if code == 77 {
            println!("SKIPPED: the kernel runner cannot run here (its window is taken?)");
            return None;
        }
        assert_eq!(code, 0, "the kernel runner failed on a trivial script");
        let probe = "mmap 0x0 0x1000 rw- private-anon fixed\nmremap 0x0 0x1000 0x2000\n";
        let (out, _) = run(model(), &["replay", "-"], probe);
        let mremap_modelled = !out.contains("ENOSYS");
        Some(Judge {
            kernel,
            mremap_modelled,
        })
    }

    /// Compares `script` in the smaps mode and records the result; the
    /// kernel's output if the two agree.
    fn check(&self, name: &str, script: &str, tally: &mut Tally) -> Option<String> {
        if !self.mremap_modelled && has_mremap(script) {
            tally.skipped_mremap.push(name.to_owned());
            return None;
        }
        tally.scripts += 1;
        let (kernel, kcode) = run(&self.kernel, &["--smaps", "-"], script);
        let (model, mcode) = run(model(), &["replay", "--smaps", "-"], script);
        assert!(
            kernel.is_empty() || kernel.contains(" rss="),
            "{name}: the kernel runner printed no smaps figures"
        );
        if (kernel.as_str(), kcode) == (model.as_str(), mcode) {
            tally.checkpoints += kernel.lines().filter(|l| l.contains(" rss=")).count();
            return Some(kernel);
        } else if kernel == model {
            tally.failures.push(format!(
                "{name}: same output, exit codes model {mcode}, kernel {kcode}"
            ));
        } else {
            tally
                .failures
                .push(format!("{name}: {}", first_difference(&model, &kernel)));
        }
        None
    }
}

impl Tally {
    /// Prints the summary and fails on any disagreement.
    fn finish(self, what: &str) {
        if !self.skipped_mremap.is_empty() {
            println!(
                "NOTE: {} {what} skipped: they use mremap, which the model does not run yet \
                 (it prints ENOSYS): {}",
                self.skipped_mremap.len(),
                self.skipped_mremap.join(", ")
            );
        }
        println!(
            "{} of {} {what} agree with the live kernel in the smaps mode \
             ({} maps lines with smaps figures agree)",
            self.scripts - self.failures.len(),
            self.scripts,
            self.checkpoints
        );
        assert!(
            self.failures.is_empty(),
            "model and kernel disagree:\n{}",
            self.failures.join("\n")
        );
    }
}

/// The `.mms` files under `dir`, as (name relative to `root`, text),
/// sorted; with `recurse`, also those in subdirectories.
fn scripts_in(root: &Path, dir: &Path, recurse: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if recurse {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "mms") {
                let name = path.strip_prefix(root).unwrap().with_extension("");
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
fn smaps_corpus() {
    let Some(judge) = Judge::new() else { return };
    let root = workspace().join("tests/corpus");
    let scripts = scripts_in(&root, &root.join("smaps"), false);
    assert!(scripts.len() >= 7, "tests/corpus/smaps is missing scripts");
    let mut tally = Tally::default();
    for (name, script) in &scripts {
        let Some(kernel) = judge.check(name, script, &mut tally) else {
            continue;
        };
        // What the kernel printed when the script was written: a change
        // means the kernel (or this machine's THP settings) changed.
        let recorded = root.join(format!("{name}.smaps.out"));
        match std::fs::read_to_string(&recorded) {
            Ok(recorded) if recorded == kernel => {}
            Ok(recorded) => tally.failures.push(format!(
                "{name}: the live kernel no longer prints {name}.smaps.out: {}",
                first_difference(&recorded, &kernel)
            )),
            Err(e) => tally.failures.push(format!("{}: {e}", recorded.display())),
        }
    }
    tally.finish("smaps scripts");
}

#[test]
fn corpus_in_smaps_mode() {
    let Some(judge) = Judge::new() else { return };
    let root = workspace().join("tests/corpus");
    let mut tally = Tally::default();
    for (name, script) in scripts_in(&root, &root, true) {
        if name.starts_with("smaps/") {
            continue; // smaps_corpus
        }
        if let Some((_, why)) = EXCLUDED.iter().find(|(n, _)| *n == name) {
            println!("NOTE: {name} excluded: {why}");
            continue;
        }
        let _ = judge.check(&name, &script, &mut tally);
    }
    tally.finish("corpus scripts");
}

#[test]
fn random_scripts_in_smaps_mode() {
    let Some(judge) = Judge::new() else { return };
    let mut tally = Tally::default();
    if !judge.mremap_modelled {
        println!("NOTE: mremap lines removed: the model does not run mremap yet (ENOSYS)");
    }
    let mut ops = 0;
    for seed in 0..100u64 {
        let count = 30 + (seed * 7919 % 171) as usize;
        let mut script = mmscript::generate(seed, count);
        if !judge.mremap_modelled {
            script = script
                .lines()
                .filter(|l| !(is_op(l) && l.trim_start().starts_with("mremap")))
                .map(|l| format!("{l}\n"))
                .collect();
        }
        ops += script.lines().filter(|l| is_op(l)).count();
        let _ = judge.check(&format!("seed {seed}"), &script, &mut tally);
    }
    println!("{ops} operations in the random scripts");
    tally.finish("random scripts");
}
