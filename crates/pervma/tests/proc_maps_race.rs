//! The guarantees of Linux's tools/testing/selftests/proc/proc-maps-race.c
//! for pervma's maps reader, which reads one VMA at a time under per-VMA
//! locks while another thread changes the VMA in the middle of the space:
//!
//! - every line parses and is (a part, ending at its end, of) one of the
//!   VMAs the space can hold in either state of the change: never torn;
//! - lines are strictly ascending and never overlap;
//! - every page that is mapped in both states is covered by a line, and
//!   the neighbours (unchanged throughout) appear exactly as they are;
//! - `procmap_query` at the changing address returns one of its states;
//! - the reader never hangs: each scenario's reader runs on its own
//!   thread and the test fails (instead of hanging) if it does not finish
//!   well after the writer stops.
//!
//! The layout: nine 3-page VMAs side by side, alternately `rw-p` and
//! `r--p` (so they never merge); the writer changes the middle one,
//! `rw-p` at `T`. Each scenario runs the writer for at most 1.2 s; there
//! are no timing assertions.
#![cfg(not(loom))]

use pervma::{File, MapFlags, Mm, ProcmapQueryFlags, Prot};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

const P: u64 = 4096;
const BASE: u64 = 0x1000_0000;
const N: u64 = 9;
const T: u64 = BASE + 3 * P * 4;
const END: u64 = BASE + 3 * P * N;
const FIXED: MapFlags = MapFlags::PRIVATE.union(MapFlags::FIXED);
const RW: Prot = Prot::READ.union(Prot::WRITE);
const WRITER_TIME: Duration = Duration::from_millis(1200);
/// How long the reader may take after the writer stopped before the test
/// calls it hung. Generous: the machine is shared.
const HANG: Duration = Duration::from_secs(30);

/// One VMA the space may hold: `[start, end)`, the perms column, and for
/// file mappings (offset of `start`, dev, inode, name).
#[derive(Clone, Debug, PartialEq)]
struct Vma {
    start: u64,
    end: u64,
    perms: &'static str,
    file: Option<(u64, (u32, u32), u64, String)>,
}

fn anon(start: u64, end: u64, perms: &'static str) -> Vma {
    Vma {
        start,
        end,
        perms,
        file: None,
    }
}

/// The neighbours: every VMA but the middle one, unchanged throughout.
fn neighbours() -> Vec<Vma> {
    (0..N)
        .filter(|&i| BASE + 3 * P * i != T)
        .map(|i| {
            let start = BASE + 3 * P * i;
            anon(
                start,
                start + 3 * P,
                if i % 2 == 0 { "rw-p" } else { "r--p" },
            )
        })
        .collect()
}

fn build() -> Arc<Mm<u32>> {
    let mm = Arc::new(Mm::new());
    for i in 0..N {
        let prot = if i % 2 == 0 { RW } else { Prot::READ };
        mm.mmap(BASE + 3 * P * i, 3 * P, prot, FIXED, None, 0)
            .unwrap();
    }
    assert_eq!(mm.map_count(), N as usize);
    mm
}

/// A parsed line.
#[derive(Debug)]
struct Line {
    start: u64,
    end: u64,
    perms: String,
    offset: u64,
    dev: (u32, u32),
    ino: u64,
    name: Option<String>,
}

/// Parses a line and checks that it is byte for byte what `show_map_vma`
/// prints for those fields.
fn parse(text: &str) -> Line {
    let bad = || -> ! { panic!("torn or malformed line {text:?}") };
    let mut it = text.splitn(6, ' ');
    let mut next = || it.next().unwrap_or_else(|| bad());
    let (range, perms, offset, dev, ino) = (next(), next(), next(), next(), next());
    let name = it
        .next()
        .map(|n| n.trim_start().to_owned())
        .filter(|n| !n.is_empty());
    let (start, end) = range.split_once('-').unwrap_or_else(|| bad());
    let hex = |s: &str| u64::from_str_radix(s, 16).unwrap_or_else(|_| bad());
    let (major, minor) = dev.split_once(':').unwrap_or_else(|| bad());
    let line = Line {
        start: hex(start),
        end: hex(end),
        perms: perms.to_owned(),
        offset: hex(offset),
        dev: (hex(major) as u32, hex(minor) as u32),
        ino: ino.parse::<u64>().unwrap_or_else(|_| bad()),
        name,
    };
    let header = format!(
        "{:08x}-{:08x} {} {:08x} {:02x}:{:02x} {} ",
        line.start, line.end, line.perms, line.offset, line.dev.0, line.dev.1, line.ino
    );
    let again = match &line.name {
        None => header,
        Some(n) => format!("{header:<72} {n}"),
    };
    assert_eq!(again, text, "not the kernel's format");
    line
}

/// Whether `line` is `vma`, or its part from `line.start` to its end.
fn is_part_of(line: &Line, vma: &Vma) -> bool {
    let in_range = vma.start <= line.start && line.start < vma.end && line.end == vma.end;
    let fields = match &vma.file {
        None => line.offset == 0 && line.dev == (0, 0) && line.ino == 0 && line.name.is_none(),
        Some((offset, dev, ino, name)) => {
            line.offset == offset + (line.start - vma.start)
                && line.dev == *dev
                && line.ino == *ino
                && line.name.as_deref() == Some(name.as_str())
        }
    };
    in_range && line.perms == vma.perms && fields
}

/// What one read of the whole text must satisfy.
struct Rules {
    /// Every VMA of either state, the neighbours included.
    allowed: Vec<Vma>,
    /// Pages that are mapped in both states.
    must_cover: Vec<(u64, u64)>,
    /// Whether a line was seen that only the changed state has.
    changed_line: fn(&Line) -> bool,
}

fn check(text: &str, rules: &Rules, saw_change: &mut u64) {
    let lines: Vec<Line> = text.lines().map(parse).collect();
    let mut prev_end = 0;
    for line in &lines {
        assert!(
            line.start >= prev_end && line.start < line.end,
            "lines overlap or go backwards:\n{text}"
        );
        prev_end = line.end;
        assert!(
            rules.allowed.iter().any(|v| is_part_of(line, v)),
            "line {line:?} is in no state of the change:\n{text}"
        );
        if (rules.changed_line)(line) {
            *saw_change += 1;
        }
    }
    for n in neighbours() {
        assert!(
            lines
                .iter()
                .any(|l| (l.start, l.end, l.perms.as_str()) == (n.start, n.end, n.perms)),
            "neighbour {n:?} is missing:\n{text}"
        );
    }
    for &(start, end) in &rules.must_cover {
        let mut page = start;
        while page < end {
            assert!(
                lines.iter().any(|l| l.start <= page && page < l.end),
                "page {page:#x}, mapped in both states, is missing:\n{text}"
            );
            page += P;
        }
    }
}

/// Runs `modify`/`restore` in a loop on one thread for `WRITER_TIME`
/// while another reads the maps and checks each read; returns (reads,
/// reads that saw the changed state, query results checked).
fn race(
    name: &'static str,
    modify: fn(&Mm<u32>),
    restore: fn(&Mm<u32>),
    rules: Rules,
    query_at: u64,
    query_ok: fn(u64, u64) -> bool,
) {
    let mm = build();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (mm, stop) = (mm.clone(), stop.clone());
        thread::spawn(move || {
            let t0 = Instant::now();
            let mut rounds = 0u64;
            while t0.elapsed() < WRITER_TIME {
                modify(&mm);
                restore(&mm);
                rounds += 1;
            }
            stop.store(true, SeqCst);
            rounds
        })
    };
    let (done_tx, done_rx) = mpsc::channel();
    {
        let (mm, stop) = (mm.clone(), stop.clone());
        thread::spawn(move || {
            let (mut reads, mut saw_change) = (0u64, 0u64);
            // At least a few reads after the writer stopped, too.
            let mut after = 0;
            while after < 3 {
                if stop.load(SeqCst) {
                    after += 1;
                }
                check(&mm.maps(), &rules, &mut saw_change);
                let q = mm
                    .procmap_query(query_at, ProcmapQueryFlags::empty())
                    .expect("the queried address is mapped in both states");
                assert!(query_ok(q.vma_start, q.vma_end), "{name}: query gave {q:?}");
                reads += 1;
            }
            let _ = done_tx.send((reads, saw_change));
        });
    }
    let rounds = writer.join().expect("writer");
    let (reads, saw_change) = match done_rx.recv_timeout(HANG) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{name}: the maps reader hung (deadlock?)")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("{name}: the maps reader failed (see its panic above)")
        }
    };
    let s = mm.stats();
    println!(
        "{name}: {rounds} writer rounds, {reads} reads, {saw_change} lines of the changed state; \
         lock_next_vma fast {} / detached retries {} / aborts {} / mmap_lock fallbacks {}",
        s.success, s.miss, s.abort, s.wait
    );
    assert_eq!(mm.maps(), build().maps(), "{name}: not restored");
}

/// (a) Split and re-merge at a boundary: `mprotect` the middle page of
/// the VMA to `PROT_NONE` and back.
#[test]
fn split_and_merge() {
    let mut allowed = neighbours();
    allowed.extend([
        anon(T, T + 3 * P, "rw-p"),
        anon(T, T + P, "rw-p"),
        anon(T + P, T + 2 * P, "---p"),
        anon(T + 2 * P, T + 3 * P, "rw-p"),
    ]);
    race(
        "split/merge",
        |mm| mm.mprotect(T + P, P, Prot::NONE).unwrap(),
        |mm| mm.mprotect(T + P, P, RW).unwrap(),
        Rules {
            allowed,
            // Every page is mapped in both states.
            must_cover: vec![(BASE, END)],
            changed_line: |l| l.perms == "---p",
        },
        T + P,
        |s, e| (s, e) == (T, T + 3 * P) || (s, e) == (T + P, T + 2 * P),
    );
}

/// (b) Shrink and re-expand: `munmap` the tail page and map it back
/// `MAP_FIXED` (it merges back into the VMA).
#[test]
fn shrink_and_expand() {
    let mut allowed = neighbours();
    allowed.extend([anon(T, T + 3 * P, "rw-p"), anon(T, T + 2 * P, "rw-p")]);
    race(
        "shrink/expand",
        |mm| mm.munmap(T + 2 * P, P).unwrap(),
        |mm| {
            mm.mmap(T + 2 * P, P, RW, FIXED, None, 0).unwrap();
        },
        Rules {
            allowed,
            must_cover: vec![(BASE, T + 2 * P), (T + 3 * P, END)],
            changed_line: |l| l.end == T + 2 * P,
        },
        T,
        |s, e| s == T && (e == T + 3 * P || e == T + 2 * P),
    );
}

/// (c) Remap: replace the VMA with a shared file mapping (different
/// flags, offset, device and inode) by one `MAP_FIXED` mmap, and back.
#[test]
fn remap_with_other_flags() {
    let mut allowed = neighbours();
    allowed.extend([
        anon(T, T + 3 * P, "rw-p"),
        Vma {
            start: T,
            end: T + 3 * P,
            perms: "r-xs",
            file: Some((0x5000, (8, 3), 4242, "/srv/remapped".to_owned())),
        },
    ]);
    race(
        "remap",
        |mm| {
            static FILE: std::sync::OnceLock<Arc<File>> = std::sync::OnceLock::new();
            let f = FILE.get_or_init(|| {
                File::builder("/srv/remapped", 1 << 20)
                    .dev(8, 3)
                    .inode(4242)
                    .build()
            });
            let shared = MapFlags::SHARED | MapFlags::FIXED;
            mm.mmap(
                T,
                3 * P,
                Prot::READ | Prot::EXEC,
                shared,
                Some((f.clone(), 0x5000)),
                1,
            )
            .unwrap();
        },
        |mm| {
            mm.mmap(T, 3 * P, RW, FIXED, None, 0).unwrap();
        },
        Rules {
            allowed,
            must_cover: vec![(BASE, END)],
            changed_line: |l| l.name.is_some(),
        },
        T + P,
        |s, e| (s, e) == (T, T + 3 * P),
    );
}

/// (c') Remap through a real gap: `munmap`, then `mmap` `MAP_FIXED` with
/// other flags, and back the same way. The VMA's own pages may be missing
/// (they are unmapped for a moment); its neighbours never are.
#[test]
fn unmap_then_map_other_flags() {
    let mut allowed = neighbours();
    allowed.extend([anon(T, T + 3 * P, "rw-p"), anon(T, T + 3 * P, "r-xp")]);
    race(
        "munmap+mmap",
        |mm| {
            mm.munmap(T, 3 * P).unwrap();
            mm.mmap(T, 3 * P, Prot::READ | Prot::EXEC, FIXED, None, 1)
                .unwrap();
        },
        |mm| {
            mm.munmap(T, 3 * P).unwrap();
            mm.mmap(T, 3 * P, RW, FIXED, None, 0).unwrap();
        },
        Rules {
            allowed,
            must_cover: vec![(BASE, T), (T + 3 * P, END)],
            changed_line: |l| l.perms == "r-xp",
        },
        BASE,
        |s, e| (s, e) == (BASE, BASE + 3 * P),
    );
}
