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
//! Every script runs whole, `mremap` lines included. Every test skips with a
//! message (not a pass) where the kernel runner cannot run: not Linux on x86-64, or its
//! window is taken.
//!
//! Each script runs in a fresh runner process, so the page cache of its
//! files (memfds in the kernel runner) starts empty: no state leaks from
//! one script to the next.

mod common;

use common::{first_difference, is_op, random_ops, recorded, scripts_in, workspace, Judge};

/// Corpus scripts (relative to tests/corpus, without `.mms`) left out of
/// the smaps comparison, with the reason. Empty: every script agrees.
const EXCLUDED: &[(&str, &str)] = &[];

/// What a batch of comparisons found.
#[derive(Default)]
struct Tally {
    scripts: usize,
    /// `maps` lines (with smaps figures) that agreed.
    checkpoints: usize,
    failures: Vec<String>,
}

impl Tally {
    /// Compares `script` in the smaps mode and records the result; the
    /// kernel's output if the two agree.
    fn check(&mut self, judge: &Judge, name: &str, script: &str) -> Option<String> {
        self.scripts += 1;
        match judge.compare(script) {
            Ok(kernel) => {
                assert!(
                    kernel.is_empty() || kernel.contains(" rss="),
                    "{name}: the kernel runner printed no smaps figures"
                );
                self.checkpoints += kernel.lines().filter(|l| l.contains(" rss=")).count();
                Some(kernel)
            }
            Err(diff) => {
                self.failures.push(format!("{name}: {diff}"));
                None
            }
        }
    }
}

impl Tally {
    /// Prints the summary and fails on any disagreement.
    fn finish(self, what: &str) {
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

#[test]
fn smaps_corpus() {
    let Some(judge) = Judge::new(true) else {
        return;
    };
    let root = workspace().join("tests/corpus");
    let scripts = scripts_in(&root, &root.join("smaps"), false);
    assert!(scripts.len() >= 7, "tests/corpus/smaps is missing scripts");
    let mut tally = Tally::default();
    for (name, script) in &scripts {
        let Some(kernel) = tally.check(&judge, name, script) else {
            continue;
        };
        // What the kernel printed when the script was written: a change
        // means the kernel (or this machine's THP settings) changed.
        match recorded(&root, name, true, judge.pku) {
            Ok(recorded) if recorded == kernel => {}
            Ok(recorded) => tally.failures.push(format!(
                "{name}: the live kernel no longer prints its recorded smaps output: {}",
                first_difference(&recorded, &kernel)
            )),
            Err(e) => tally
                .failures
                .push(format!("{name}: no recorded smaps output: {e}")),
        }
    }
    tally.finish("smaps scripts");
}

#[test]
fn corpus_in_smaps_mode() {
    let Some(judge) = Judge::new(true) else {
        return;
    };
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
        let _ = tally.check(&judge, &name, &script);
    }
    tally.finish("corpus scripts");
}

#[test]
fn random_scripts_in_smaps_mode() {
    let Some(judge) = Judge::new(true) else {
        return;
    };
    let mut tally = Tally::default();
    let mut ops = 0;
    for seed in 0..100u64 {
        let script = mmscript::generate(seed, random_ops(seed));
        ops += script.lines().filter(|l| is_op(l)).count();
        let _ = tally.check(&judge, &format!("seed {seed}"), &script);
    }
    println!("{ops} operations in the random scripts");
    tally.finish("random scripts");
}
