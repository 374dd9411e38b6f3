//! mprotect, madvise, mlock and munlock on bad and awkward arguments: the
//! errno and what each call changed, checked against what Linux 6.18 did.
//!
//! Every case starts from the same layout (window-relative, the window at
//! a 1 GiB-aligned base as in MMSCRIPT.md):
//!
//! ```text
//! 0x100000-0x102000 rw- private anonymous
//! 0x103000-0x104000 rw- private anonymous
//! 0x105000-0x107000 rw- shared anonymous
//! 0x107000-0x108000 --- private anonymous
//! ```
//!
//! The expected text is what `pervma-kernel-runner` printed for
//! `<layout>; <case>; maps` (the result line, then the maps block without
//! `end`).

use pervma::{Advice, File, MapFlags, Mm, Prot, VmFlags, Vma};
use std::fmt::Write;

const BASE: u64 = 0x2000_0000_0000;

fn num(word: &str) -> u64 {
    u64::from_str_radix(word.trim_start_matches("0x"), 16).unwrap()
}

fn prot(word: &str) -> Prot {
    let mut p = Prot::NONE;
    for (c, bit) in word.chars().zip([Prot::READ, Prot::WRITE, Prot::EXEC]) {
        p.set(bit, c != '-');
    }
    p
}

fn advice(word: &str) -> Advice {
    *Advice::ALL
        .iter()
        .find(|a| format!("{a:?}").to_lowercase() == word)
        .unwrap()
}

fn layout() -> Mm<u32> {
    let mm = Mm::new();
    let private = MapFlags::PRIVATE | MapFlags::FIXED;
    let shared = MapFlags::SHARED | MapFlags::FIXED;
    let rw = Prot::READ | Prot::WRITE;
    mm.mmap(BASE + 0x100000, 0x2000, rw, private, None, 0)
        .unwrap();
    mm.mmap(BASE + 0x103000, 0x1000, rw, private, None, 0)
        .unwrap();
    mm.mmap(BASE + 0x105000, 0x2000, rw, shared, None, 0)
        .unwrap();
    mm.mmap(BASE + 0x107000, 0x1000, Prot::NONE, private, None, 0)
        .unwrap();
    mm
}

fn run(mm: &Mm<u32>, case: &str) -> String {
    let w: Vec<&str> = case.split(' ').collect();
    let (addr, len) = (BASE.wrapping_add(num(w[1])), num(w[2]));
    let result = match w[0] {
        "mprotect" => mm.mprotect(addr, len, prot(w[3])),
        "madvise" => mm.madvise(addr, len, advice(w[3])),
        "mlock" => mm.mlock(addr, len),
        "munlock" => mm.munlock(addr, len),
        op => panic!("unknown op {op}"),
    };
    match result {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("err {}", e.name()),
    }
}

/// A `maps` block line, as mmscript prints it.
fn maps_line<T>(v: &Vma<T>) -> String {
    let f = v.flags();
    let bit = |flag: VmFlags, c: char| if f.contains(flag) { c } else { '-' };
    let mut line = format!(
        "{:#x}-{:#x} {}{}{}{} {:08x} {}",
        v.start() - BASE,
        v.end() - BASE,
        bit(VmFlags::READ, 'r'),
        bit(VmFlags::WRITE, 'w'),
        bit(VmFlags::EXEC, 'x'),
        if f.contains(VmFlags::MAYSHARE) {
            's'
        } else {
            'p'
        },
        v.file().map_or(0, |_| v.pgoff() << 12),
        v.file()
            .map_or("anon", |file: &std::sync::Arc<File>| file.name()),
    );
    let names = [
        (VmFlags::READ, "rd"),
        (VmFlags::WRITE, "wr"),
        (VmFlags::EXEC, "ex"),
        (VmFlags::SHARED, "sh"),
        (VmFlags::MAYREAD, "mr"),
        (VmFlags::MAYWRITE, "mw"),
        (VmFlags::MAYEXEC, "me"),
        (VmFlags::MAYSHARE, "ms"),
        (VmFlags::GROWSDOWN, "gd"),
        (VmFlags::LOCKED, "lo"),
        (VmFlags::DONTCOPY, "dc"),
        (VmFlags::WIPEONFORK, "wf"),
        (VmFlags::ACCOUNT, "ac"),
        (VmFlags::NORESERVE, "nr"),
        (VmFlags::HUGEPAGE, "hg"),
        (VmFlags::NOHUGEPAGE, "nh"),
        (VmFlags::SEQ_READ, "sr"),
        (VmFlags::RAND_READ, "rr"),
    ];
    for (flag, name) in names {
        if f.contains(flag) {
            write!(line, " {name}").unwrap();
        }
    }
    line
}

/// The call's result line, then one line per VMA.
fn outcome(mm: &Mm<u32>, case: &str) -> String {
    let mut out = run(mm, case);
    let g = mm.mmap_read_lock();
    for v in g.vmas() {
        out.push('\n');
        out.push_str(&maps_line(v));
    }
    out
}

/// Recorded on Linux 6.18 with pervma-kernel-runner.
const CASES: &[(&str, &str)] = &[
    ("mprotect 0x100001 0x1000 r--", "err EINVAL\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mprotect 0x100000 0 r--", "ok\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mprotect 0x100000 0xffffffffffffffff r--", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mprotect 0x100000 0xfffffffffffff001 r--", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mprotect 0x800000000000 0x1000 r--", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mprotect 0x102000 0x1000 r--", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mprotect 0x0ff000 0x2000 r--", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mprotect 0x100000 0x4000 r--", "err ENOMEM\n0x100000-0x102000 r--p 00000000 anon rd mr mw me\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mprotect 0x101000 0x1000 r--", "ok\n0x100000-0x101000 rw-p 00000000 anon rd wr mr mw me ac\n0x101000-0x102000 r--p 00000000 anon rd mr mw me\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mprotect 0x101000 0x3000 ---", "err ENOMEM\n0x100000-0x101000 rw-p 00000000 anon rd wr mr mw me ac\n0x101000-0x102000 ---p 00000000 anon mr mw me\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mprotect 0x105000 0x1000 r-x", "ok\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x106000 r-xs 00000000 shmem rd ex sh mr mw me ms\n0x106000-0x107000 rw-s 00001000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mprotect 0x100000 0x2000 rw-", "ok\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("madvise 0x100001 0x1000 normal", "err EINVAL\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("madvise 0x100000 0 random", "ok\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("madvise 0x100000 0xffffffffffffffff random", "err EINVAL\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("madvise 0x100000 0xfffffffffffff001 random", "err EINVAL\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("madvise 0x800000000000 0x1000 random", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("madvise 0x102000 0x1000 random", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("madvise 0x0ff000 0x2000 random", "err ENOMEM\n0x100000-0x101000 rw-p 00000000 anon rd wr mr mw me ac rr\n0x101000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("madvise 0x0f0000 0x1000 random", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("madvise 0x100000 0x8000 random", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac rr\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac rr\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms rr\n0x107000-0x108000 ---p 00000000 anon mr mw me rr"),
    ("madvise 0x100000 0x8000 wipeonfork", "err EINVAL\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me wf ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me wf ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("madvise 0x100000 0x8000 free", "err EINVAL\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("madvise 0x100000 0x8000 dontneed", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("madvise 0x101000 0x1000 hugepage", "ok\n0x100000-0x101000 rw-p 00000000 anon rd wr mr mw me ac\n0x101000-0x102000 rw-p 00000000 anon rd wr mr mw me ac hg\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("madvise 0x105000 0x1000 dontfork", "ok\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x106000 rw-s 00000000 shmem rd wr sh mr mw me ms dc\n0x106000-0x107000 rw-s 00001000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("madvise 0x107000 0x1000 sequential", "ok\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me sr"),
    ("mlock 0x100001 0x1000", "ok\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me lo ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mlock 0x100000 0", "ok\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mlock 0x100000 0xffffffffffffffff", "ok\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mlock 0x100000 0xfffffffffffff001", "ok\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mlock 0x800000000000 0x1000", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mlock 0x102000 0x1000", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mlock 0x0ff000 0x2000", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mlock 0x100000 0x8000", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me lo ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mlock 0x100fff 0x2", "ok\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me lo ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("mlock 0x107000 0x1000", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me lo"),
    ("mlock 0x105000 0x1000", "ok\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x106000 rw-s 00000000 shmem rd wr sh mr mw me ms lo\n0x106000-0x107000 rw-s 00001000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("munlock 0x100001 0x1000", "ok\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("munlock 0x100000 0", "ok\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("munlock 0x100000 0xffffffffffffffff", "ok\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("munlock 0x800000000000 0x1000", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("munlock 0x102000 0x1000", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
    ("munlock 0x100000 0x8000", "err ENOMEM\n0x100000-0x102000 rw-p 00000000 anon rd wr mr mw me ac\n0x103000-0x104000 rw-p 00000000 anon rd wr mr mw me ac\n0x105000-0x107000 rw-s 00000000 shmem rd wr sh mr mw me ms\n0x107000-0x108000 ---p 00000000 anon mr mw me"),
];

#[test]
fn bad_and_awkward_arguments_match_linux() {
    let mut failures = Vec::new();
    for (case, expected) in CASES {
        let mm = layout();
        let got = outcome(&mm, case);
        if got != *expected {
            failures.push(format!(
                "{case}\n--- linux\n{expected}\n--- pervma\n{got}\n"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn mprotect_rejects_unknown_prot_bits_after_len_checks() {
    let mm = layout();
    let bad = Prot::from_bits_retain(0x10);
    // len 0 succeeds before prot is looked at (do_mprotect_pkey's order).
    assert_eq!(mm.mprotect(BASE + 0x100000, 0, bad), Ok(()));
    assert_eq!(
        mm.mprotect(BASE + 0x100000, 0x1000, bad),
        Err(pervma::Errno::EINVAL)
    );
    // PROT_SEM is accepted and ignored.
    let sem = Prot::READ | Prot::from_bits_retain(0x8);
    assert_eq!(mm.mprotect(BASE + 0x100000, 0x1000, sem), Ok(()));
    // PROT_GROWSDOWN on a VMA that does not grow down; both GROWS bits.
    let down = Prot::READ | Prot::from_bits_retain(0x0100_0000);
    assert_eq!(
        mm.mprotect(BASE + 0x100000, 0x1000, down),
        Err(pervma::Errno::EINVAL)
    );
    let both = Prot::READ | Prot::from_bits_retain(0x0300_0000);
    assert_eq!(
        mm.mprotect(BASE + 0x100000, 0x1000, both),
        Err(pervma::Errno::EINVAL)
    );
}
