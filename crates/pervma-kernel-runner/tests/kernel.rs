//! The kernel runner against the live kernel: the recorded corpus outputs
//! (the examples of MMSCRIPT.md first), faults, errnos, malformed input,
//! and generated scripts.
//!
//! Where the runner cannot run (not Linux on x86_64, or its window is
//! taken) it exits with 77; each test then prints `SKIPPED: reason` and
//! passes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mmscript::{MapsLine, Op, Outcome};

const RUNNER: &str = env!("CARGO_BIN_EXE_pervma-kernel-runner");

/// The status for "cannot run here".
const SKIP: i32 = 77;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus")
}

/// Runs the runner with `args` and `stdin`; `None` (after printing why)
/// if it cannot run here.
fn run(args: &[&str], stdin: &str) -> Option<Output> {
    let mut child = Command::new(RUNNER)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the runner");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.code() == Some(SKIP) {
        println!(
            "SKIPPED: the kernel runner cannot run here: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        return None;
    }
    Some(output)
}

/// Runs script text; `None` if skipped. Panics unless it exits 0.
fn run_script(text: &str) -> Option<String> {
    let output = run(&["-"], text)?;
    assert!(
        output.status.success(),
        "runner failed ({}): {}\nscript:\n{text}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).unwrap())
}

/// The `.mms` files directly in `dir`, sorted.
fn scripts_in(dir: &Path) -> Vec<PathBuf> {
    let mut scripts: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "mms"))
        .collect();
    scripts.sort();
    scripts
}

/// Whether this host has protection keys (x86 `ospke`: the CPU has them
/// and the kernel enabled them).
fn host_has_pkeys() -> bool {
    fs::read_to_string("/proc/cpuinfo").is_ok_and(|cpuinfo| {
        cpuinfo
            .lines()
            .filter(|line| line.starts_with("flags"))
            .any(|line| line.split_ascii_whitespace().any(|flag| flag == "ospke"))
    })
}

/// The recorded output of `script` for this host
/// ([`mmscript::recorded_output`]: `NAME.pku.out` on a host with
/// protection keys, where the output depends on them).
fn recorded_output(script: &Path) -> String {
    mmscript::recorded_output(script, false, host_has_pkeys()).unwrap()
}

/// Runs every script of `dir` by path and compares with its recorded
/// output ([`recorded_output`]).
fn check_recorded(dir: &Path) {
    let scripts = scripts_in(dir);
    assert!(!scripts.is_empty(), "no scripts in {}", dir.display());
    let mut failures = Vec::new();
    for script in &scripts {
        let Some(output) = run(&[script.to_str().unwrap()], "") else {
            return;
        };
        let expected = recorded_output(script);
        let actual = String::from_utf8(output.stdout).unwrap();
        if !output.status.success() || actual != expected {
            failures.push(format!(
                "{} ({}): stderr {:?}\n--- expected\n{expected}--- actual\n{actual}",
                script.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_spec_examples_print_exactly_their_output() {
    check_recorded(&corpus_dir().join("examples"));
}

#[test]
fn the_corpus_prints_exactly_its_recorded_output() {
    check_recorded(&corpus_dir());
}

#[test]
fn touch_reports_segv_and_bus_and_goes_on() {
    let Some(out) = run_script(
        "touch 0x10000 r\n\
         mmap 0x10000 0x1000 r-- private-anon fixed\n\
         touch 0x10000 r\n\
         touch 0x10000 w\n\
         mprotect 0x10000 0x1000 ---\n\
         touch 0x10000 r\n\
         mmap 0x20000 0x3000 rw- shared-file:big:0x3ffff000 fixed\n\
         touch 0x20000 w\n\
         touch 0x21000 r\n\
         touch 0x22fff w\n\
         touch 0x800000000000 w\n\
         touch 0xffffffffffffffff r\n\
         mmap 0x30000 0x1000 rw- private-anon fixed\n\
         touch 0x30fff w\n",
    ) else {
        return;
    };
    assert_eq!(
        out,
        "segv\nok 0x10000\nok\nsegv\nok\nsegv\nok 0x20000\nok\nbus\nbus\nsegv\nsegv\nok 0x30000\nok\n"
    );
}

#[test]
fn protection_keys_follow_the_host() {
    let Some(out) = run_script(
        "mmap 0x10000 0x2000 rw- private-anon fixed\n\
         pkey_alloc noaccess\n\
         pkey_mprotect 0x10000 0x1000 rw- 1\n\
         touch 0x10000 r\n\
         touch 0x10000 r\n\
         touch 0x11000 w\n\
         pkey_free 1\n\
         pkey_free 1\n\
         pkey_mprotect 0x10000 0x1000 rw- default\n\
         mmap 0x20000 0x1000 --x private-anon fixed\n\
         touch 0x20000 r\n",
    ) else {
        return;
    };
    if host_has_pkeys() {
        // The second read faults too: the fault left PKRU as it was.
        assert_eq!(
            out,
            "ok 0x10000\nok 1\nok\nsegv\nsegv\nok\nok\nerr EINVAL\nok\nok 0x20000\nsegv\n"
        );
    } else {
        // Linux without protection keys: the first pkey_alloc is EINVAL
        // (and later ones ENOSPC), every key but -1 is EINVAL, and --x is
        // readable.
        assert_eq!(
            out,
            "ok 0x10000\nerr EINVAL\nerr EINVAL\nok\nok\nok\nerr EINVAL\nerr EINVAL\nok\nok 0x20000\nok\n"
        );
    }
}

#[test]
fn bad_arguments_get_linux_errnos() {
    let Some(out) = run_script(
        "mmap 0x10001 0x1000 rw- private-anon fixed\n\
         mmap 0x10000 0 rw- private-anon fixed\n\
         mmap 0x10000 0x1000 rw- private-anon fixed\n\
         mmap 0x10000 0x1000 rw- private-anon noreplace\n\
         mmap 0x20000 0x1000 rw- private-file:data:0x1 fixed\n\
         mmap 0x20000 0x2000 rw- private-file:data:0xfffffffffffff000 fixed\n\
         munmap 0x10000 0\n\
         mprotect 0x40000 0x1000 r--\n\
         mremap 0x40000 0x1000 0x2000\n\
         mremap 0x10000 0x1000 0x1000 dontunmap\n\
         mremap 0x10000 0x1000 0 maymove\n\
         madvise 0x10000 0x1000 wipeonfork\n\
         mmap 0x50000 0x1000 rw- shared-anon fixed\n\
         madvise 0x50000 0x1000 wipeonfork\n\
         mlock 0x60000 0x1000\n\
         munmap 0x800000000000 0x1000\n\
         mmap 0x800000000000 0x1000 rw- private-anon fixed\n\
         mprotect 0x10000 0xffffffffffffffff r--\n",
    ) else {
        return;
    };
    assert_eq!(
        out,
        "err EINVAL\nerr EINVAL\nok 0x10000\nerr EEXIST\nerr EINVAL\nerr EOVERFLOW\n\
         err EINVAL\nerr ENOMEM\nerr EFAULT\nerr EINVAL\nerr EINVAL\nok\nok 0x50000\n\
         err EINVAL\nerr ENOMEM\nerr EINVAL\nerr ENOMEM\nerr ENOMEM\n"
    );
}

#[test]
fn a_malformed_line_stops_the_run_after_the_lines_above_it() {
    let Some(output) = run(
        &["-"],
        "mmap 0x10000 0x1000 rw- private-anon fixed\n\
         # a comment\n\
         maps\n\
         mprotect 0x10000 0x1000 rwz\n\
         munmap 0x10000 0x1000\n",
    ) else {
        return;
    };
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "ok 0x10000\n0x10000-0x11000 rw-p 00000000 anon rd wr mr mw me ac\nend\n"
    );
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "line 4: mprotect: bad PROT \"rwz\": expected three characters r/-, w/-, x/-\n"
    );
}

#[test]
fn a_range_outside_the_zone_is_malformed() {
    let Some(output) = run(&["-"], "maps\nmunmap 0x0 0x7fffffffffff\nmaps\n") else {
        return;
    };
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "end\n");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("line 2: munmap: range 0x0+0x7fffffffffff leaves"),
        "{stderr}"
    );
}

#[test]
fn bad_command_lines_are_usage_errors() {
    for args in [
        &[][..],
        &["a", "b"],
        &["--gen", "1"],
        &["--gen", "x", "5"],
        &["--what"],
    ] {
        let Some(output) = run(args, "") else {
            return;
        };
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("usage:"),
            "{args:?}"
        );
    }
    let Some(output) = run(&["/nonexistent/script.mms"], "") else {
        return;
    };
    assert_eq!(output.status.code(), Some(1));
}

/// Checks that `out` is the output of `script`: one result line per
/// operation, a canonical `maps` block per `maps`.
fn check_shape(script: &str, out: &str) {
    let script = mmscript::parse(script).unwrap();
    let mut lines = out.lines();
    for op in script.iter() {
        if *op == Op::Maps {
            let mut last_end = 0;
            loop {
                let line = lines.next().expect("maps block ends early");
                if line == "end" {
                    break;
                }
                let vma: MapsLine = line.parse().unwrap_or_else(|e| panic!("{e}"));
                assert!(vma.start >= last_end && vma.end > vma.start, "{line}");
                last_end = vma.end;
            }
        } else {
            let line = lines.next().expect("output ends early");
            let outcome: Outcome = line.parse().unwrap_or_else(|e| panic!("{op}: {e}"));
            if let Op::Touch { .. } = op {
                assert!(
                    matches!(outcome, Outcome::Ok | Outcome::Segv | Outcome::Bus),
                    "{op}"
                );
            }
        }
    }
    assert_eq!(lines.next(), None);
}

#[test]
fn generated_scripts_run_to_the_end() {
    for seed in 0..20 {
        let Some(output) = run(&["--gen", &seed.to_string(), "250"], "") else {
            return;
        };
        assert!(
            output.status.success(),
            "seed {seed}: {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        check_shape(
            &mmscript::generate(seed, 250),
            &String::from_utf8(output.stdout).unwrap(),
        );
    }
}

#[test]
fn print_gen_prints_the_generated_script() {
    let Some(output) = run(&["--print-gen", "42", "30"], "") else {
        return;
    };
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        mmscript::generate(42, 30)
    );
}
