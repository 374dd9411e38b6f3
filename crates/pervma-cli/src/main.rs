//! `pervma`: the command-line face of the library.
//!
//! - `pervma demo [--threads N] [--vmas N] [--millis MS]`: faults (VMA
//!   lookups under per-VMA locks) on N threads while another thread maps
//!   and unmaps elsewhere in the same address space, then the same without
//!   the churn, and the lock counters.
//! - `pervma replay SCRIPT|-`: runs an mmscript (../shared/MMSCRIPT.md) on
//!   a pervma address space and prints what Linux would print.
//!   `pervma replay --smaps SCRIPT|-` also prints each VMA's `Rss`,
//!   `Anonymous` and `Locked` (kB) on its `maps` line (for tests).

#![forbid(unsafe_code)]

mod replay;
mod smaps;

use pervma::{MapFlags, Mm, Prot};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

const P: u64 = 4096;
const USAGE: &str =
    "usage: pervma demo [--threads N] [--vmas N] [--millis MS]\n       pervma replay [--smaps] SCRIPT|-";

struct DemoArgs {
    threads: usize,
    vmas: u64,
    millis: u64,
}

fn parse_demo(args: &[String]) -> Result<DemoArgs, String> {
    let mut a = DemoArgs {
        threads: 2,
        vmas: 1000,
        millis: 500,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .parse::<u64>()
            .map_err(|e| format!("{flag}: {e}"))?;
        match flag.as_str() {
            "--threads" if (1..=64).contains(&value) => a.threads = value as usize,
            "--vmas" if (1..=60_000).contains(&value) => a.vmas = value,
            "--millis" if (1..=60_000).contains(&value) => a.millis = value,
            "--threads" | "--vmas" | "--millis" => {
                return Err(format!("{flag} {value}: out of range"))
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(a)
}

/// One run: lookups per second per thread, with or without churn.
fn run(mm: &Mm<u64>, base: u64, args: &DemoArgs, churn: bool) -> f64 {
    let stop = AtomicBool::new(false);
    let ops = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..args.threads {
            let (stop, ops) = (&stop, &ops);
            s.spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ t as u64;
                let mut n = 0;
                while !stop.load(Relaxed) {
                    for _ in 0..256 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let addr = base + (x % args.vmas) * 2 * P;
                        let vma = mm.lock_vma(addr).expect("every slot is mapped");
                        std::hint::black_box(vma.payload());
                    }
                    n += 256;
                }
                ops.fetch_add(n, Relaxed);
            });
        }
        if churn {
            s.spawn(|| {
                while !stop.load(Relaxed) {
                    let a = mm
                        .mmap(0, P, Prot::READ | Prot::WRITE, MapFlags::PRIVATE, None, 0)
                        .expect("mmap");
                    mm.munmap(a, P).expect("munmap");
                }
            });
        }
        std::thread::sleep(Duration::from_millis(args.millis));
        stop.store(true, Relaxed);
    });
    ops.load(Relaxed) as f64 / (args.millis as f64 / 1000.0) / args.threads as f64
}

fn demo(args: DemoArgs) {
    let mm: Mm<u64> = Mm::new();
    let base = 0x1000_0000;
    let t0 = Instant::now();
    for i in 0..args.vmas {
        // Every other page, so that neighbours stay separate VMAs.
        mm.mmap(
            base + i * 2 * P,
            P,
            Prot::READ,
            MapFlags::PRIVATE | MapFlags::FIXED,
            None,
            i,
        )
        .expect("mmap");
    }
    println!(
        "mapped {} VMAs in {:.1} ms",
        mm.map_count(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    let solo = run(&mm, base, &args, false);
    let churned = run(&mm, base, &args, true);
    println!(
        "lock_vma on {} threads: {:.1} M/s per thread alone, {:.1} M/s with mmap/munmap churn ({:.2}x)",
        args.threads,
        solo / 1e6,
        churned / 1e6,
        churned / solo
    );
    println!("counters: {:?}", mm.stats());
}

/// `pervma replay`: exit 0 when the script ran, 2 for a malformed script
/// (after printing the results of the lines before it), 1 when the script
/// cannot be read or the output cannot be written.
fn replay(path: &str, smaps: bool) -> ExitCode {
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
    let mut model = replay::Model::new();
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") => match parse_demo(&args[1..]) {
            Ok(a) => {
                demo(a);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("pervma demo: {e}\n{USAGE}");
                ExitCode::from(2)
            }
        },
        Some("replay") => {
            match &args[1..] {
                [path] => replay(path, false),
                [flag, path] if flag == "--smaps" => replay(path, true),
                _ => {
                    eprintln!("pervma replay: expected one script path (or - for standard input)\n{USAGE}");
                    ExitCode::from(2)
                }
            }
        }
        Some("-h" | "--help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("pervma: unknown command {other:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
