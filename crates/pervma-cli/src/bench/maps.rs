//! `maps`: the whole `/proc/pid/maps` text of N VMAs, per line.
//!
//! pervma's text comes from [`maps_text`]: `Mm::maps_lines`, read VMA by
//! VMA under per-VMA locks without `mmap_lock`. The kernel row reads this
//! process's `/proc/self/maps` with N extra VMAs mapped.

use super::kernel;
use super::measure::{interleave, measure};
use super::registry::{Context, Workload};
use super::report::{group, Table};
use super::strategy::{Kind, Layout, MmLookup, MmStrategy};
use pervma::Mm;
use std::fmt::Write as _;

/// Writes `mm`'s maps text into `out` and returns its number of lines:
/// [`Mm::maps_lines`], which reads VMA by VMA under per-VMA locks
/// (`lock_next_vma`) as Linux 6.17's `/proc/pid/maps` does.
pub(crate) fn maps_text<T>(mm: &Mm<T>, out: &mut String) -> usize {
    out.clear();
    let mut lines = 0;
    for line in mm.maps_lines() {
        let _ = writeln!(out, "{line}");
        lines += 1;
    }
    lines
}

/// The `maps` workload.
pub(crate) struct Maps;

impl Workload for Maps {
    fn name(&self) -> &'static str {
        "maps"
    }

    fn run(&self, cx: &Context<'_>) -> Vec<Table> {
        let mut table = Table::new(
            "maps",
            "the whole maps text of N VMAs (pervma: Mm::maps_lines under per-VMA locks; kernel: /proc/self/maps)",
            "line",
        );
        for n in cx.args.vmas_or(&[1000, 30_000]) {
            cx.progress.set(format!("maps vmas={n}: building"));
            let s = MmStrategy::new(Layout { n }, MmLookup::Helper);
            let vmas = kernel::Vmas::new(n as usize).expect("mapping the kernel layout");
            let names = [Kind::Pervma.name(), "kernel"];
            let sums = interleave(&cx.plan, 2, |i, round, plan| {
                cx.progress.set(format!(
                    "maps vmas={n} round {}/{} {}",
                    round + 1,
                    cx.plan.reps,
                    names[i]
                ));
                if i == 0 {
                    measure(plan, 1, &[], &|| {}, cx.progress, |_| {
                        let mut text = String::new();
                        let mm = &s.mm;
                        move || maps_text(mm, &mut text) as u64
                    })
                } else {
                    measure(plan, 1, &[], &|| {}, cx.progress, |_| {
                        let mut buf = Vec::new();
                        move || kernel::read_maps(&mut buf).expect("reading /proc/self/maps") as u64
                    })
                }
            });
            drop((s, vmas));
            for (name, s) in names.into_iter().zip(sums) {
                table.push(name, group![vmas = n], s, vec![]);
            }
        }
        vec![table]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pervma::{File, MapFlags, Prot};

    #[test]
    fn lines_look_like_proc_maps() {
        let mm: Mm<u64> = Mm::new();
        mm.mmap(
            0x10_0000,
            0x2000,
            Prot::READ | Prot::WRITE,
            MapFlags::PRIVATE | MapFlags::FIXED,
            None,
            0,
        )
        .unwrap();
        let f = File::new("/lib/libfoo.so", 0x10000);
        mm.mmap(
            0x20_0000,
            0x1000,
            Prot::READ | Prot::EXEC,
            MapFlags::PRIVATE | MapFlags::FIXED,
            Some((f, 0x1000)),
            0,
        )
        .unwrap();
        let mut text = String::new();
        assert_eq!(maps_text(&mm, &mut text), 2);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "00100000-00102000 rw-p 00000000 00:00 0 ");
        assert!(lines[1].starts_with("00200000-00201000 r-xp 00001000 00:00 "));
        // Linux pads the line to 25 + 6 * sizeof(void *) before the name.
        assert_eq!(lines[1].find('/'), Some(73));
    }
}
