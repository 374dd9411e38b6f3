//! `pervma uffd-handler`: Firecracker's page-fault handler protocol
//! (docs/snapshotting/handling-page-faults-on-snapshot-resume.md).
//!
//! Listens on `--socket`, takes one connection (the VMM's), receives the
//! guest regions (JSON) and the userfaultfd (`SCM_RIGHTS`) in one
//! message, and serves every fault from `--mem-file` with
//! `pervma_uffd::firecracker::serve` until the VMM closes the connection
//! (or exits). A balloon's `REMOVE` turns ranges into zero-fill.

use pervma_uffd::{firecracker, CpuLatency, PagerConfig, Wait};
use std::io::Read;
use std::os::unix::net::UnixListener;
use std::process::ExitCode;
use std::time::Duration;

/// The command line of `pervma uffd-handler`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The Unix socket to listen on (the VMM's `backend_path`); a stale
    /// socket file there is replaced.
    #[arg(long)]
    socket: std::path::PathBuf,
    /// The snapshot's guest memory file.
    #[arg(long)]
    mem_file: std::path::PathBuf,
    /// Handler threads reading the userfaultfd.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// How long a handler spins for the next fault before it blocks, in
    /// microseconds (0: block at once).
    #[arg(long, default_value_t = 50)]
    spin_us: u64,
    /// Hold a CPU latency request of this many microseconds while serving
    /// (`/dev/cpu_dma_latency`; 0: idle CPUs poll instead of halting, so a
    /// faulting vCPU thread wakes without an interrupt to a halted CPU).
    /// System-wide, and root's by default.
    #[arg(long)]
    cpu_latency_us: Option<u32>,
}

pub(crate) fn run(args: Args) -> ExitCode {
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pervma uffd-handler: {e}");
            ExitCode::from(1)
        }
    }
}

fn serve(args: &Args) -> Result<(), String> {
    let mem_file = std::fs::File::open(&args.mem_file)
        .map_err(|e| format!("{}: {e}", args.mem_file.display()))?;
    let _latency = args
        .cpu_latency_us
        .map(CpuLatency::request)
        .transpose()
        .map_err(|e| format!("--cpu-latency-us: {e}"))?;
    let _ = std::fs::remove_file(&args.socket);
    let listener =
        UnixListener::bind(&args.socket).map_err(|e| format!("{}: {e}", args.socket.display()))?;
    let (mut stream, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    let (regions, uffd) = firecracker::receive(&stream).map_err(|e| format!("handshake: {e}"))?;
    let wait = match args.spin_us {
        0 => Wait::Block,
        us => Wait::Spin(Duration::from_micros(us)),
    };
    let config = PagerConfig {
        threads: args.threads.max(1),
        wait,
        ..PagerConfig::default()
    };
    let pager = firecracker::serve(&regions, uffd, &mem_file, config).map_err(|e| e.to_string())?;
    eprintln!(
        "pervma uffd-handler: serving {} region(s) from {}",
        regions.len(),
        args.mem_file.display()
    );
    // The VMM keeps the connection open while it runs: serve until it
    // closes (or dies).
    let mut byte = [0u8; 64];
    while matches!(stream.read(&mut byte), Ok(n) if n > 0) {}
    let stats = pager
        .shutdown(Duration::from_secs(5))
        .map_err(|s| format!("a handler thread did not stop ({s:?})"))?;
    eprintln!(
        "pervma uffd-handler: {} faults: {} copied, {} zero, {} poisoned, {} already there, {} events",
        stats.faults, stats.copied, stats.zeroed, stats.poisoned, stats.exists, stats.events
    );
    Ok(())
}
