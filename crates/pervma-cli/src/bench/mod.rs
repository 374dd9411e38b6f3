//! `pervma bench`: pervma against the alternatives, measured in one run.
//!
//! Each workload ([`registry::WORKLOADS`]) runs the same code on every
//! strategy ([`strategy`]), through one trait, plus the live kernel where
//! the workload has a kernel equivalent ([`kernel`], the crate's only
//! unsafe code). Every figure is the median of at least five timed
//! repetitions after a warm-up, with their minimum and maximum, and a
//! ratio to the first strategy of its group, so that figures from the
//! same run compare even on a noisy machine. The verdict section checks
//! the targets of issue 5 against the run.
//!
//! | module | what |
//! |---|---|
//! | `args` | the command line |
//! | `registry` | the workloads, one line each |
//! | `measure` | threads, barrier, warm-up, repetitions, statistics, progress |
//! | `strategy` | the strategies behind one trait |
//! | `lookup`, `churn`, `write`, `maps`, `helper`, `callers` | one file per workload |
//! | `kernel` | real mmap/munmap/mprotect/madvise and page faults |
//! | `report`, `verdict`, `json`, `svg`, `machine` | the output |
//!
//! Adding a workload (the `fault` and `uffd` rows, once the page table
//! lands): a file with a type that implements `registry::Workload`, whose
//! `run` measures with `measure::measure` (threads, barrier, warm-up,
//! repetitions) and returns `report::Table`s; its `mod` line here; its
//! line in `registry::WORKLOADS`. The tables, JSON, SVG and `--workload`
//! pick it up from there.
//!
//! Every figure also carries the share of the wall time its threads spent
//! on a CPU (`cpu%`): on a machine shared with other work, a figure whose
//! threads ran 50% of the time is noise, whatever its spread says.

mod args;
mod callers;
mod churn;
mod fault;
mod helper;
mod json;
#[allow(unsafe_code)]
mod kernel;
mod lookup;
mod machine;
mod maps;
mod measure;
mod registry;
mod report;
mod strategy;
mod svg;
mod uffd;
mod uffd_restore;
mod verdict;
mod write;

pub(crate) use args::BenchArgs;

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// Creates `path` now, so that a bad path fails before the run, not after.
fn create(path: &Path) -> Result<File, String> {
    File::create(path).map_err(|e| format!("pervma bench: cannot write {}: {e}", path.display()))
}

/// Runs the selected workloads and prints their tables and the verdict.
pub(crate) fn run(args: BenchArgs) -> ExitCode {
    let files = (|| {
        let json = args.json.as_deref().map(create).transpose()?;
        let svg = args.svg.as_deref().map(create).transpose()?;
        Ok::<_, String>((json, svg))
    })();
    let (json_file, svg_file) = match files {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let start = Instant::now();
    let machine = machine::Machine::detect();
    let plan = measure::Plan::new(args.duration, args.reps);
    println!("pervma bench on {}", machine.line());
    println!(
        "{} ms per repetition, {} timed repetitions per figure after a {} ms warm-up, \
         the figures of a group interleaved; ns/op is per thread, the median with min and max; \
         ratio = cost / first row of the group; cpu% = share of the time the threads were on a CPU\n",
        plan.duration.as_secs_f64() * 1e3,
        plan.reps,
        plan.warmup.as_secs_f64() * 1e3
    );
    let progress = measure::Progress::new();
    let cx = registry::Context {
        args: &args,
        plan,
        progress: &progress,
    };
    let mut tables = Vec::new();
    for w in registry::WORKLOADS
        .iter()
        .filter(|w| args.selects(w.name(), w.in_default_suite()))
    {
        for t in w.run(&cx) {
            progress.done();
            println!("{}", t.render());
            tables.push(t);
        }
    }
    progress.done();
    let verdicts = verdict::verdicts(&tables);
    println!("{}", verdict::render(&verdicts));
    let wall = start.elapsed().as_secs_f64();
    println!("wall time {wall:.1} s");

    let mut status = ExitCode::SUCCESS;
    if let Some(mut f) = json_file {
        let v = json::report(&machine, &plan, &tables, &verdicts, wall);
        let text = serde_json::to_string_pretty(&v).expect("serializing the report");
        if let Err(e) = f.write_all(text.as_bytes()) {
            eprintln!("pervma bench: writing the JSON: {e}");
            status = ExitCode::from(1);
        }
    }
    if let Some(mut f) = svg_file {
        if let Err(e) = f.write_all(svg::render(&tables).as_bytes()) {
            eprintln!("pervma bench: writing the SVG: {e}");
            status = ExitCode::from(1);
        }
    }
    status
}
