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
//!   memory, `pkey_alloc`) unless `--pku on|off` says otherwise;
//!   `--overcommit host|always|PAGES` (default `host`: this machine's
//!   `vm.overcommit_memory`, RAM and swap) and `--max-map-count N`
//!   (default 65530) set the limits the kernel would apply.
//!
//! - `pervma uffd-handler --socket PATH --mem-file FILE [--threads N]
//!   [--spin-us US] [--cpu-latency-us US]`: a Firecracker-compatible
//!   page-fault handler (see
//!   `uffd_handler`): serves a restored microVM's guest memory from its
//!   snapshot's memory file through pervma-uffd.
//!
//! Unsafe code is denied everywhere but in `bench::kernel`, the live
//! kernel's system calls for the bench's kernel rows.

#![deny(unsafe_code)]

mod bench;
mod uffd_handler;

use pervma_cli::replay;

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
        /// `vm.overcommit_memory` of the model: `host` (this machine's
        /// policy, RAM and swap, from /proc, as the kernel runner sees
        /// them), `always` (no charge fails), or a number of pages
        /// (`OVERCOMMIT_GUESS` with that much RAM + swap).
        #[arg(long, default_value = "host")]
        overcommit: String,
        /// `vm.max_map_count` of the model (Linux's default 65530). The
        /// live kernel counts the runner's own VMAs too: give the limit
        /// less those to compare a script that reaches it.
        #[arg(long, default_value_t = 65530)]
        max_map_count: usize,
        /// The script, or - for standard input.
        script: String,
    },
    /// Serve a Firecracker microVM's page faults from its snapshot memory
    /// file (Firecracker's userfaultfd handler protocol).
    UffdHandler(uffd_handler::Args),
}

/// `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum OnOff {
    On,
    Off,
}

/// `--overcommit`: the policy it names.
fn overcommit(arg: &str) -> Result<pervma::Overcommit, String> {
    match arg {
        "host" => {
            let read = |path: &str| {
                std::fs::read_to_string(path).map_err(|e| format!("--overcommit host: {path}: {e}"))
            };
            let policy = read("/proc/sys/vm/overcommit_memory")?;
            pervma::Overcommit::from_proc(&policy, &read("/proc/meminfo")?)
                .map_err(|e| format!("--overcommit host: {e} (give `always` or a page count)"))
        }
        "always" => Ok(pervma::Overcommit::Always),
        pages => match pages.parse() {
            Ok(total_pages) => Ok(pervma::Overcommit::Guess { total_pages }),
            Err(_) => Err(format!(
                "--overcommit {pages}: expected host, always or a page count"
            )),
        },
    }
}

/// `pervma replay`: exit 0 when the script ran, 2 for a malformed script
/// (after printing the results of the lines before it), 1 when the script
/// cannot be read or the output cannot be written.
fn replay(path: &str, smaps: bool, config: Result<pervma::MmConfig, String>) -> ExitCode {
    use std::io::Read;
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            eprintln!("pervma replay: {e}");
            return ExitCode::from(1);
        }
    };
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
        Command::UffdHandler(args) => uffd_handler::run(args),
        Command::Replay {
            smaps,
            pku,
            overcommit: policy,
            max_map_count,
            script,
        } => {
            let config = overcommit(&policy).map(|o| {
                let d = pervma::MmConfig::default();
                let arch = match pku {
                    None => pervma::Arch::host(),
                    Some(OnOff::On) => pervma::Arch::X86_64_PKU,
                    Some(OnOff::Off) => pervma::Arch::X86_64,
                };
                pervma::MmConfig::new(d.task_size, d.mmap_min_addr, d.mmap_base, max_map_count)
                    .with_overcommit(o)
                    .with_arch(arch)
            });
            replay(&script, smaps, config)
        }
    }
}
