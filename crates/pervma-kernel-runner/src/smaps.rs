//! `/proc/self/smaps` to the lines of a `maps` block.
//!
//! Each VMA in smaps is a header line, as in `/proc/self/maps`,
//!
//! ```text
//! 200000010000-200000014000 rw-s 00000000 00:01 1024       /dev/zero (deleted)
//! ```
//!
//! followed by `Key: value` lines, the last of which is `VmFlags: rd wr ...`.
//! (Linux: `fs/proc/task_mmu.c`, `show_map_vma` and `show_smap`.)
//!
//! The backing comes from the path: none for private anonymous memory,
//! `/dev/zero (deleted)` for shared anonymous memory (its shmem file), and
//! `/memfd:NAME (deleted)` for the runner's files, which are memfds named
//! after the script's `NAME`. Anything else cannot come from a script; it is
//! printed as `?PATH` (spaces as `_`) so a diff shows it.
//!
//! In the smaps mode ([`window_smaps`]) each line also carries the VMA's
//! `Rss`, `Anonymous` and `Locked` lines (`Key:   N kB`), and its
//! `ProtectionKey:   N` line, which Linux prints only on a host with
//! protection keys (`arch_pkeys_enabled()`); without it the key is `None`.

use mmscript::{Backing, MapsLine, Memory, Prot, SmapsFlags};

/// The VMAs of `smaps` that intersect `[base, base + size)`, relative to
/// `base`, lowest first.
pub(crate) fn window_maps(smaps: &str, base: u64, size: u64) -> Result<Vec<MapsLine>, String> {
    parse_window(smaps, base, size, false)
}

/// [`window_maps`] with each line's [`Memory`] (the smaps mode).
pub(crate) fn window_smaps(smaps: &str, base: u64, size: u64) -> Result<Vec<MapsLine>, String> {
    parse_window(smaps, base, size, true)
}

fn parse_window(
    smaps: &str,
    base: u64,
    size: u64,
    with_memory: bool,
) -> Result<Vec<MapsLine>, String> {
    let mut all: Vec<MapsLine> = Vec::new();
    for line in smaps.lines() {
        if let Some(flags) = line.strip_prefix("VmFlags:") {
            let last = all
                .last_mut()
                .ok_or_else(|| format!("smaps: VmFlags before any mapping: {line:?}"))?;
            last.flags = SmapsFlags::from_vmflags_line(flags);
        } else if is_header(line) {
            let mut vma = parse_header(line)?;
            if with_memory {
                vma.memory = Some(Memory::default());
            }
            all.push(vma);
        } else if with_memory {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if !matches!(key, "Rss" | "Anonymous" | "Locked" | "ProtectionKey") {
                continue;
            }
            let bad = || format!("smaps: cannot read {line:?}");
            if key == "ProtectionKey" {
                let pkey = value.trim().parse::<u32>().map_err(|_| bad())?;
                let memory = all
                    .last_mut()
                    .and_then(|vma| vma.memory.as_mut())
                    .ok_or_else(bad)?;
                memory.pkey = Some(pkey);
                continue;
            }
            let kb = value
                .trim()
                .strip_suffix(" kB")
                .and_then(|n| n.trim().parse::<u64>().ok())
                .ok_or_else(bad)?;
            let memory = all
                .last_mut()
                .and_then(|vma| vma.memory.as_mut())
                .ok_or_else(bad)?;
            match key {
                "Rss" => memory.rss_kb = kb,
                "Anonymous" => memory.anon_kb = kb,
                _ => memory.locked_kb = kb,
            }
        }
    }
    let mut window: Vec<MapsLine> = all
        .into_iter()
        .filter(|vma| vma.start < base + size && vma.end > base)
        .map(|mut vma| {
            vma.start = vma.start.wrapping_sub(base);
            vma.end = vma.end.wrapping_sub(base);
            vma
        })
        .collect();
    window.sort_by_key(|vma| vma.start);
    Ok(window)
}

/// Whether an smaps line starts a VMA: its first word is `START-END` in hex
/// (the other lines start with `Key:`).
fn is_header(line: &str) -> bool {
    let first = line.split(' ').next().unwrap_or("");
    match first.split_once('-') {
        Some((start, end)) => {
            let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
            hex(start) && hex(end)
        }
        None => false,
    }
}

/// Parses a header line; the flags are filled in by its `VmFlags` line.
fn parse_header(line: &str) -> Result<MapsLine, String> {
    let bad = || format!("smaps: cannot read the mapping line {line:?}");
    // START-END PERMS OFFSET DEV INODE [PATH], the path possibly with spaces.
    let mut rest = line;
    let mut fields = [""; 5];
    for field in &mut fields {
        rest = rest.trim_start();
        let end = rest.find(' ').unwrap_or(rest.len());
        *field = &rest[..end];
        rest = &rest[end..];
    }
    let path = rest.trim();
    let [range, perms, offset, _dev, _inode] = fields;

    let (start, end) = range.split_once('-').ok_or_else(bad)?;
    let start = u64::from_str_radix(start, 16).map_err(|_| bad())?;
    let end = u64::from_str_radix(end, 16).map_err(|_| bad())?;
    let prot = perms.get(..3).and_then(Prot::from_word).ok_or_else(bad)?;
    let shared = match perms.get(3..) {
        Some("s") => true,
        Some("p") => false,
        _ => return Err(bad()),
    };
    let offset_bytes = u64::from_str_radix(offset, 16).map_err(|_| bad())?;

    Ok(MapsLine {
        start,
        end,
        prot,
        shared,
        offset_bytes,
        backing: backing(path),
        flags: SmapsFlags::empty(),
        memory: None,
    })
}

/// The backing named by a path of `/proc/self/maps` (see the module docs).
fn backing(path: &str) -> Backing {
    if path.is_empty() {
        return Backing::Anon;
    }
    if path == "/dev/zero (deleted)" {
        return Backing::Shmem;
    }
    if let Some(name) = path
        .strip_prefix("/memfd:")
        .and_then(|p| p.strip_suffix(" (deleted)"))
    {
        if mmscript::Kind::valid_file_name(name) {
            return Backing::File(name.to_owned());
        }
    }
    Backing::File(format!("?{}", path.replace(char::is_whitespace, "_")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]
Size:                132 kB
VmFlags: rd wr mr mw me ac sd
200000000000-200000004000 rw-p 00000000 00:00 0 
Size:                 16 kB
KernelPageSize:        4 kB
THPeligible:           0
VmFlags: rd wr mr mw me ac 
200000010000-200000014000 rw-s 00000000 00:01 1024                       /dev/zero (deleted)
Size:                 16 kB
VmFlags: rd wr sh mr mw me ms sd 
200000020000-200000024000 r--s 00002000 00:01 1025                       /memfd:data (deleted)
VmFlags: rd sh mr mw me ms 
200fffffe000-201000002000 r-xp 3fffe000 00:01 1025                       /memfd:a b (deleted)
VmFlags: rd ex mr mw me lo hg 
201000002000-201000003000 ---p 00000000 00:00 0
VmFlags: mr mw me
7ffd94f69000-7ffd94f8a000 rw-p 00000000 00:00 0                          [stack]
VmFlags: rd wr mr mw me gd ac
";

    #[test]
    fn keeps_the_window_in_relative_form() {
        let lines: Vec<String> = window_maps(SMAPS, 0x2000_0000_0000, 0x10_0000_0000)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "0x0-0x4000 rw-p 00000000 anon rd wr mr mw me ac",
                "0x10000-0x14000 rw-s 00000000 shmem rd wr sh mr mw me ms",
                "0x20000-0x24000 r--s 00002000 data rd sh mr mw me ms",
                "0xfffffe000-0x1000002000 r-xp 3fffe000 ?/memfd:a_b_(deleted) rd ex mr mw me lo hg",
            ]
        );
    }

    #[test]
    fn smaps_mode_reads_rss_anonymous_and_locked() {
        let smaps = "\
200000000000-200000004000 rw-p 00000000 00:00 0 
Size:                 16 kB
Rss:                   8 kB
Pss:                   8 kB
Anonymous:             4 kB
LazyFree:              0 kB
Locked:                2 kB
VmFlags: rd wr mr mw me ac 
200000010000-200000014000 rw-s 00000000 00:01 1024                       /dev/zero (deleted)
VmFlags: rd wr sh mr mw me ms sd 
";
        let lines: Vec<String> = window_smaps(smaps, 0x2000_0000_0000, 0x10_0000_0000)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "0x0-0x4000 rw-p 00000000 anon rd wr mr mw me ac rss=8 anon=4 locked=2",
                "0x10000-0x14000 rw-s 00000000 shmem rd wr sh mr mw me ms rss=0 anon=0 locked=0",
            ]
        );
        let plain = window_maps(smaps, 0x2000_0000_0000, 0x10_0000_0000).unwrap();
        assert!(plain.iter().all(|vma| vma.memory.is_none()));
        assert!(window_smaps("Rss: 4 kB\n", 0, 1 << 40).is_err());
        assert!(window_smaps("1000-2000 rw-p 00000000 00:00 0\nRss: 4 MB\n", 0, 1 << 40).is_err());
    }

    #[test]
    fn smaps_mode_reads_the_protection_key_where_linux_prints_it() {
        let smaps = "\
200000000000-200000004000 rw-p 00000000 00:00 0 
Rss:                   8 kB
Anonymous:             8 kB
Locked:                0 kB
ProtectionKey:         3
VmFlags: rd wr mr mw me ac 
200000004000-200000005000 --xp 00000000 00:00 0 
Rss:                   0 kB
ProtectionKey:        15
VmFlags: ex mr mw me ac 
";
        let lines: Vec<String> = window_smaps(smaps, 0x2000_0000_0000, 0x10_0000_0000)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "0x0-0x4000 rw-p 00000000 anon rd wr mr mw me ac rss=8 anon=8 locked=0 pkey=3",
                "0x4000-0x5000 --xp 00000000 anon ex mr mw me ac rss=0 anon=0 locked=0 pkey=15",
            ]
        );
        // Not in the plain mode.
        let plain = window_maps(smaps, 0x2000_0000_0000, 0x10_0000_0000).unwrap();
        assert!(plain.iter().all(|vma| vma.memory.is_none()));
        assert!(window_smaps("ProtectionKey: 1\n", 0, 1 << 40).is_err());
        assert!(window_smaps(
            "1000-2000 rw-p 00000000 00:00 0\nProtectionKey: x\n",
            0,
            1 << 40
        )
        .is_err());
    }

    #[test]
    fn rejects_broken_headers() {
        assert!(window_maps("1000-2000 rw\n", 0, 1 << 40).is_err());
        assert!(window_maps("1000-2000 rw-q 00000000 00:00 0\n", 0, 1 << 40).is_err());
        assert!(window_maps("VmFlags: rd\n", 0, 1 << 40).is_err());
        assert_eq!(window_maps("", 0, 1 << 40), Ok(Vec::new()));
    }
}
