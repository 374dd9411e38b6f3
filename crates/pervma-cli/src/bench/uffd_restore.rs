//! `restore` (run only when named: `pervma bench --workload restore`,
//! about 20 s): a Firecracker snapshot restore, served by `pervma
//! uffd-handler`'s code and by a port of Firecracker's own example
//! handler, on the same client.
//!
//! The client plays the VMM's part as Firecracker does on resume: it maps
//! the guest memory (private anonymous, 32,768 pages), registers it with a
//! userfaultfd (MISSING, `UFFD_FEATURE_EVENT_REMOVE` as for a balloon)
//! and hands the descriptor and the region to the handler; then two
//! "vCPU" threads each store to every page of their half, in order, so
//! every store is a fault the handler serves from the memory file. One
//! repetition is one restore (a fresh mapping, userfaultfd and handler);
//! the figure is the time until both threads are done, per fault.
//!
//! - `pervma Nt block|spin`: [`firecracker::serve`], which `pervma
//!   uffd-handler` runs after its socket handshake: a `Pager` with N
//!   handler threads over an `Mm` that maps the file at the region.
//! - `firecracker example`: Firecracker's `on_demand_handler` and its
//!   `uffd_utils` (src/firecracker/examples/uffd), ported: one thread
//!   that blocks in `poll`, then reads every queued message, one `read`
//!   per message, and serves each with `UFFDIO_COPY` from the memory file
//!   (mapped afresh for each restore, as its `Runtime::new` does),
//!   finding its region by a linear scan, zero pages for ranges
//!   a `REMOVE` gave back, faults that meet `EAGAIN` retried after the
//!   next read.
//! - `pervma 1t block no-halt`: one blocking handler with a CPU latency
//!   request of 0 held (`--cpu-latency-us 0`: idle CPUs poll instead of
//!   halting); as plain `1t block` where the request is refused.
//! - `kernel`: the same stores on private anonymous memory without a
//!   userfaultfd (zero-filled by the kernel).

use super::kernel::Mapping;
use super::measure::Summary;
use super::registry::{Context, Workload};
use super::report::{group, Table};
use pervma_uffd::firecracker::{self, GuestRegion};
use pervma_uffd::{
    features, sys, CpuLatency, Event, Events, OpenOptions, PagerConfig, Uffd, Wait, PAGE,
};
use std::collections::HashSet;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Pages of guest memory (the figure: 32,768).
const PAGES: u64 = 32768;
/// vCPU threads.
const VCPUS: u64 = 2;

#[derive(Clone, Copy)]
enum Handler {
    /// `no_halt`: a CPU latency request of 0 held during the restore
    /// (`pervma uffd-handler --cpu-latency-us 0`).
    Pervma {
        threads: usize,
        wait: Wait,
        no_halt: bool,
    },
    FirecrackerExample,
    Kernel,
}

const HANDLERS: [(Handler, &str); 7] = [
    (Handler::FirecrackerExample, "firecracker example"),
    (
        Handler::Pervma {
            threads: 1,
            wait: Wait::Block,
            no_halt: false,
        },
        "pervma 1t block",
    ),
    (
        Handler::Pervma {
            threads: 1,
            wait: Wait::Spin(Duration::from_micros(50)),
            no_halt: false,
        },
        "pervma 1t spin",
    ),
    (
        Handler::Pervma {
            threads: 2,
            wait: Wait::Block,
            no_halt: false,
        },
        "pervma 2t block",
    ),
    (
        Handler::Pervma {
            threads: 2,
            wait: Wait::Spin(Duration::from_micros(50)),
            no_halt: false,
        },
        "pervma 2t spin",
    ),
    (
        Handler::Pervma {
            threads: 1,
            wait: Wait::Block,
            no_halt: true,
        },
        "pervma 1t block no-halt",
    ),
    (Handler::Kernel, "kernel"),
];

/// The memory file's byte at offset `o`.
fn pattern(o: u64) -> u8 {
    (o / PAGE * 3 + o % 253) as u8
}

/// A snapshot memory file holding `bytes`, in /dev/shm (its name removed
/// at once; the open file stays).
fn mem_file(bytes: &[u8]) -> std::io::Result<std::fs::File> {
    let path = format!("/dev/shm/pervma-bench-restore-{}", std::process::id());
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    f.write_all(bytes)?;
    Ok(f)
}

/// One restore with `handler`: nanoseconds per fault per vCPU thread.
fn restore(handler: Handler, pages: u64, file: &std::fs::File) -> f64 {
    let _latency = match handler {
        Handler::Pervma { no_halt: true, .. } => CpuLatency::request(0).ok(),
        _ => None,
    };
    let guest = Mapping::new(pages as usize).expect("guest memory");
    let stop = AtomicBool::new(false);
    let opts = OpenOptions {
        features: features::EVENT_REMOVE,
        ..OpenOptions::default()
    };
    let uffd = Uffd::open(opts).expect("userfaultfd");
    let region = GuestRegion {
        base_host_virt_addr: guest.addr(),
        size: pages * PAGE,
        offset: 0,
        page_size: PAGE,
    };
    std::thread::scope(|s| {
        let pager = match handler {
            Handler::Kernel => None,
            Handler::Pervma { threads, wait, .. } => {
                guest.register(&uffd).expect("register");
                let fd = uffd.as_fd().try_clone_to_owned().expect("dup");
                let config = PagerConfig {
                    threads,
                    wait,
                    ..PagerConfig::default()
                };
                Some(firecracker::serve(&[region], fd, file, config).expect("serve"))
            }
            Handler::FirecrackerExample => {
                guest.register(&uffd).expect("register");
                let (uffd, stop) = (&uffd, &stop);
                s.spawn(move || firecracker_example(uffd, &[region], file, stop));
                None
            }
        };
        let start = Barrier::new(VCPUS as usize + 1);
        let per = pages / VCPUS;
        let t0 = std::thread::scope(|v| {
            for t in 0..VCPUS {
                let (start, guest) = (&start, &guest);
                v.spawn(move || {
                    start.wait();
                    for i in t * per..(t + 1) * per {
                        guest.touch(i as usize);
                    }
                });
            }
            start.wait();
            Instant::now()
        });
        let ns = t0.elapsed().as_nanos() as f64 / per as f64;
        stop.store(true, Relaxed);
        if let Some(p) = pager {
            let _ = p.shutdown(Duration::from_secs(5));
        }
        ns
    })
}

/// Firecracker's example handler (`on_demand_handler` over
/// `uffd_utils::UffdHandler`), ported; see the module docs.
fn firecracker_example(
    uffd: &Uffd,
    regions: &[GuestRegion],
    file: &std::fs::File,
    stop: &AtomicBool,
) {
    // Runtime::new: the memory file mapped privately, read-only.
    let backing = sys::Mmap::file(file).expect("mmap of the memory file");
    let mut handler = ExampleHandler {
        uffd,
        regions,
        backing: backing.bytes(),
        removed: HashSet::new(),
    };
    let mut deferred: Vec<Event> = Vec::new();
    let mut one = Events::with_capacity(1); // uffd-rs `read_event`: one message per read
    let fd = uffd.as_raw_fd();
    while !stop.load(Relaxed) {
        // Runtime::run: poll(-1) on the uffd (and the socket). A timeout
        // here, to notice the end of the run.
        if !sys::poll_in(&[fd], 10).is_ok_and(|r| r[0]) {
            continue;
        }
        // on_demand_handler: read every queued message, serve them, and
        // go round again while some met EAGAIN.
        loop {
            let mut pending: Vec<Event> = std::mem::take(&mut deferred);
            while uffd.read_events(&mut one).unwrap_or(0) > 0 {
                pending.extend(one.iter());
            }
            deferred.extend(pending.into_iter().filter(|&e| !handler.serve(e)));
            if deferred.is_empty() {
                break;
            }
        }
    }
}

/// uffd_utils' `UffdHandler`: the regions, the mapped memory file, the
/// pages a `REMOVE` gave back.
struct ExampleHandler<'a> {
    uffd: &'a Uffd,
    regions: &'a [GuestRegion],
    backing: &'a [u8],
    removed: HashSet<u64>,
}

impl ExampleHandler<'_> {
    /// Serves one event; `false` when the kernel said `EAGAIN` (a `REMOVE`
    /// is queued) and it must wait for the next read.
    fn serve(&mut self, event: Event) -> bool {
        let page = match event {
            Event::PageFault { address, .. } => address & !(PAGE - 1),
            Event::Remove { start, end } => {
                self.removed.extend((start / PAGE)..(end / PAGE));
                return true;
            }
            other => panic!("unexpected event {other:?}"),
        };
        let served = if self.removed.contains(&(page / PAGE)) {
            self.uffd.zeropage(page, PAGE)
        } else {
            let r = self
                .regions
                .iter()
                .find(|r| r.base_host_virt_addr <= page && page < r.base_host_virt_addr + r.size)
                .expect("a fault outside the regions");
            let o = (r.offset + page - r.base_host_virt_addr) as usize;
            self.uffd.copy(page, &self.backing[o..o + PAGE as usize])
        };
        match served {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => false,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => true,
            r => {
                r.expect("UFFDIO_COPY");
                true
            }
        }
    }
}

/// The `restore` workload.
pub(crate) struct Restore;

impl Workload for Restore {
    fn name(&self) -> &'static str {
        "restore"
    }

    fn run(&self, cx: &Context<'_>) -> Vec<Table> {
        if let Err(e) = Uffd::open(OpenOptions::default()) {
            eprintln!("pervma bench: restore: skipped: {e}");
            return vec![];
        }
        vec![table(cx)]
    }

    fn in_default_suite(&self) -> bool {
        false
    }
}

/// The restore table.
fn table(cx: &Context<'_>) -> Table {
    let mut table = Table::new(
        "restore",
        "snapshot restore: 2 vCPU threads store to 32,768 fresh pages served from a memory \
         file (Firecracker's protocol), time per fault per vCPU",
        "fault",
    );
    // Quick mode (CI's smoke run): a smaller guest.
    let pages = if cx.plan.duration < Duration::from_millis(20) {
        2048
    } else {
        PAGES
    };
    let bytes: Vec<u8> = (0..pages * PAGE).map(pattern).collect();
    let file = mem_file(&bytes).expect("memory file");
    let mut reps = vec![Vec::new(); HANDLERS.len()];
    for rep in 0..=cx.plan.reps {
        for (i, (handler, name)) in HANDLERS.into_iter().enumerate() {
            cx.progress.set(format!("uffd restore {name}"));
            let ns = restore(handler, pages, &file);
            if rep > 0 {
                reps[i].push(ns); // rep 0 warms up
            }
        }
    }
    for ((_, name), reps) in HANDLERS.into_iter().zip(reps) {
        let summary = Summary::from_reps(reps, VCPUS as usize, &[]);
        table.push(name, group![vcpus = VCPUS, pages = pages], summary, vec![]);
    }
    table
}
