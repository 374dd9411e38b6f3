//! Where the window is, and how script addresses become real ones.
//!
//! The window starts at [`BASE`], 32 TiB: 1 GiB-aligned (so 2 MiB THP
//! alignment is the same relative and absolute), far above the heap and far
//! below the libraries, the stack and everything `mmap(NULL)` hands out
//! top-down from just under 128 TiB. At start the runner checks that the
//! window and its spill zone, `[BASE, BASE + ZONE_SIZE)`, hold no mapping. It
//! never reserves them: a `PROT_NONE` placeholder would be a VMA that
//! merges with, or splits around, the script's mappings.
//!
//! # Relative to absolute
//!
//! The parser only lets a script name ranges inside the zone, or ranges
//! Linux rejects wherever the window is ([`mmscript::range_allowed`]): a
//! start at or above 2^47, or an end past 2^64. [`absolute`] maps them so
//! Linux sees what it would see with the window at 0, and rejects them the
//! same way:
//!
//! - a relative address below 2^47 becomes `BASE + addr` (no overflow: both
//!   are below 2^47). A range whose relative end is past 2^64 still has an
//!   absolute end past 2^64, so the kernel's overflow checks fire as they
//!   would for the relative range;
//! - a relative address at or above 2^47 is passed unchanged: it is already
//!   outside the user address space, and `BASE + addr` could wrap around to
//!   a low, valid address, which Linux would accept (and which might be the
//!   runner's own memory).
//!
//! Results (`ok 0xADDR`) and `maps` lines are `absolute - BASE` with
//! wrapping arithmetic: a mapping that a plain hint let the kernel put
//! below the window prints as a huge relative address rather than failing.

use mmscript::ZONE_SIZE;

/// The window's absolute base address: 32 TiB.
pub(crate) use mmscript::window::{absolute, relative, BASE};

pub(crate) fn check_free(proc_maps: &str) -> Result<(), String> {
    let mut taken = Vec::new();
    for line in proc_maps.lines() {
        let range = line.split_ascii_whitespace().next().unwrap_or("");
        let Some((start, end)) = range.split_once('-') else {
            return Err(format!("cannot read /proc/self/maps line {line:?}"));
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        else {
            return Err(format!("cannot read /proc/self/maps line {line:?}"));
        };
        if start < BASE + ZONE_SIZE && end > BASE {
            taken.push(line.to_owned());
        }
    }
    if taken.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the window and spill zone [{:#x}, {:#x}) are not free; in the way:\n{}",
            BASE,
            BASE + ZONE_SIZE,
            taken.join("\n")
        ))
    }
}

/// How many VMAs of `proc_maps` (the text of `/proc/self/maps`) lie
/// outside the window and its spill zone: what `mm->map_count` holds
/// besides the script's VMAs. `[vsyscall]` is the gate VMA, listed but not
/// in the count.
pub(crate) fn count_outside(proc_maps: &str) -> usize {
    proc_maps
        .lines()
        .filter(|line| !line.ends_with("[vsyscall]"))
        .filter_map(|line| {
            let (start, end) = line.split_ascii_whitespace().next()?.split_once('-')?;
            let start = u64::from_str_radix(start, 16).ok()?;
            let end = u64::from_str_radix(end, 16).ok()?;
            Some(!(start < BASE + ZONE_SIZE && end > BASE))
        })
        .filter(|&outside| outside)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_vmas_leave_out_the_window_and_vsyscall() {
        let maps = "\
555555554000-555555556000 r--p 00000000 fe:00 1 /bin/x
200000000000-200000001000 rw-p 00000000 00:00 0
7ffff7fc1000-7ffff7fc5000 r--p 00000000 00:00 0                          [vvar]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
";
        assert_eq!(count_outside(maps), 2);
    }

    #[test]
    fn free_window_is_accepted_and_taken_window_named() {
        let free = "\
55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]
1fffffff0000-200000000000 rw-p 00000000 00:00 0
202000000000-202000001000 rw-p 00000000 00:00 0
7ffd94f69000-7ffd94f8a000 rw-p 00000000 00:00 0                          [stack]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
";
        assert_eq!(check_free(free), Ok(()));
        let taken = format!("{free}201fffff0000-202000000001 r--p 00000000 00:00 0\n");
        let error = check_free(&taken).unwrap_err();
        assert!(error.contains("201fffff0000-202000000001"), "{error}");
        assert!(check_free("garbage\n").is_err());
    }
}
