//! `/proc/pid/maps` text and `PROCMAP_QUERY` on a quiet address space:
//! the exact format (checked against an independent rendering of
//! `show_map_vma`, and on Linux against the live kernel's own lines), and
//! the ioctl's matching rules and errors.
#![cfg(not(loom))]

use pervma::{Errno, File, MapFlags, Mm, ProcmapQueryFlags as Q, Prot, VmFlags};

const P: u64 = 4096;
const PRIVATE: MapFlags = MapFlags::PRIVATE.union(MapFlags::FIXED);
const SHARED: MapFlags = MapFlags::SHARED.union(MapFlags::FIXED);
const RW: Prot = Prot::READ.union(Prot::WRITE);
const RX: Prot = Prot::READ.union(Prot::EXEC);

/// `show_map_vma`, written out independently: the header, then for named
/// mappings `seq_pad` to 72 columns and one space, then the name.
fn kernel_line(header: &str, name: Option<&str>) -> String {
    match name {
        None => header.to_owned(),
        Some(name) => format!("{header:<72} {name}"),
    }
}

fn lines(mm: &Mm<u32>) -> Vec<String> {
    mm.maps().lines().map(str::to_owned).collect()
}

#[test]
fn anonymous_private_line_ends_with_a_space_and_has_no_name() {
    let mm: Mm<u32> = Mm::new();
    mm.mmap(0x10_0000, 2 * P, RW, PRIVATE, None, 1).unwrap();
    assert_eq!(mm.maps(), "00100000-00102000 rw-p 00000000 00:00 0 \n");
}

#[test]
fn prot_none_and_exec_flags() {
    let mm: Mm<u32> = Mm::new();
    mm.mmap(0x10_0000, P, Prot::NONE, PRIVATE, None, 1).unwrap();
    mm.mmap(0x20_0000, P, RX, PRIVATE, None, 1).unwrap();
    mm.mmap(
        0x30_0000,
        P,
        Prot::READ | Prot::WRITE | Prot::EXEC,
        PRIVATE,
        None,
        1,
    )
    .unwrap();
    assert_eq!(
        lines(&mm),
        [
            "00100000-00101000 ---p 00000000 00:00 0 ",
            "00200000-00201000 r-xp 00000000 00:00 0 ",
            "00300000-00301000 rwxp 00000000 00:00 0 ",
        ]
    );
}

#[test]
fn shared_anonymous_memory_is_dev_zero_deleted() {
    let mm: Mm<u32> = Mm::new();
    mm.mmap(0x10_0000, 3 * P, RW, SHARED, None, 1).unwrap();
    let line = mm.maps_lines().next().unwrap();
    let file = line.file().expect("shmem object").clone();
    assert!(file.is_shmem());
    assert_eq!(line.dev(), (0, 1));
    let header = format!("00100000-00103000 rw-s 00000000 00:01 {} ", file.inode());
    assert_eq!(
        line.to_string(),
        kernel_line(&header, Some("/dev/zero (deleted)"))
    );
    assert_eq!(line.name(), Some("/dev/zero (deleted)"));
}

#[test]
fn file_line_has_offset_dev_inode_and_the_name_at_column_73() {
    let mm: Mm<u32> = Mm::new();
    let bin = File::builder("/usr/bin/dbus-daemon", 1 << 20)
        .dev(8, 2)
        .inode(173521)
        .build();
    mm.mmap(0x40_0000, 0x52000, RX, PRIVATE, Some((bin, 0x3000)), 1)
        .unwrap();
    let text = mm.maps();
    // Written out by hand: a 45-character header (its last character a
    // space), 27 spaces of padding to column 72, one more space.
    let expected = format!(
        "00400000-00452000 r-xp 00003000 08:02 173521{}/usr/bin/dbus-daemon\n",
        " ".repeat(1 + 27 + 1)
    );
    assert_eq!(text, expected);
    assert_eq!(text.find('/'), Some(73));
}

#[test]
fn long_headers_are_not_padded_but_get_one_space() {
    // 48-bit addresses, a 48-bit offset, a 12-bit major and 20-bit minor
    // and a 20-digit inode make the header longer than 72.
    let mm: Mm<u32> = Mm::new();
    let f = File::builder("/x", 1 << 20)
        .dev(0x103, 0xfffff)
        .inode(u64::MAX)
        .build();
    mm.mmap(
        0x7fff_f7dd_0000,
        P,
        Prot::READ,
        SHARED,
        Some((f, 0x7000_0000_0000)),
        1,
    )
    .unwrap();
    let header = "7ffff7dd0000-7ffff7dd1000 r--s 700000000000 103:fffff 18446744073709551615 ";
    assert!(header.len() > 72);
    assert_eq!(mm.maps(), format!("{header} /x\n"));
}

#[test]
fn default_file_identity_and_read_only_builder() {
    let f = File::new("data", 4 * P);
    assert_eq!((f.dev(), f.inode()), ((0, 0), f.id()));
    let r = File::builder("ro", P).read_only().inode(7).build();
    assert!(!r.is_writable());
    assert_eq!(r.inode(), 7);
    assert!(File::new_read_only("x", P).dev() == (0, 0));
}

#[test]
fn newlines_in_names_are_escaped_like_seq_path() {
    let mm: Mm<u32> = Mm::new();
    let f = File::builder("/tmp/a\nb", P).build();
    let ino = f.inode();
    mm.mmap(0x10_0000, P, Prot::READ, PRIVATE, Some((f, 0)), 1)
        .unwrap();
    let header = format!("00100000-00101000 r--p 00000000 00:00 {ino} ");
    assert_eq!(
        mm.maps(),
        format!("{}\n", kernel_line(&header, Some("/tmp/a\\012b")))
    );
}

#[test]
fn lines_come_in_address_order_with_split_offsets() {
    let mm: Mm<u32> = Mm::new();
    let f = File::builder("/lib/libfoo.so", 1 << 20)
        .dev(8, 1)
        .inode(42)
        .build();
    mm.mmap(0x20_0000, 4 * P, Prot::READ, PRIVATE, Some((f, 0)), 1)
        .unwrap();
    mm.mmap(0x10_0000, P, RW, PRIVATE, None, 2).unwrap();
    // Split the file mapping: the upper part keeps its file offset.
    mm.mprotect(0x20_2000, 2 * P, RX).unwrap();
    let got: Vec<(u64, u64, u64)> = mm
        .maps_lines()
        .map(|l| (l.start(), l.end(), l.offset()))
        .collect();
    assert_eq!(
        got,
        [
            (0x10_0000, 0x10_1000, 0),
            (0x20_0000, 0x20_2000, 0),
            (0x20_2000, 0x20_4000, 0x2000),
        ]
    );
    assert!(lines(&mm)[2].starts_with("00202000-00204000 r-xp 00002000 08:01 42 "));
}

#[test]
fn empty_space_has_no_lines() {
    let mm: Mm<u32> = Mm::new();
    assert_eq!(mm.maps(), "");
    assert!(mm.lock_next_vma(0).is_none());
}

#[test]
fn lock_next_vma_finds_covering_then_next_and_takes_the_fast_path() {
    let mm: Mm<u32> = Mm::new();
    mm.mmap(0x10_0000, 2 * P, RW, PRIVATE, None, 1).unwrap();
    mm.mmap(0x20_0000, P, Prot::READ, PRIVATE, None, 2).unwrap();
    let before = mm.stats();
    let v = mm.lock_next_vma(0x10_1000).unwrap();
    assert_eq!((v.start(), *v.payload()), (0x10_0000, 1));
    drop(v);
    let v = mm.lock_next_vma(0x10_2000).unwrap();
    assert_eq!((v.start(), *v.payload()), (0x20_0000, 2));
    drop(v);
    assert!(mm.lock_next_vma(0x20_1000).is_none());
    let after = mm.stats();
    assert_eq!(after.success - before.success, 2);
    assert_eq!(after.wait, before.wait, "no fallback without contention");
}

#[test]
fn smaps_mnemonics_in_bit_order() {
    let f = VmFlags::READ
        | VmFlags::WRITE
        | VmFlags::MAYREAD
        | VmFlags::MAYWRITE
        | VmFlags::MAYEXEC
        | VmFlags::ACCOUNT
        | VmFlags::LOCKED
        | VmFlags::HUGEPAGE;
    let got: Vec<_> = f.smaps_mnemonics().collect();
    assert_eq!(got, ["rd", "wr", "mr", "mw", "me", "lo", "ac", "hg"]);
    let mm: Mm<u32> = Mm::new();
    mm.mmap(0x10_0000, P, RW, PRIVATE, None, 1).unwrap();
    let line = mm.maps_lines().next().unwrap();
    let got: Vec<_> = line.flags().smaps_mnemonics().collect();
    assert_eq!(got, ["rd", "wr", "mr", "mw", "me", "ac"]);
}

// ---- PROCMAP_QUERY ------------------------------------------------------

/// anon rw [1M, 1M+2P), file r-x [2M, 2M+4P) at offset 0x1000 (8:3, ino 99),
/// shared anon r-- [3M, 3M+P).
fn query_space() -> Mm<u32> {
    let mm: Mm<u32> = Mm::new();
    mm.mmap(0x10_0000, 2 * P, RW, PRIVATE, None, 1).unwrap();
    let f = File::builder("/lib/x.so", 1 << 20)
        .dev(8, 3)
        .inode(99)
        .build();
    mm.mmap(0x20_0000, 4 * P, RX, PRIVATE, Some((f, 0x1000)), 2)
        .unwrap();
    mm.mmap(0x30_0000, P, Prot::READ, SHARED, None, 3).unwrap();
    mm
}

#[test]
fn query_covering_vma() {
    let mm = query_space();
    let q = mm.procmap_query(0x20_3fff, Q::empty()).unwrap();
    assert_eq!((q.vma_start, q.vma_end), (0x20_0000, 0x20_4000));
    assert_eq!(q.vma_flags, Q::VMA_READABLE | Q::VMA_EXECUTABLE);
    assert_eq!(
        (q.vma_offset, q.dev_major, q.dev_minor, q.inode),
        (0x1000, 8, 3, 99)
    );
    assert_eq!(q.vma_page_size, P);
    assert_eq!(q.vma_name.as_deref(), Some("/lib/x.so"));
    let anon = mm.procmap_query(0x10_0000, Q::empty()).unwrap();
    assert_eq!((anon.vma_offset, anon.inode, anon.vma_name), (0, 0, None));
    assert_eq!(anon.vma_flags, Q::VMA_READABLE | Q::VMA_WRITABLE);
}

#[test]
fn query_in_a_gap_is_enoent_unless_covering_or_next() {
    let mm = query_space();
    assert_eq!(mm.procmap_query(0x10_2000, Q::empty()), Err(Errno::ENOENT));
    let q = mm
        .procmap_query(0x10_2000, Q::COVERING_OR_NEXT_VMA)
        .unwrap();
    assert_eq!(q.vma_start, 0x20_0000);
    assert_eq!(
        mm.procmap_query(0, Q::COVERING_OR_NEXT_VMA)
            .unwrap()
            .vma_start,
        0x10_0000
    );
}

#[test]
fn query_past_the_last_vma_is_enoent() {
    let mm = query_space();
    assert_eq!(
        mm.procmap_query(0x30_1000, Q::COVERING_OR_NEXT_VMA),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        mm.procmap_query(u64::MAX, Q::COVERING_OR_NEXT_VMA),
        Err(Errno::ENOENT)
    );
}

#[test]
fn query_file_backed_skips_anonymous_vmas() {
    let mm = query_space();
    // Covering VMA is anonymous: no match without NEXT.
    assert_eq!(
        mm.procmap_query(0x10_0000, Q::FILE_BACKED_VMA),
        Err(Errno::ENOENT)
    );
    let q = mm
        .procmap_query(0x10_0000, Q::FILE_BACKED_VMA | Q::COVERING_OR_NEXT_VMA)
        .unwrap();
    assert_eq!(q.vma_start, 0x20_0000);
    // Iterate every file-backed VMA, as tools do; shmem counts as a file.
    let mut found = Vec::new();
    let mut addr = 0;
    while let Ok(q) = mm.procmap_query(addr, Q::FILE_BACKED_VMA | Q::COVERING_OR_NEXT_VMA) {
        found.push((q.vma_start, q.vma_name));
        addr = q.vma_end;
    }
    assert_eq!(
        found,
        [
            (0x20_0000, Some("/lib/x.so".to_owned())),
            (0x30_0000, Some("/dev/zero (deleted)".to_owned()))
        ]
    );
}

#[test]
fn query_permission_filters() {
    let mm = query_space();
    let next = Q::COVERING_OR_NEXT_VMA;
    let start = |flags| mm.procmap_query(0, flags).map(|q| q.vma_start);
    assert_eq!(start(next | Q::VMA_WRITABLE), Ok(0x10_0000));
    assert_eq!(start(next | Q::VMA_EXECUTABLE), Ok(0x20_0000));
    assert_eq!(start(next | Q::VMA_SHARED), Ok(0x30_0000));
    assert_eq!(start(next | Q::VMA_READABLE | Q::VMA_SHARED), Ok(0x30_0000));
    assert_eq!(
        start(next | Q::VMA_WRITABLE | Q::VMA_EXECUTABLE),
        Err(Errno::ENOENT)
    );
    // Without NEXT, the covering VMA must match.
    assert_eq!(
        mm.procmap_query(0x20_0000, Q::VMA_WRITABLE),
        Err(Errno::ENOENT)
    );
    let shared = mm.procmap_query(0x30_0000, Q::VMA_SHARED).unwrap();
    assert_eq!(shared.vma_flags, Q::VMA_READABLE | Q::VMA_SHARED);
}

#[test]
fn query_rejects_unknown_flags() {
    let mm = query_space();
    for bad in [0x40, 0x80, 1 << 63] {
        assert_eq!(
            mm.procmap_query(0x10_0000, Q::from_bits_retain(bad)),
            Err(Errno::EINVAL)
        );
    }
    // Even when nothing would match.
    assert_eq!(
        mm.procmap_query(0x90_0000, Q::from_bits_retain(0x41)),
        Err(Errno::EINVAL)
    );
}

// ---- the live kernel ---------------------------------------------------

/// For each line of this process's own `/proc/self/maps` that pervma can
/// model (anonymous or file-backed, not `[heap]`, `[stack]`, `[vdso]`,
/// shmem, deleted files or named anonymous memory), builds the same
/// mapping in a fresh `Mm` and checks that pervma prints the same line,
/// byte for byte.
#[cfg(target_os = "linux")]
#[test]
fn lines_match_the_live_kernel_byte_for_byte() {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    let mut compared = 0;
    for line in maps.lines() {
        let Some(shape) = parse_kernel_line(line) else {
            continue;
        };
        let mm: Mm<u32> = Mm::new();
        let flags = MapFlags::FIXED
            | if shape.shared {
                MapFlags::SHARED
            } else {
                MapFlags::PRIVATE
            };
        let file = shape.name.map(|name| {
            let f = File::builder(name, 1 << 40)
                .dev(shape.dev.0, shape.dev.1)
                .inode(shape.ino)
                .build();
            (f, shape.offset)
        });
        mm.mmap(
            shape.start,
            shape.end - shape.start,
            shape.prot,
            flags,
            file,
            0,
        )
        .unwrap_or_else(|e| panic!("mmap for {line:?}: {:?}", e.errno));
        assert_eq!(
            mm.maps(),
            format!("{line}\n"),
            "pervma disagrees with Linux"
        );
        compared += 1;
    }
    println!("{compared} lines of /proc/self/maps matched byte for byte");
    assert!(compared >= 3, "too few lines to compare in:\n{maps}");
}

#[cfg(target_os = "linux")]
struct Shape<'a> {
    start: u64,
    end: u64,
    prot: Prot,
    shared: bool,
    offset: u64,
    dev: (u32, u32),
    ino: u64,
    name: Option<&'a str>,
}

#[cfg(target_os = "linux")]
fn parse_kernel_line(line: &str) -> Option<Shape<'_>> {
    let mut it = line.splitn(6, ' ');
    let (range, perms, offset, dev, ino) =
        (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
    let name = it.next().map(str::trim_start).filter(|n| !n.is_empty());
    let (start, end) = range.split_once('-')?;
    let (start, end) = (
        u64::from_str_radix(start, 16).ok()?,
        u64::from_str_radix(end, 16).ok()?,
    );
    if end > (1 << 47) - P || start < 0x10000 {
        return None; // [vsyscall], or below mmap_min_addr
    }
    let ino: u64 = ino.parse().ok()?;
    if let Some(n) = name {
        if !n.starts_with('/') || n.ends_with("(deleted)") || n.starts_with("/dev/") || ino == 0 {
            return None;
        }
    } else if ino != 0 {
        return None;
    }
    let p = perms.as_bytes();
    let mut prot = Prot::NONE;
    prot.set(Prot::READ, p[0] == b'r');
    prot.set(Prot::WRITE, p[1] == b'w');
    prot.set(Prot::EXEC, p[2] == b'x');
    let shared = p[3] == b's';
    if shared && name.is_none() {
        return None;
    }
    let (major, minor) = dev.split_once(':')?;
    Some(Shape {
        start,
        end,
        prot,
        shared,
        offset: u64::from_str_radix(offset, 16).ok()?,
        dev: (
            u32::from_str_radix(major, 16).ok()?,
            u32::from_str_radix(minor, 16).ok()?,
        ),
        ino,
        name,
    })
}

// ---- changes between two lines (deterministic) --------------------------

/// The kernel's "reported twice" case: a line is read in the split state,
/// then the VMA merges back before the next line. Linux prints the merged
/// VMA whole (overlapping the previous line); pervma prints its part above
/// the previous line, so lines never overlap and no page is lost.
#[test]
fn vma_that_merged_back_continues_from_the_previous_line() {
    let mm: Mm<u32> = Mm::new();
    let f = File::builder("/lib/m.so", 1 << 20)
        .dev(8, 1)
        .inode(5)
        .build();
    mm.mmap(
        0x10_0000,
        3 * P,
        Prot::READ,
        PRIVATE,
        Some((f, 0x10_000)),
        1,
    )
    .unwrap();
    mm.mprotect(0x10_1000, P, Prot::NONE).unwrap();
    let mut lines = mm.maps_lines();
    let first = lines.next().unwrap();
    assert_eq!((first.start(), first.end()), (0x10_0000, 0x10_1000));
    // No lock is held between items, so this thread may change the space.
    mm.mprotect(0x10_1000, P, Prot::READ).unwrap();
    assert_eq!(mm.map_count(), 1, "merged back");
    let rest: Vec<_> = lines.collect();
    assert_eq!(rest.len(), 1);
    let second = &rest[0];
    assert_eq!((second.start(), second.end()), (0x10_1000, 0x10_3000));
    assert_eq!(second.offset(), 0x11_000, "the offset of the part shown");
    assert_eq!(
        second.to_string(),
        kernel_line(
            "00101000-00103000 r--p 00011000 08:01 5 ",
            Some("/lib/m.so")
        )
    );
}

/// VMAs removed, added and moved behind the reader's position between two
/// lines: the reader goes on from its position, in address order.
#[test]
fn changes_behind_and_ahead_of_the_position() {
    let mm: Mm<u32> = Mm::new();
    for i in 0..4 {
        mm.mmap(0x10_0000 + i * 0x10_0000, P, RW, PRIVATE, None, i as u32)
            .unwrap();
    }
    let mut lines = mm.maps_lines();
    assert_eq!(lines.next().unwrap().start(), 0x10_0000);
    assert_eq!(lines.next().unwrap().start(), 0x20_0000);
    mm.munmap(0x10_0000, P).unwrap(); // behind: no effect
    mm.mmap(0x18_0000, P, RW, PRIVATE, None, 9).unwrap(); // behind
    mm.munmap(0x30_0000, P).unwrap(); // the next one: gone
    mm.mmap(0x38_0000, P, RW, PRIVATE, None, 8).unwrap(); // ahead: shown
    let rest: Vec<u64> = lines.map(|l| l.start()).collect();
    assert_eq!(rest, [0x38_0000, 0x40_0000]);
}
