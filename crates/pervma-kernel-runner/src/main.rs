//! `pervma-kernel-runner`: run an mmscript on the live Linux kernel.
//!
//! ```text
//! pervma-kernel-runner SCRIPT          run a script file
//! pervma-kernel-runner -               run the script on standard input
//! pervma-kernel-runner --gen SEED OPS  run mmscript::generate(SEED, OPS)
//! pervma-kernel-runner --print-gen SEED OPS   print that script, run nothing
//! pervma-kernel-runner --smaps ...     any of the runs above, in the smaps mode
//! pervma-kernel-runner --own-vmas ...  read the script as any of the runs
//!                                      above, then print how many VMAs the
//!                                      runner has outside its window
//! ```
//!
//! `--own-vmas` is for comparisons at `vm.max_map_count`: the kernel counts
//! the runner's own VMAs with the script's, so a model replaying the same
//! script needs a limit lowered by that count (`pervma replay
//! --max-map-count`). The count is taken after the same set-up as a run
//! of that script: a large script's text is a VMA of its own (malloc
//! maps it), so the count depends on the script.
//!
//! In the smaps mode (for tests, not part of mmscript v1) every `maps`
//! line also carries the VMA's `Rss`, `Anonymous` and `Locked` from
//! `/proc/self/smaps`, in kB: `... rss=8 anon=8 locked=0`, and on a host
//! with protection keys its `ProtectionKey`: `... locked=0 pkey=0`.
//!
//! The operations run as real system calls in a window of this process at
//! [`window::BASE`], and the output is the mmscript output of `MMSCRIPT.md`,
//! to be diffed against `pervma replay`. The window and its spill zone are
//! checked free at start, never reserved.
//!
//! Exit status: 0 when the script ran; 2 for a malformed script line (the
//! lines above it ran and printed; `line N: message` goes to standard
//! error) or bad arguments; 1 when the environment fails (a file cannot be
//! read, `/proc/self/smaps` cannot be parsed); 77, the conventional "skip",
//! when the runner cannot run here (not Linux on x86_64, or the window is
//! not free).
//!
//! Only [`sys`] (system calls and the touch probe) contains `unsafe`.
#![deny(unsafe_code)]

// The pure parts build everywhere (and are unit-tested everywhere); only
// Linux on x86_64 uses them.
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64")),
    allow(dead_code)
)]
mod smaps;
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64")),
    allow(dead_code)
)]
mod window;

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod kernel;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[allow(unsafe_code)]
mod sys;

use std::io::{self, Read};
use std::process::ExitCode;

/// The exit status for "cannot run here" (as automake and many test
/// harnesses use it).
const EXIT_SKIP: u8 = 77;
/// The exit status for a malformed script or bad arguments.
const EXIT_USAGE: u8 = 2;
/// The exit status when the environment fails.
const EXIT_FAILURE: u8 = 1;

const USAGE: &str = "\
usage: pervma-kernel-runner [--smaps] SCRIPT | - | --gen SEED OPS | --print-gen SEED OPS
       pervma-kernel-runner --own-vmas [--smaps] SCRIPT | - | --gen SEED OPS
Runs an mmscript (MMSCRIPT.md) as real system calls in a window of this
process and prints its output. With --smaps, maps lines also carry the
VMA's Rss, Anonymous and Locked (kB) from /proc/self/smaps, and its
ProtectionKey where Linux prints one.";

/// Where the script comes from.
enum Source {
    File(String),
    Stdin,
    Generated {
        seed: u64,
        ops: usize,
        print_only: bool,
    },
}

fn parse_args(args: &[String]) -> Result<Source, String> {
    let number = |word: &str, what: &str| -> Result<u64, String> {
        let parsed = match word.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => word.parse(),
        };
        parsed.map_err(|_| format!("bad {what} {word:?}"))
    };
    match args {
        [flag, seed, ops] if flag == "--gen" || flag == "--print-gen" => {
            let ops = usize::try_from(number(ops, "OPS")?).map_err(|_| "OPS too large")?;
            Ok(Source::Generated {
                seed: number(seed, "SEED")?,
                ops,
                print_only: flag == "--print-gen",
            })
        }
        [dash] if dash == "-" => Ok(Source::Stdin),
        [path] if !path.starts_with("--") => Ok(Source::File(path.clone())),
        _ => Err("expected one script argument".into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(args.as_slice(), [flag] if flag == "--help" || flag == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (own, args) = match args.split_first() {
        Some((flag, rest)) if flag == "--own-vmas" => (true, rest),
        _ => (false, args.as_slice()),
    };
    let (smaps, args) = match args.split_first() {
        Some((flag, rest)) if flag == "--smaps" => (true, rest),
        _ => (false, args),
    };
    let source = match parse_args(args) {
        Ok(source) => source,
        Err(message) => {
            eprintln!("pervma-kernel-runner: {message}\n{USAGE}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // Bytes that are not UTF-8 become U+FFFD, which makes their line
    // malformed (with its number) unless it is a comment: the lines above
    // still run, as for any malformed line.
    let text = match source {
        Source::File(path) => match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(error) => {
                eprintln!("pervma-kernel-runner: cannot read {path}: {error}");
                return ExitCode::from(EXIT_FAILURE);
            }
        },
        Source::Stdin => {
            let mut bytes = Vec::new();
            if let Err(error) = io::stdin().read_to_end(&mut bytes) {
                eprintln!("pervma-kernel-runner: cannot read standard input: {error}");
                return ExitCode::from(EXIT_FAILURE);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Source::Generated {
            seed,
            ops,
            print_only,
        } => {
            let text = mmscript::generate(seed, ops);
            if print_only {
                print!("{text}");
                return ExitCode::SUCCESS;
            }
            text
        }
    };
    if own {
        return own_vmas(&text);
    }
    run(&text, smaps)
}

/// `--own-vmas`: after the set-up of a run of `text`, the number of VMAs
/// of this process outside the window and its spill zone.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn own_vmas(text: &str) -> ExitCode {
    let zone = match sys::Zone::claim() {
        Ok(zone) => zone,
        Err(message) => {
            eprintln!("pervma-kernel-runner: SKIP: {message}");
            return ExitCode::from(EXIT_SKIP);
        }
    };
    let runner = kernel::KernelRunner::new(zone, false);
    let maps = match std::fs::read_to_string("/proc/self/maps") {
        Ok(maps) => maps,
        Err(error) => {
            eprintln!("pervma-kernel-runner: cannot read /proc/self/maps: {error}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    drop(runner);
    // The script stays alive until here, as it does through a run.
    debug_assert!(text.len() < usize::MAX);
    println!("{}", window::count_outside(&maps));
    ExitCode::SUCCESS
}

/// Elsewhere there is nothing to count.
#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn own_vmas(text: &str) -> ExitCode {
    run(text, false)
}

/// Checks the window and runs the script.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn run(text: &str, smaps: bool) -> ExitCode {
    use mmscript::ReplayError;

    let zone = match sys::Zone::claim() {
        Ok(zone) => zone,
        Err(message) => {
            eprintln!("pervma-kernel-runner: SKIP: {message}");
            return ExitCode::from(EXIT_SKIP);
        }
    };
    let mut runner = kernel::KernelRunner::new(zone, smaps);
    // Line-buffered: every finished line is out even if the run stops.
    let mut out = io::stdout().lock();
    match mmscript::replay(text, &mut runner, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(ReplayError::Parse(error)) => {
            eprintln!("{error}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(ReplayError::Io(error)) => {
            eprintln!("pervma-kernel-runner: writing the output: {error}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Elsewhere there is nothing to run on.
#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn run(_: &str, _: bool) -> ExitCode {
    eprintln!(
        "pervma-kernel-runner: SKIP: the kernel runner needs Linux on x86_64 \
         (this is {} on {})",
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    ExitCode::from(EXIT_SKIP)
}
