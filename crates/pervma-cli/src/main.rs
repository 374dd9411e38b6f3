//! `pervma`: the command-line face of the library.
//!
//! - `pervma bench [--workload W,..] [--threads N,..] [--vmas N,..]
//!   [--duration 100ms] [--json FILE] [--svg FILE]`: pervma's per-VMA
//!   locks against an `mmap_lock`-only address space, read-write-locked
//!   and lock-free maps, and the live kernel, in one run (see `bench`).
//! - `pervma replay SCRIPT|-`: runs an mmscript (../shared/MMSCRIPT.md) on
//!   a pervma address space and prints what Linux would print.
//!   `pervma replay --smaps SCRIPT|-` also prints each VMA's `Rss`,
//!   `Anonymous` and `Locked` (kB) on its `maps` line (for tests).
//!   The address space has this machine's protection keys (execute-only
//!   memory, `pkey_alloc`) unless `--pku on|off` says otherwise.
//!
//! Unsafe code is denied everywhere but in `bench::kernel`, the live
//! kernel's system calls for the bench's kernel rows.

#![deny(unsafe_code)]

mod bench;
mod replay;
mod smaps;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Linux's address-space management with per-VMA locks, in Rust.
#[derive(Parser, Debug)]
#[command(name = "pervma", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Benchmark pervma against the alternatives and the live kernel.
    Bench(bench::BenchArgs),
    /// Run an mmscript on a pervma address space and print what Linux
    /// would print.
    Replay {
        /// Also print each VMA's `Rss`, `Anonymous` and `Locked` (kB) on
        /// its `maps` line, as the kernel runner's `--smaps` does (for
        /// tests; not part of mmscript v1).
        #[arg(long)]
        smaps: bool,
        /// Whether the address space has x86 protection keys (execute-only
        /// memory, `pkey_alloc`); by default as this machine does.
        #[arg(long, value_name = "on|off")]
        pku: Option<OnOff>,
        /// The script, or - for standard input.
        script: String,
    },
}

/// `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum OnOff {
    On,
    Off,
}

/// `pervma replay`: exit 0 when the script ran, 2 for a malformed script
/// (after printing the results of the lines before it), 1 when the script
/// cannot be read or the output cannot be written.
fn replay(path: &str, smaps: bool, pku: Option<OnOff>) -> ExitCode {
    use std::io::Read;
    let mut text = Vec::new();
    let read = if path == "-" {
        std::io::stdin().read_to_end(&mut text)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut text))
    };
    if let Err(e) = read {
        eprintln!("pervma replay: {path}: {e}");
        return ExitCode::from(1);
    }
    let text = String::from_utf8_lossy(&text);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut config = pervma::MmConfig::host();
    if let Some(pku) = pku {
        config = config.with_arch(if pku == OnOff::On {
            pervma::Arch::X86_64_PKU
        } else {
            pervma::Arch::X86_64
        });
    }
    let mut model = replay::Model::new(config);
    model.smaps = smaps;
    match mmscript::replay(&text, &mut model, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(mmscript::ReplayError::Parse(e)) => {
            drop(out);
            eprintln!("{path}: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("pervma replay: {e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Bench(args) => bench::run(args),
        Command::Replay { smaps, pku, script } => replay(&script, smaps, pku),
    }
}
