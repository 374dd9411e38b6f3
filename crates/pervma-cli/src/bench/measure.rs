//! Running threads against a clock: a start barrier, one untimed warm-up,
//! then timed repetitions; and the statistics of the repetitions.
//!
//! Every worker thread is spawned once per figure and lives through all
//! its repetitions. A repetition starts when the controller and all
//! workers pass a barrier; each worker times itself from there until the
//! controller raises the stop flag, checking it once per batch (a batch is
//! a few hundred operations, so the check costs nothing per operation).
//! Background threads (writers that churn the address space) run from
//! before the warm-up until after the last repetition.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// How long to run and how often.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Time of one repetition.
    pub(crate) duration: Duration,
    /// Timed repetitions (the warm-up is extra).
    pub(crate) reps: u32,
    /// Time of the untimed warm-up before them.
    pub(crate) warmup: Duration,
}

impl Plan {
    /// `reps` repetitions of `duration`, each figure warmed up for a
    /// quarter of that first.
    pub(crate) fn new(duration: Duration, reps: u32) -> Plan {
        Plan {
            duration,
            reps,
            warmup: (duration / 4).max(Duration::from_millis(1)),
        }
    }
}

/// Minimum, median and maximum of the repetitions' figures.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Spread {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Spread {
    /// The spread of `values` (which must not be empty).
    pub(crate) fn of(values: &[f64]) -> Spread {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }
}

/// The result of one figure: nanoseconds per operation per thread, over
/// the repetitions, and the operations per second of all threads together
/// at the median.
#[derive(Clone, Debug)]
pub(crate) struct Summary {
    pub(crate) ns: Spread,
    pub(crate) ops_per_sec: f64,
    pub(crate) threads: usize,
    pub(crate) reps: Vec<f64>,
    /// The median share of the wall time the measured threads spent on a
    /// CPU (from /proc/thread-self/schedstat; `None` where it is
    /// missing). Below 1, other processes took CPU time from them: the
    /// figure is noise-inflated.
    pub(crate) on_cpu: Option<f64>,
}

impl Summary {
    /// A summary of per-thread ns/op figures, one per repetition.
    pub(crate) fn from_reps(reps: Vec<f64>, threads: usize, on_cpu: &[f64]) -> Summary {
        let ns = Spread::of(&reps);
        Summary {
            ns,
            ops_per_sec: threads as f64 * 1e9 / ns.median,
            threads,
            reps,
            on_cpu: (!on_cpu.is_empty()).then(|| Spread::of(on_cpu).median),
        }
    }
}

/// A thread that runs beside the measured ones until told to stop.
pub(crate) type Background<'a> = &'a (dyn Fn(&AtomicBool) + Sync);

/// Runs `threads` workers for one warm-up and `plan.reps` timed
/// repetitions and returns their per-thread ns/op.
///
/// `make(i)` builds worker `i`'s batch function on its own thread; each
/// call runs a batch of operations and returns how many it ran.
/// `background` threads start before the warm-up and stop after the last
/// repetition. `after_warmup` runs on the controller between the warm-up
/// and the first timed repetition, while every worker waits.
pub(crate) fn measure<M, W>(
    plan: &Plan,
    threads: usize,
    background: &[Background<'_>],
    after_warmup: &dyn Fn(),
    progress: &Progress,
    make: M,
) -> Summary
where
    M: Fn(usize) -> W + Sync,
    W: FnMut() -> u64,
{
    let barrier = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    let finished = AtomicBool::new(false);
    let background_stop = AtomicBool::new(false);
    // Per repetition, per thread: (ops, elapsed ns, on-CPU ns).
    let results = Mutex::new(vec![(0u64, 0u64, None); threads]);
    let mut reps = Vec::with_capacity(plan.reps as usize);
    let mut on_cpu = Vec::with_capacity(plan.reps as usize);
    std::thread::scope(|s| {
        for bg in background {
            let flag = &background_stop;
            s.spawn(move || bg(flag));
        }
        for t in 0..threads {
            let (barrier, stop, finished, results, make) =
                (&barrier, &stop, &finished, &results, &make);
            s.spawn(move || {
                let mut batch = make(t);
                loop {
                    barrier.wait();
                    if finished.load(Ordering::Relaxed) {
                        break;
                    }
                    let cpu0 = on_cpu_ns();
                    let t0 = Instant::now();
                    let mut ops = 0;
                    while !stop.load(Ordering::Relaxed) {
                        ops += batch();
                    }
                    let ns = t0.elapsed().as_nanos() as u64;
                    let cpu = cpu0.zip(on_cpu_ns()).map(|(a, b)| b.saturating_sub(a));
                    results.lock().unwrap()[t] = (ops, ns, cpu);
                    barrier.wait();
                }
            });
        }
        for rep in 0..=plan.reps {
            progress.rep(rep, plan.reps);
            stop.store(false, Ordering::Relaxed);
            barrier.wait();
            std::thread::sleep(if rep == 0 { plan.warmup } else { plan.duration });
            stop.store(true, Ordering::Relaxed);
            barrier.wait();
            if rep == 0 {
                after_warmup();
                continue;
            }
            let r = results.lock().unwrap();
            let per_thread: f64 = r
                .iter()
                .map(|&(ops, ns, _)| ns as f64 / ops.max(1) as f64)
                .sum::<f64>()
                / threads as f64;
            reps.push(per_thread);
            let shares: Option<Vec<f64>> = r
                .iter()
                .map(|&(_, ns, cpu)| cpu.map(|c| (c as f64 / ns.max(1) as f64).min(1.0)))
                .collect();
            if let Some(s) = shares {
                on_cpu.push(s.iter().sum::<f64>() / threads as f64);
            }
        }
        finished.store(true, Ordering::Relaxed);
        barrier.wait();
        background_stop.store(true, Ordering::Relaxed);
    });
    Summary::from_reps(reps, threads, &on_cpu)
}

/// The calling thread's time on a CPU so far, in ns (the first field of
/// /proc/thread-self/schedstat), if the kernel reports it.
fn on_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Measures `count` figures interleaved, so that a machine whose load
/// changes during the run spreads the change over every figure instead of
/// the ones that happened to run then: round `r` runs one repetition of
/// each figure (after that figure's warm-up) before round `r + 1` begins.
///
/// `one(i, round, plan)` measures figure `i` with `plan` (one repetition)
/// and returns its summary.
pub(crate) fn interleave(
    plan: &Plan,
    count: usize,
    mut one: impl FnMut(usize, u32, &Plan) -> Summary,
) -> Vec<Summary> {
    let single = Plan { reps: 1, ..*plan };
    let mut reps = vec![Vec::new(); count];
    let mut cpu = vec![Vec::new(); count];
    let mut threads = vec![1; count];
    for round in 0..plan.reps {
        for i in 0..count {
            let s = one(i, round, &single);
            reps[i].extend(s.reps);
            cpu[i].extend(s.on_cpu);
            threads[i] = s.threads;
        }
    }
    reps.into_iter()
        .zip(cpu)
        .zip(threads)
        .map(|((r, c), t)| Summary::from_reps(r, t, &c))
        .collect()
}

/// The `p`-th percentile (0..=100) of sorted `values`.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A cheap per-thread generator (xorshift64) for precomputed address
/// arrays.
pub(crate) struct XorShift(u64);

impl XorShift {
    pub(crate) fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// The progress line on standard error, drawn only when it is a terminal.
pub(crate) struct Progress {
    enabled: bool,
    start: Instant,
    label: Mutex<String>,
}

impl Progress {
    pub(crate) fn new() -> Progress {
        Progress {
            enabled: std::io::stderr().is_terminal(),
            start: Instant::now(),
            label: Mutex::new(String::new()),
        }
    }

    /// Names the figure being measured now.
    pub(crate) fn set(&self, label: String) {
        *self.label.lock().unwrap() = label;
        self.draw("");
    }

    fn rep(&self, rep: u32, reps: u32) {
        if rep == 0 {
            self.draw(" warm-up");
        } else if reps == 1 {
            self.draw(" measuring");
        } else {
            self.draw(&format!(" rep {rep}/{reps}"));
        }
    }

    fn draw(&self, suffix: &str) {
        if self.enabled {
            let label = self.label.lock().unwrap();
            let t = self.start.elapsed().as_secs_f64();
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[K[{t:5.1}s] {label}{suffix}");
            let _ = e.flush();
        }
    }

    /// Clears the line.
    pub(crate) fn done(&self) {
        if self.enabled {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_percentiles() {
        let s = Spread::of(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.min, s.median, s.max), (1.0, 3.0, 5.0));
        assert_eq!(Spread::of(&[1.0, 2.0]).median, 1.5);
        let v: Vec<u64> = (0..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
    }

    #[test]
    fn measure_runs_every_repetition() {
        let plan = Plan::new(Duration::from_millis(2), 5);
        let s = measure(&plan, 2, &[], &|| {}, &Progress::new(), |_| {
            || {
                std::hint::black_box((0..100u64).sum::<u64>());
                1
            }
        });
        assert_eq!(s.reps.len(), 5);
        assert!(s.ns.median > 0.0 && s.ns.min <= s.ns.median && s.ns.median <= s.ns.max);
    }

    #[test]
    fn interleave_runs_rounds_of_every_figure() {
        let plan = Plan::new(Duration::from_millis(1), 5);
        let mut order = Vec::new();
        let sums = interleave(&plan, 3, |i, round, p| {
            assert_eq!(p.reps, 1);
            order.push((round, i));
            Summary::from_reps(vec![(i + 1) as f64], 1, &[0.5])
        });
        assert_eq!(order.len(), 15);
        assert_eq!(&order[..4], &[(0, 0), (0, 1), (0, 2), (1, 0)]);
        assert_eq!(sums[2].reps, vec![3.0; 5]);
        assert_eq!(sums[1].on_cpu, Some(0.5));
    }
}
