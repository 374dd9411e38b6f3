//! `uffd`: real page faults served from user space, per second and per
//! fault, alone and while another thread changes mappings elsewhere.
//!
//! One or two guest threads store one byte to each page of a 1024-page
//! region of their own, in turn, and drop the pages (`MADV_DONTNEED`)
//! after the last one, so every store is a fresh fault. The figures
//! include those drops and the two clock reads per fault (about 40 ns).
//! One guest measures a fault's latency with a CPU to spare; two, the
//! rate (and on a 2-CPU machine, two guests beside a spinning handler
//! are three threads on two CPUs). The writer runs beside two guests.
//!
//! - `pervma-uffd Nt block|spin`: a [`Pager`] with N handler threads,
//!   blocking at once or spinning 50 us first; the regions are file VMAs
//!   of an `Mm` over an [`OwnMemory`] reservation, each page copied from
//!   the file's bytes (`UFFDIO_COPY`) under `lock_vma`. The writer maps
//!   and unmaps a page of the same `Mm` elsewhere (a real `mmap` +
//!   `UFFDIO_REGISTER`, and a real `mmap(PROT_NONE)`, under `mmap_lock`).
//! - `... no-halt`: the same with a CPU latency request of 0 held
//!   ([`CpuLatency`]; idle CPUs poll instead of halting, so waking a
//!   faulting thread needs no interrupt to a halted vCPU); skipped where
//!   the request is refused (not root).
//! - `naive`: one handler thread, the regions in a
//!   `Mutex<BTreeMap>` (held while a page is copied, as simple handlers
//!   do); the writer maps and unmaps a real page with that mutex held,
//!   as such a pager must to keep its map true.
//! - `kernel`: the kernel's own faults on the same kind of memory
//!   (private anonymous, no userfaultfd); the writer maps and unmaps a
//!   real page.
//!
//! The writer runs back to back (`mmap/munmap`: a CPU's worth of changes,
//! which on two CPUs also takes CPU time from guests and handlers) or
//! `paced` (a change every 100 us or so: little CPU, so what is left is
//! the cost of the changes' locks).
//!
//! `p50`/`p99` are per fault (ns); `kept` is the rate with the writer
//! over the rate alone (two guests).
//!
//! The `restore` workload ([`super::uffd_restore`]) is a Firecracker
//! snapshot restore, served by `pervma uffd-handler`'s code and by a port
//! of Firecracker's example handler.

use super::kernel::{self, Mapping};
use super::measure::{measure, percentile, Background, Plan, Summary};
use super::registry::{Context, Workload};
use super::report::{group, Table};
use pervma::{Advice, File, MapFlags, Mm, Prot};
use pervma_uffd::{
    CpuLatency, FileContents, OpenOptions, OwnMemory, Pager, PagerConfig, Uffd, Unmapped, Wait,
    PAGE,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Pages per guest thread's region.
const PAGES: u64 = 1024;
/// Guest threads: one, for the latency of a fault with a CPU to spare
/// (on a 2-CPU machine, two guests and a spinning handler are three
/// threads on two CPUs, and a served guest waits for a CPU), and two.
const GUESTS: [usize; 2] = [1, 2];

/// The thread that changes mappings elsewhere while the guests fault.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Writer {
    None,
    /// Maps and unmaps a page, back to back: a CPU's worth of changes
    /// (on two CPUs, it takes CPU time from the guests and handlers too).
    Busy,
    /// The same, then sleeps 100 us: a few thousand changes per second,
    /// little CPU, so the rows show what the changes' locks cost.
    Paced,
}

impl Writer {
    fn name(self) -> &'static str {
        match self {
            Writer::None => "none",
            Writer::Busy => "mmap/munmap",
            Writer::Paced => "paced",
        }
    }

    /// Runs `change` until `stop`, paced as `self` says; counts the changes
    /// into `writes`.
    fn churn(self, stop: &AtomicBool, writes: &AtomicU64, mut change: impl FnMut()) {
        let mut w = 0;
        while !stop.load(Relaxed) {
            change();
            w += 1;
            if self == Writer::Paced {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        writes.fetch_add(w, Relaxed);
    }
}

/// One figure's setting.
struct Run<'a> {
    cx: &'a Context<'a>,
    lat: &'a Latencies,
    /// The writer's operations.
    writes: &'a AtomicU64,
    writer: Writer,
    guests: usize,
}
/// Faults per batch.
const BATCH: u64 = 16;
/// Latency samples kept per figure.
const MAX_SAMPLES: usize = 1 << 20;

#[derive(Clone, Copy)]
enum Kind {
    /// `no_halt`: with a CPU latency request of 0 held
    /// ([`CpuLatency`]: idle CPUs poll instead of halting).
    Pervma {
        threads: usize,
        wait: Wait,
        no_halt: bool,
    },
    Naive,
    Kernel,
}

const SPIN: Wait = Wait::Spin(Duration::from_micros(50));

const KINDS: [(Kind, &str); 8] = [
    (
        Kind::Pervma {
            threads: 1,
            wait: Wait::Block,
            no_halt: false,
        },
        "pervma-uffd 1t block",
    ),
    (
        Kind::Pervma {
            threads: 1,
            wait: SPIN,
            no_halt: false,
        },
        "pervma-uffd 1t spin",
    ),
    (
        Kind::Pervma {
            threads: 2,
            wait: Wait::Block,
            no_halt: false,
        },
        "pervma-uffd 2t block",
    ),
    (
        Kind::Pervma {
            threads: 2,
            wait: SPIN,
            no_halt: false,
        },
        "pervma-uffd 2t spin",
    ),
    (
        Kind::Pervma {
            threads: 1,
            wait: Wait::Block,
            no_halt: true,
        },
        "pervma-uffd 1t block no-halt",
    ),
    (
        Kind::Pervma {
            threads: 1,
            wait: SPIN,
            no_halt: true,
        },
        "pervma-uffd 1t spin no-halt",
    ),
    (Kind::Naive, "naive"),
    (Kind::Kernel, "kernel"),
];

/// The file's byte at offset `o`.
fn pattern(o: u64) -> u8 {
    (o / PAGE + o % 251) as u8
}

/// Per-fault latencies of one figure.
#[derive(Default)]
struct Latencies(Mutex<Vec<u32>>);

impl Latencies {
    fn record(&self, local: &mut Vec<u32>) {
        let mut all = self.0.lock().unwrap();
        if all.len() < MAX_SAMPLES {
            all.extend_from_slice(local);
        }
        local.clear();
    }
}

/// Times one touch.
#[inline]
fn timed(local: &mut Vec<u32>, touch: impl FnOnce()) {
    let t = Instant::now();
    touch();
    local.push(t.elapsed().as_nanos().min(u32::MAX as u128) as u32);
}

/// The guests: `run.guests` threads, each touching the pages of its own
/// area in turn (`touch(t, page)`, timed) and dropping them all
/// (`drop_pages(t)`) after the last, beside `bg`.
fn guests(
    run: &Run<'_>,
    bg: &[Background<'_>],
    drop_pages: &(dyn Fn(usize) + Sync),
    touch: &(dyn Fn(usize, u64) + Sync),
) -> Summary {
    let lat = run.lat;
    // Half the suite's repetition time (50 ms by default: thousands of
    // faults per repetition), to keep the default suite under 90 s.
    let plan = Plan::new(run.cx.plan.duration / 2, run.cx.plan.reps);
    measure(
        &plan,
        run.guests,
        bg,
        &|| lat.0.lock().unwrap().clear(),
        run.cx.progress,
        |t| {
            let mut i = 0;
            let mut local = Vec::with_capacity(BATCH as usize);
            move || {
                for _ in 0..BATCH {
                    if i == PAGES {
                        drop_pages(t);
                        i = 0;
                    }
                    timed(&mut local, || touch(t, i));
                    i += 1;
                }
                lat.record(&mut local);
                BATCH
            }
        },
    )
}

/// The `uffd` workload.
pub(crate) struct UffdWorkload;

impl Workload for UffdWorkload {
    fn name(&self) -> &'static str {
        "uffd"
    }

    fn run(&self, cx: &Context<'_>) -> Vec<Table> {
        let mut table = Table::new(
            "uffd",
            "page faults served from user space (userfaultfd), 1 and 2 guest threads: time per \
             fault, alone and while a writer maps and unmaps elsewhere",
            "fault",
        );
        if let Err(e) = Uffd::open(OpenOptions::default()) {
            eprintln!("pervma bench: uffd: skipped: {e}");
            return vec![];
        }
        // Each kind's rate with two guests and no writer, for `kept`.
        let mut alone = [0.0; KINDS.len()];
        let settings = [
            (GUESTS[0], Writer::None),
            (GUESTS[1], Writer::None),
            (GUESTS[1], Writer::Busy),
            (GUESTS[1], Writer::Paced),
        ];
        for (guests, writer) in settings {
            let writer_name = writer.name();
            for (i, (kind, name)) in KINDS.into_iter().enumerate() {
                if guests == 1 && matches!(kind, Kind::Pervma { threads: 2, .. }) {
                    continue; // a second handler thread has nothing to do
                }
                if writer == Writer::Paced
                    && matches!(
                        kind,
                        Kind::Pervma {
                            wait: Wait::Spin(_),
                            ..
                        }
                    )
                {
                    continue; // the suite's time: the blocking rows say it
                }
                let no_halt = matches!(kind, Kind::Pervma { no_halt: true, .. });
                if no_halt && writer != Writer::None {
                    continue; // what the request changes shows without a writer
                }
                // Held while this figure runs.
                let _latency = match no_halt.then(|| CpuLatency::request(0)) {
                    Some(Err(e)) => {
                        eprintln!("pervma bench: uffd: {name} skipped: {e}");
                        continue;
                    }
                    held => held,
                };
                cx.progress
                    .set(format!("uffd guests={guests} writer={writer_name} {name}"));
                let lat = Latencies::default();
                let writes = AtomicU64::new(0);
                let run = Run {
                    cx,
                    lat: &lat,
                    writes: &writes,
                    writer,
                    guests,
                };
                let t0 = Instant::now();
                let summary = match kind {
                    Kind::Pervma { threads, wait, .. } => pervma(&run, threads, wait),
                    Kind::Naive => naive(&run),
                    Kind::Kernel => kernel_faults(&run),
                };
                let elapsed = t0.elapsed().as_secs_f64();
                let mut v: Vec<u64> = lat
                    .0
                    .into_inner()
                    .unwrap()
                    .into_iter()
                    .map(u64::from)
                    .collect();
                v.sort_unstable();
                let rate = summary.ops_per_sec;
                let mut extra = vec![
                    ("p50", percentile(&v, 50.0) as f64),
                    ("p99", percentile(&v, 99.0) as f64),
                    ("writer/s", writes.load(Relaxed) as f64 / elapsed),
                ];
                if writer != Writer::None {
                    extra.push(("kept", rate / f64::max(alone[i], 1.0)));
                } else if guests == GUESTS[1] {
                    alone[i] = rate;
                }
                table.push(
                    name,
                    group![guests = guests, writer = writer_name],
                    summary,
                    extra,
                );
            }
        }
        vec![table]
    }
}

/// pervma-uffd: a pager over an `Mm` with an `OwnMemory` backend.
fn pervma(run: &Run<'_>, threads: usize, wait: Wait) -> Summary {
    let guest_count = run.guests as u64;
    let uffd = Arc::new(Uffd::open(OpenOptions::default()).expect("userfaultfd"));
    let file = File::new("bench", PAGES * PAGE);
    let bytes: Arc<[u8]> = (0..PAGES * PAGE).map(pattern).collect();
    let contents = Arc::new(FileContents::new().with_bytes(&file, bytes));
    let stride = 2 * PAGES * PAGE; // a gap between regions: no merging
    let (mem, config) =
        OwnMemory::reserve(stride * (guest_count + 1), uffd.clone(), contents.clone())
            .expect("reservation");
    let base = mem.base();
    let mm = Arc::new(Mm::with_backend(config, mem.clone()));
    let rw = Prot::READ | Prot::WRITE;
    for t in 0..guest_count {
        mm.mmap(
            base + t * stride,
            PAGES * PAGE,
            rw,
            MapFlags::PRIVATE | MapFlags::FIXED,
            Some((file.clone(), 0)),
            (),
        )
        .expect("mmap");
    }
    let config = PagerConfig {
        threads,
        wait,
        unmapped: Unmapped::Wake,
        apply_events: false,
    };
    let pager = Pager::start(mm.clone(), uffd, contents, config).expect("pager");
    let churn_at = base + stride * guest_count;
    let churn = |stop: &AtomicBool| {
        let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
        run.writer.churn(stop, run.writes, || {
            mm.mmap(churn_at, PAGE, rw, flags, None, ()).expect("mmap");
            mm.munmap(churn_at, PAGE).expect("munmap");
        });
    };
    let bg: &[Background<'_>] = if run.writer != Writer::None {
        &[&churn]
    } else {
        &[]
    };
    let (mm, mem) = (&mm, &mem);
    let area = |t: usize| base + t as u64 * stride;
    let summary = guests(
        run,
        bg,
        &|t| {
            mm.madvise(area(t), PAGES * PAGE, Advice::DontNeed)
                .expect("madvise")
        },
        &|t, i| kernel::touch_own(mem, area(t) + i * PAGE),
    );
    let _ = pager.shutdown(Duration::from_secs(5));
    summary
}

/// A naive handler: one thread, a `Mutex<BTreeMap>` region map.
fn naive(run: &Run<'_>) -> Summary {
    let uffd = Uffd::open(OpenOptions::default()).expect("userfaultfd");
    let bytes: Vec<u8> = (0..PAGES * PAGE).map(pattern).collect();
    let maps: Vec<Mapping> = (0..run.guests)
        .map(|_| Mapping::new(PAGES as usize).expect("mmap"))
        .collect();
    // start -> (end, offset in the bytes)
    let regions: Mutex<BTreeMap<u64, (u64, u64)>> = Mutex::new(BTreeMap::new());
    for m in &maps {
        m.register(&uffd).expect("register");
        regions
            .lock()
            .unwrap()
            .insert(m.addr(), (m.addr() + PAGES * PAGE, 0));
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (uffd, regions, bytes, stop) = (&uffd, &regions, &bytes, &stop);
        s.spawn(move || {
            let mut events = pervma_uffd::Events::with_capacity(16);
            while !stop.load(Relaxed) {
                if uffd.read_events(&mut events).unwrap_or(0) == 0 {
                    let fd = std::os::fd::AsRawFd::as_raw_fd(uffd);
                    let _ = pervma_uffd::sys::poll_in(&[fd], 10);
                    continue;
                }
                for event in events.iter() {
                    if let pervma_uffd::Event::PageFault { address, .. } = event {
                        let page = address & !(PAGE - 1);
                        let map = regions.lock().unwrap();
                        let found = map
                            .range(..=page)
                            .next_back()
                            .filter(|(_, &(end, _))| page < end);
                        let r = match found {
                            Some((&start, &(_, off))) => {
                                let o = (off + page - start) as usize;
                                uffd.copy(page, &bytes[o..o + PAGE as usize])
                            }
                            None => uffd.wake(page, PAGE),
                        };
                        if r.is_err() {
                            let _ = uffd.wake(page, PAGE);
                        }
                    }
                }
            }
        });
        let churn = |stop: &AtomicBool| {
            run.writer.churn(stop, run.writes, || {
                let mut map = regions.lock().unwrap();
                map.insert(1, (2, 0));
                kernel::mmap_munmap_page();
                map.remove(&1);
            });
        };
        let bg: &[Background<'_>] = if run.writer != Writer::None {
            &[&churn]
        } else {
            &[]
        };
        let maps = &maps;
        let summary = guests(
            run,
            bg,
            &|t| maps[t].drop_pages().expect("madvise"),
            &|t, i| maps[t].touch(i as usize),
        );
        stop.store(true, Relaxed);
        summary
    })
}

/// The kernel's own faults on private anonymous memory.
fn kernel_faults(run: &Run<'_>) -> Summary {
    let maps: Vec<Mapping> = (0..run.guests)
        .map(|_| Mapping::new(PAGES as usize).expect("mmap"))
        .collect();
    let churn = |stop: &AtomicBool| run.writer.churn(stop, run.writes, kernel::mmap_munmap_page);
    let bg: &[Background<'_>] = if run.writer != Writer::None {
        &[&churn]
    } else {
        &[]
    };
    let maps = &maps;
    guests(
        run,
        bg,
        &|t| maps[t].drop_pages().expect("madvise"),
        &|t, i| maps[t].touch(i as usize),
    )
}
