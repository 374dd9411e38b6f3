//! What the differential tests share: the two runners, how to run a
//! script on each, the corpus, and the first difference of two outputs.

#![allow(dead_code)] // each test crate uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The model: `pervma replay`.
pub(crate) fn model() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pervma"))
}

/// The seeded random scripts' operation counts (30 to 200).
pub(crate) fn random_ops(seed: u64) -> usize {
    30 + (seed * 7919 % 171) as usize
}

/// Whether a script line is an operation (not blank, not a comment).
pub(crate) fn is_op(line: &str) -> bool {
    let line = line.trim();
    !line.is_empty() && !line.starts_with('#')
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
pub(crate) fn run(program: &Path, args: &[&str], script: &str) -> (String, i32) {
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
pub(crate) fn first_difference(model: &str, kernel: &str) -> String {
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

/// The `.mms` files under `dir`, as (name relative to `root`, text),
/// sorted; with `recurse`, also those in subdirectories.
pub(crate) fn scripts_in(root: &Path, dir: &Path, recurse: bool) -> Vec<(String, String)> {
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

/// Whether this host has protection keys: the live kernel's behaviour,
/// and the model's by default (`pervma replay` without `--pku`).
pub(crate) fn host_pku() -> bool {
    pervma::Arch::host().protection_keys
}

/// What Linux printed for corpus script `name` (relative to `root`, no
/// extension), in the smaps mode or not, on a host with protection keys
/// or without ([`mmscript::recorded_output`]).
pub(crate) fn recorded(root: &Path, name: &str, smaps: bool, pku: bool) -> std::io::Result<String> {
    mmscript::recorded_output(&root.join(format!("{name}.mms")), smaps, pku)
}

/// Runs scripts on the model and the live kernel, in the default mode or
/// the smaps mode (`--smaps` on both sides).
pub(crate) struct Judge {
    kernel: PathBuf,
    smaps: bool,
    /// The host has protection keys: which recorded outputs apply.
    pub(crate) pku: bool,
}

impl Judge {
    /// `None` (with the reason printed) where the kernel runner cannot
    /// run: not Linux on x86-64, or its window is taken (exit 77).
    pub(crate) fn new(smaps: bool) -> Option<Judge> {
        if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            println!("SKIPPED: the kernel runner needs Linux on x86-64");
            return None;
        }
        let judge = Judge {
            kernel: kernel_runner(),
            smaps,
            pku: host_pku(),
        };
        println!(
            "host: {} protection keys",
            if judge.pku { "with" } else { "without" }
        );
        let (_, code) = judge.run_kernel("maps\n");
        if code == 77 {
            println!("SKIPPED: the kernel runner cannot run here (its window is taken?)");
            return None;
        }
        assert_eq!(code, 0, "the kernel runner failed on a trivial script");
        Some(judge)
    }

    fn mode(&self) -> &'static [&'static str] {
        if self.smaps {
            &["--smaps", "-"]
        } else {
            &["-"]
        }
    }

    /// The kernel runner's output and exit code for `script`.
    pub(crate) fn run_kernel(&self, script: &str) -> (String, i32) {
        run(&self.kernel, self.mode(), script)
    }

    /// The model's output and exit code for `script`.
    pub(crate) fn run_model(&self, script: &str) -> (String, i32) {
        run(model(), &[&["replay"], self.mode()].concat(), script)
    }

    /// How many VMAs the kernel runner has outside its window while it
    /// runs `script` (`--own-vmas`): what the kernel counts against
    /// `vm.max_map_count` besides the script's VMAs.
    pub(crate) fn own_vmas(&self, script: &str) -> usize {
        let (out, code) = run(
            &self.kernel,
            &[&["--own-vmas"], self.mode()].concat(),
            script,
        );
        assert_eq!(code, 0, "pervma-kernel-runner --own-vmas failed");
        out.trim().parse().expect("--own-vmas prints a number")
    }

    /// The model's output and exit code for `script`, with more
    /// `pervma replay` options.
    pub(crate) fn run_model_with(&self, options: &[&str], script: &str) -> (String, i32) {
        run(
            model(),
            &[&["replay"], options, self.mode()].concat(),
            script,
        )
    }

    /// The kernel's output if model and kernel agree on `script` (output
    /// and exit code), else the first difference.
    pub(crate) fn compare(&self, script: &str) -> Result<String, String> {
        let (kernel, kcode) = self.run_kernel(script);
        let (model, mcode) = self.run_model(script);
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
