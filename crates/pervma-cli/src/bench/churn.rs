//! `churn`: readers do `lookup` while another thread maps and unmaps (or
//! splits and re-merges with `mprotect`) an unrelated range of the same
//! address space. The figure that matters is `kept`: the readers'
//! throughput with churn over their throughput alone. `kept(cpu)` is the
//! same per unit of CPU time the readers got: on two cores the writer and
//! any other process take CPU time from the readers, which `kept` counts
//! and `kept(cpu)` sets aside (but a reader that blocks on a lock also
//! stops using CPU, so `kept(cpu)` flatters the locking strategies).
//!
//! The kernel row: readers take real page faults (touch a page of their
//! own mapping, `MADV_DONTNEED` it all every 256 pages) while another
//! thread does real `mmap`/`munmap` (or `mprotect`) elsewhere.

use super::kernel::{self, Mapping};
use super::lookup::readers;
use super::measure::{measure, Background, Summary};
use super::registry::{Context, Workload};
use super::report::{group, Table};
use super::strategy::{with_strategy, Kind, Layout, Strategy, WithStrategy, P};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// What the writer thread does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Writer {
    None,
    Mmap,
    Mprotect,
}

const WRITERS: [Writer; 3] = [Writer::None, Writer::Mmap, Writer::Mprotect];

impl Writer {
    fn name(self) -> &'static str {
        match self {
            Writer::None => "none",
            Writer::Mmap => "mmap+munmap",
            Writer::Mprotect => "mprotect",
        }
    }
}

/// The `churn` workload.
pub(crate) struct Churn;

/// Measures one strategy alone and under each churn.
struct Run<'a, 'c> {
    cx: &'a Context<'c>,
    layout: Layout,
    threads: usize,
    kind: Kind,
}

impl WithStrategy for Run<'_, '_> {
    type Out = Vec<Summary>;
    fn run<S: Strategy>(self, s: &S) -> Vec<Summary> {
        // The writers' ranges: far above the layout, apart from each other.
        let far = self.layout.end() + 0x100_0000;
        let split = s.map(Some(far + 0x10_0000), 3 * P);
        let mmap_writer = |stop: &AtomicBool| {
            while !stop.load(Relaxed) {
                let a = s.map(Some(far), P);
                s.unmap(a, P);
            }
        };
        let mprotect_writer = |stop: &AtomicBool| {
            while !stop.load(Relaxed) {
                s.protect(split + P, P, false);
                s.protect(split + P, P, true);
            }
        };
        WRITERS
            .iter()
            .map(|&c| {
                self.cx.progress.set(format!(
                    "churn vmas={} threads={} writer={} {}",
                    self.layout.n,
                    self.threads,
                    c.name(),
                    self.kind.name()
                ));
                let bg: &[Background<'_>] = match c {
                    Writer::None => &[],
                    Writer::Mmap => &[&mmap_writer],
                    Writer::Mprotect => &[&mprotect_writer],
                };
                readers(self.cx, s, self.layout, self.threads, bg)
            })
            .collect()
    }
}

/// The kernel row: faulting readers, a real writer elsewhere.
fn kernel_row(cx: &Context<'_>, n: u64, threads: usize) -> Vec<Summary> {
    let _vmas = kernel::Vmas::new(n as usize).expect("mapping the kernel layout");
    let split = Mapping::new(3).expect("mmap");
    let mmap_writer = |stop: &AtomicBool| {
        while !stop.load(Relaxed) {
            kernel::mmap_munmap_page();
        }
    };
    let mprotect_writer = |stop: &AtomicBool| {
        while !stop.load(Relaxed) {
            split.protect(1, 1, libc::PROT_READ).expect("mprotect");
            split
                .protect(1, 1, libc::PROT_READ | libc::PROT_WRITE)
                .expect("mprotect");
        }
    };
    WRITERS
        .iter()
        .map(|&c| {
            cx.progress.set(format!(
                "churn vmas={n} threads={threads} writer={} kernel",
                c.name()
            ));
            let bg: &[Background<'_>] = match c {
                Writer::None => &[],
                Writer::Mmap => &[&mmap_writer],
                Writer::Mprotect => &[&mprotect_writer],
            };
            measure(&cx.plan, threads, bg, &|| {}, cx.progress, |_| {
                let area = Mapping::new(256).expect("mmap");
                let mut page = 0;
                move || {
                    for _ in 0..64 {
                        area.touch(page);
                        page += 1;
                        if page == area.pages() {
                            area.drop_pages().expect("madvise");
                            page = 0;
                        }
                    }
                    64
                }
            })
        })
        .collect()
}

impl Workload for Churn {
    fn name(&self) -> &'static str {
        "churn"
    }

    fn run(&self, cx: &Context<'_>) -> Vec<Table> {
        let mut table = Table::new(
            "churn",
            "readers' lookups (kernel: page faults) while a writer churns an unrelated range; \
             kept = throughput with churn / alone",
            "op",
        );
        for n in cx.args.vmas_or(&[1000]) {
            for threads in cx.args.threads_or(&[1]) {
                let layout = Layout { n };
                let mut rows: Vec<(&str, Vec<Summary>)> = Kind::SHARED
                    .iter()
                    .map(|&kind| {
                        let w = Run {
                            cx,
                            layout,
                            threads,
                            kind,
                        };
                        (kind.name(), with_strategy(kind, layout, w))
                    })
                    .collect();
                rows.push(("kernel", kernel_row(cx, n, threads)));
                for (i, c) in WRITERS.iter().enumerate() {
                    for (name, sums) in &rows {
                        let kept = sums[0].ns.median / sums[i].ns.median;
                        let mut extra = vec![("kept", kept)];
                        // The same on CPU time: what is left when the
                        // time other processes took is set aside.
                        if let (Some(solo), Some(churn)) = (sums[0].on_cpu, sums[i].on_cpu) {
                            extra.push(("kept(cpu)", kept * solo / churn));
                        }
                        table.push(
                            name,
                            group![vmas = n, threads = threads, writer = c.name()],
                            sums[i].clone(),
                            extra,
                        );
                    }
                }
            }
        }
        vec![table]
    }
}
