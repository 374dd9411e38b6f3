//! `fault`: page faults per second, alone and while another thread churns
//! an unrelated range of the same address space.
//!
//! Each faulting thread stores one byte to each page of a 256-page private
//! anonymous mapping of its own, in turn, and drops the pages with
//! `MADV_DONTNEED` after the last one, so every store faults a fresh page
//! in: `Mm::access_write` for pervma (the VMA lock, a no-fault store that
//! misses, `handle_fault`, the store again, which allocates the page), a
//! real store for the kernel (a real page fault). `pervma-host` is pervma
//! with the host-memory backend (`pervma_host::HostMemory`): the same
//! calls, with a real host page fault behind each guest fault
//! (`MADV_POPULATE_WRITE`) and the store through the host pointer; its
//! `MADV_DONTNEED` drops the host pages too. The writers are the `churn`
//! workload's. `kept` is the throughput with churn over alone: the point
//! of per-VMA locks is that it stays near 1.

use super::churn::{above_writers, kept, kernel_figure, with_writer, Writer, WRITERS};
use super::kernel::Mapping;
use super::measure::{interleave, measure, Plan, Summary};
use super::registry::{Context, Workload};
use super::report::{group, Table};
use super::strategy::{Layout, MmLookup, MmStrategy, Strategy, P};
use pervma::{Advice, MapFlags, Mm, MmConfig, Prot};
use pervma_host::HostMemory;

/// Pages per faulting thread's mapping (as the kernel row's).
const PAGES: u64 = 256;

/// The `fault` workload.
pub(crate) struct Fault;

/// Whose faults a figure measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Row {
    /// pervma's own memory.
    Pervma,
    /// pervma on host memory.
    PervmaHost,
    /// The kernel's own faults.
    Kernel,
}

impl Row {
    fn name(self) -> &'static str {
        match self {
            Row::Pervma => "pervma",
            Row::PervmaHost => "pervma-host",
            Row::Kernel => "kernel",
        }
    }
}

/// An address space on a host reservation big enough for the layout,
/// the writers' ranges and the faulting threads' areas (1 TiB, reserved
/// `PROT_NONE` without backing).
fn host_backed_mm() -> Mm<u64> {
    const SIZE: u64 = 1 << 40;
    let host = HostMemory::new(SIZE).expect("reserving 1 TiB of host address space");
    let mut config = MmConfig::default();
    config.task_size = SIZE;
    config.mmap_base = SIZE / 2;
    Mm::with_backend(config, host)
}

/// One repetition of pervma's faulting threads beside one writer.
fn pervma_figure(
    cx: &Context<'_>,
    plan: &Plan,
    s: &MmStrategy,
    layout: Layout,
    threads: usize,
    writer: Writer,
) -> Summary {
    let areas = above_writers(layout);
    let mm = &s.mm;
    with_writer(s, layout, writer, |bg| {
        let summary = measure(plan, threads, bg, &|| {}, cx.progress, |t| {
            // Apart from each other, so that they never merge.
            let area = areas + t as u64 * 2 * PAGES * P;
            let rw = Prot::READ | Prot::WRITE;
            mm.mmap(
                area,
                PAGES * P,
                rw,
                MapFlags::PRIVATE | MapFlags::FIXED,
                None,
                0,
            )
            .expect("mmap of the fault area");
            let mut page = 0;
            move || {
                for _ in 0..64 {
                    mm.access_write(area + page * P, &[1])
                        .expect("a store to the fault area");
                    page += 1;
                    if page == PAGES {
                        mm.madvise(area, PAGES * P, Advice::DontNeed)
                            .expect("madvise");
                        page = 0;
                    }
                }
                64
            }
        });
        for t in 0..threads as u64 {
            s.unmap(areas + t * 2 * PAGES * P, PAGES * P);
        }
        summary
    })
}

impl Workload for Fault {
    fn name(&self) -> &'static str {
        "fault"
    }

    fn run(&self, cx: &Context<'_>) -> Vec<Table> {
        let mut table = Table::new(
            "fault",
            "a store that faults in a fresh page (pervma: Mm::access_write; kernel: a real fault) \
             while a writer churns an unrelated range; kept = throughput with churn / alone",
            "fault",
        );
        for n in cx.args.vmas_or(&[1000]) {
            let layout = Layout { n };
            cx.progress.set(format!("fault vmas={n}: building"));
            let s = MmStrategy::new(layout, MmLookup::Helper);
            let host = MmStrategy::on(host_backed_mm(), layout, MmLookup::Helper);
            let _vmas = super::kernel::Vmas::new(n as usize).expect("mapping the kernel layout");
            let split = Mapping::new(3).expect("mmap");
            for threads in cx.args.threads_or(&[1, 2]) {
                // (writer, row) for every figure, measured interleaved.
                let figures: Vec<(Writer, Row)> = WRITERS
                    .iter()
                    .flat_map(|&w| [(w, Row::Pervma), (w, Row::PervmaHost), (w, Row::Kernel)])
                    .collect();
                let sums = interleave(&cx.plan, figures.len(), |i, round, plan| {
                    let (writer, row) = figures[i];
                    cx.progress.set(format!(
                        "fault vmas={n} round {}/{} threads={threads} writer={} {}",
                        round + 1,
                        cx.plan.reps,
                        writer.name(),
                        row.name()
                    ));
                    match row {
                        Row::Kernel => kernel_figure(cx, plan, threads, writer, &split),
                        Row::Pervma => pervma_figure(cx, plan, &s, layout, threads, writer),
                        Row::PervmaHost => pervma_figure(cx, plan, &host, layout, threads, writer),
                    }
                });
                for (&(writer, row), sum) in figures.iter().zip(&sums) {
                    let alone = figures
                        .iter()
                        .position(|&f| f == (Writer::None, row))
                        .map(|i| &sums[i])
                        .expect("every strategy has a figure alone");
                    table.push(
                        row.name(),
                        group![vmas = n, threads = threads, writer = writer.name()],
                        sum.clone(),
                        kept(alone, sum),
                    );
                }
            }
            drop(s);
            drop(host);
            pervma::rcu_barrier();
        }
        vec![table]
    }
}
