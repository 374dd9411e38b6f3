//! `/proc/pid/maps` text, streamed line by line from `lock_next_vma`.
//!
//! Linux: fs/proc/task_mmu.c (`m_start`/`m_next`/`proc_get_vma`,
//! `show_vma_header_prefix`, `show_map_vma`, `get_vma_name`).
//!
//! The guarantees are on [`MapsLines`].

#![deny(unsafe_code)]

use crate::file::File;
use crate::flags::{VmFlags, PAGE_SHIFT};
use crate::mm::Mm;
use crate::vma::Vma;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::{self, Write};
use core::iter::FusedIterator;

/// The name `show_map_vma` prints for a shared anonymous mapping: its
/// shmem object is an unlinked file called `dev/zero`.
const SHMEM_ZERO_NAME: &str = "/dev/zero (deleted)";

/// `seq_setwidth(m, 25 + sizeof(void *) * 6 - 1)`: the name column is
/// padded to this width, then one space.
const NAME_PAD: usize = 25 + 8 * 6 - 1;

/// One line of `/proc/pid/maps`: a snapshot of one VMA's fields.
///
/// `Display` prints it exactly as Linux does, without the final newline:
///
/// ```text
/// 00400000-00452000 r-xp 00000000 08:02 173521                     /usr/bin/dbus-daemon
/// 7f3a2c000000-7f3a2c021000 rw-p 00000000 00:00 0
/// ```
///
/// (anonymous lines end with a space; named ones pad the name to column
/// 73). [`MapsLine::of`] builds one from a locked VMA, so that an smaps
/// reader can print the same header and add its own lines.
#[derive(Clone, Debug)]
pub struct MapsLine {
    start: u64,
    end: u64,
    flags: VmFlags,
    pgoff: u64,
    file: Option<Arc<File>>,
}

impl MapsLine {
    /// The line for `vma` (held under its read lock or `mmap_lock`).
    pub fn of<T>(vma: &Vma<T>) -> MapsLine {
        MapsLine {
            start: vma.start(),
            end: vma.end(),
            flags: vma.flags(),
            pgoff: vma.pgoff(),
            file: vma.file().cloned(),
        }
    }

    /// The line for the part of `vma` at and above `from`.
    fn of_from<T>(vma: &Vma<T>, from: u64) -> MapsLine {
        let mut line = MapsLine::of(vma);
        if from > line.start {
            line.pgoff += (from - line.start) >> PAGE_SHIFT;
            line.start = from;
        }
        line
    }

    /// The first address.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// One past the last address.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The VMA's flags (`vm_flags`); the line shows `r`, `w`, `x` and
    /// `s`/`p` (`VM_MAYSHARE`), smaps all of them.
    pub fn flags(&self) -> VmFlags {
        self.flags
    }

    /// `vm_pgoff` of [`MapsLine::start`], in pages.
    pub fn pgoff(&self) -> u64 {
        self.pgoff
    }

    /// The offset column: `vm_pgoff << PAGE_SHIFT` for file (and shmem)
    /// mappings, 0 for private anonymous ones.
    pub fn offset(&self) -> u64 {
        match self.file {
            Some(_) => self.pgoff << PAGE_SHIFT,
            None => 0,
        }
    }

    /// The device column, as (major, minor); `00:00` when anonymous.
    pub fn dev(&self) -> (u32, u32) {
        self.file.as_ref().map_or((0, 0), |f| f.dev())
    }

    /// The inode column; 0 when anonymous.
    pub fn inode(&self) -> u64 {
        self.file.as_ref().map_or(0, |f| f.inode())
    }

    /// The mapped file.
    pub fn file(&self) -> Option<&Arc<File>> {
        self.file.as_ref()
    }

    /// The name column (`get_vma_name`): the file's path,
    /// `/dev/zero (deleted)` for shared anonymous memory, none for private
    /// anonymous memory (pervma has no `[heap]` or `[stack]`).
    pub fn name(&self) -> Option<&str> {
        let file = self.file.as_ref()?;
        Some(if file.is_shmem() {
            SHMEM_ZERO_NAME
        } else {
            file.name()
        })
    }
}

/// Room for the longest line prefix [`MapsLine`] prints before the name:
/// two 16-digit addresses, the flags, a 16-digit offset, an 8:8-digit
/// device, a 20-digit inode and the separators (95 bytes), then the one
/// space after the padding.
const PREFIX_MAX: usize = 96;

/// A line prefix built in place, without `core::fmt`: `seq_put_hex_ll`
/// and `seq_put_decimal_ull` write digits straight into the seq buffer,
/// and going through `Formatter` (padding, flags, one virtual call per
/// piece) cost more than the rest of a maps read together.
struct Prefix {
    buf: [u8; PREFIX_MAX],
    len: usize,
}

impl Prefix {
    fn new() -> Self {
        Prefix {
            buf: [0; PREFIX_MAX],
            len: 0,
        }
    }

    #[inline]
    fn byte(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    /// `%0{width}x`: lowercase hex, zero-padded to at least `width`
    /// (at most 16) digits.
    #[inline]
    fn hex(&mut self, v: u64, width: usize) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let significant = (64 - v.leading_zeros() as usize).div_ceil(4);
        let n = significant.max(width);
        let out = &mut self.buf[self.len..self.len + n];
        // `n <= 16`: every `width` used here is at most 8.
        for (i, d) in out.iter_mut().rev().enumerate() {
            *d = DIGITS[((v >> (4 * i)) & 0xf) as usize];
        }
        self.len += n;
    }

    /// `%lu`.
    #[inline]
    fn dec(&mut self, mut v: u64) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        let digits = &tmp[i..];
        self.buf[self.len..self.len + digits.len()].copy_from_slice(digits);
        self.len += digits.len();
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits, letters and spaces are ever written.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl fmt::Display for MapsLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = |bit, c| if self.flags.contains(bit) { c } else { b'-' };
        let (major, minor) = self.dev();
        // show_vma_header_prefix.
        let mut p = Prefix::new();
        p.hex(self.start, 8);
        p.byte(b'-');
        p.hex(self.end, 8);
        p.byte(b' ');
        p.byte(flag(VmFlags::READ, b'r'));
        p.byte(flag(VmFlags::WRITE, b'w'));
        p.byte(flag(VmFlags::EXEC, b'x'));
        p.byte(if self.flags.contains(VmFlags::MAYSHARE) {
            b's'
        } else {
            b'p'
        });
        p.byte(b' ');
        p.hex(self.offset(), 8);
        p.byte(b' ');
        p.hex(u64::from(major), 2);
        p.byte(b':');
        p.hex(u64::from(minor), 2);
        p.byte(b' ');
        p.dec(self.inode());
        p.byte(b' ');
        let Some(name) = self.name() else {
            return f.write_str(p.as_str());
        };
        // seq_pad(m, ' '): spaces up to the width, then one more.
        while p.len < NAME_PAD {
            p.byte(b' ');
        }
        p.byte(b' ');
        f.write_str(p.as_str())?;
        // seq_path(m, path, "\n"): a newline in the name is escaped.
        for (i, part) in name.split('\n').enumerate() {
            if i > 0 {
                f.write_str("\\012")?;
            }
            f.write_str(part)?;
        }
        Ok(())
    }
}

/// The lines of `/proc/pid/maps`, read one VMA at a time without
/// `mmap_lock`; from [`Mm::maps_lines`].
///
/// Each item is produced under the VMA's read lock, which is dropped
/// before the item is returned, so nothing is held between items.
///
/// Lines are read ahead, up to 32 in one RCU read section (each still
/// under its own VMA read lock, one at a time), and a line read ahead is
/// returned only if no `mmap_lock` write cycle has run since it was read,
/// in which case a fresh read would give the same line; otherwise the
/// reader reads again from the last line returned. So a change made
/// between two items is seen exactly as without read-ahead.
///
/// # Guarantees
///
/// While other threads map, unmap and change VMAs (the scenarios of
/// Linux's tools/testing/selftests/proc/proc-maps-race.c):
///
/// - every line describes one VMA as it was at one instant (read under its
///   read lock, so never torn);
/// - a VMA that exists, unchanged, for the whole read appears exactly as
///   it is;
/// - lines come in address order and never overlap.
///
/// The reader continues from the previous line's end. When the VMA found
/// there starts below it (the previous line's VMA has since merged with,
/// or grown into, the next one), Linux prints that VMA whole, so two lines
/// overlap (the selftest accepts it); pervma prints only its part above
/// the previous line, with the page offset of that part: a true account
/// of those addresses at that instant, though not a VMA boundary.
#[derive(Debug)]
#[must_use = "iterators do nothing unless consumed"]
pub struct MapsLines<'mm, T> {
    mm: &'mm Mm<T>,
    /// The end of the last line returned; `None` once done.
    pos: Option<u64>,
    /// Lines read ahead and not yet returned, in reverse order.
    ahead: Vec<MapsLine>,
    /// Whether the space ends after the lines in `ahead`.
    ahead_end: bool,
    /// The `mm_lock_seq` under which `ahead` was read: the lines are
    /// returned only while no write cycle has run since.
    ahead_seq: u32,
    /// How many lines the next read-ahead may read.
    window: usize,
}

/// The most lines [`MapsLines`] reads in one RCU read section (Linux's
/// seq_file also fills a page of lines per `read`).
const READ_AHEAD: usize = 32;

impl<T> Iterator for MapsLines<'_, T> {
    type Item = MapsLine;

    fn next(&mut self) -> Option<MapsLine> {
        if !self.ahead.is_empty() || self.ahead_end {
            // Read-ahead lines are what a fresh read would give only if
            // no write cycle ran since they were read.
            if !self.mm.mmap_lock_speculate_retry(self.ahead_seq) {
                let Some(line) = self.ahead.pop() else {
                    self.ahead_end = false;
                    self.pos = None;
                    return None;
                };
                self.pos = Some(line.end());
                return Some(line);
            }
            // Stale: read again from the last line returned, with a
            // smaller window so that a busy writer costs little rereading.
            self.ahead.clear();
            self.ahead_end = false;
            self.window = (self.window / 2).max(1);
        }
        let pos = self.pos?;
        // Fast: several lines in one RCU section, each under its VMA's
        // read lock (`lock_next_vmas_fast`).
        let mut ahead = core::mem::take(&mut self.ahead);
        let (_, end, seq) = self.mm.lock_next_vmas_fast(pos, self.window, |vma, from| {
            ahead.push(MapsLine::of_from(vma, from));
        });
        ahead.reverse();
        let first = ahead.pop();
        self.ahead = ahead;
        match seq {
            Some(seq) => {
                self.ahead_seq = seq;
                self.ahead_end = end;
                self.window = (self.window * 2).min(READ_AHEAD);
            }
            None => {
                // A write cycle ran: only the first line is known good
                // (each line is, when read; the rest may be stale now).
                self.ahead.clear();
                self.window = (self.window / 2).max(1);
            }
        }
        if let Some(line) = first {
            self.pos = Some(line.end());
            return Some(line);
        }
        if end {
            self.ahead_end = false;
            self.pos = None;
            return None;
        }
        // Contended at the first step: one line the careful way, which
        // may wait for `mmap_lock`.
        let vma = self.mm.lock_next_vma(pos);
        let Some(vma) = vma else {
            self.pos = None;
            return None;
        };
        let line = MapsLine::of_from(&vma, pos);
        self.pos = Some(vma.end());
        drop(vma);
        Some(line)
    }
}

impl<T> FusedIterator for MapsLines<'_, T> {}

impl<T> Mm<T> {
    /// The lines of `/proc/pid/maps`, lowest address first, each read
    /// under one VMA read lock (see [`Mm::lock_next_vma`]); other threads
    /// may change the space meanwhile. See [`MapsLine`] for the format
    /// and [`MapsLines`] for the guarantees: no torn or overlapping lines,
    /// and no VMA that exists throughout the read is missed.
    ///
    /// ```
    /// use pervma::{File, MapFlags, Mm, Prot};
    /// let mm: Mm<()> = Mm::new();
    /// let lib = File::builder("/usr/lib/libc.so.6", 0x20_0000).dev(8, 2).inode(1234).build();
    /// let fixed = MapFlags::PRIVATE | MapFlags::FIXED;
    /// mm.mmap(0x7f00_0000_0000, 0x2000, Prot::READ | Prot::EXEC, fixed, Some((lib, 0)), ()).unwrap();
    /// mm.mmap(0x7f00_0001_0000, 0x1000, Prot::READ | Prot::WRITE, fixed, None, ()).unwrap();
    /// let lines: Vec<String> = mm.maps_lines().map(|l| l.to_string()).collect();
    /// assert_eq!(lines, [
    ///     "7f0000000000-7f0000002000 r-xp 00000000 08:02 1234                       /usr/lib/libc.so.6",
    ///     "7f0000010000-7f0000011000 rw-p 00000000 00:00 0 ",
    /// ]);
    /// ```
    #[doc(alias = "show_map_vma")]
    pub fn maps_lines(&self) -> MapsLines<'_, T> {
        MapsLines {
            mm: self,
            pos: Some(0),
            ahead: Vec::new(),
            ahead_end: false,
            ahead_seq: 0,
            window: READ_AHEAD,
        }
    }

    /// The whole `/proc/pid/maps` text: [`Mm::maps_lines`], each line
    /// followed by a newline.
    pub fn maps(&self) -> String {
        let mut text = String::new();
        for line in self.maps_lines() {
            // Writing to a String cannot fail.
            let _ = writeln!(text, "{line}");
        }
        text
    }
}

#[cfg(all(test, not(loom), feature = "std"))]
mod tests {
    use super::*;
    use alloc::format;

    /// The hand-written prefix against the `format!` spelling of
    /// `show_vma_header_prefix` it replaced, at the extremes of each field.
    #[test]
    fn prefix_matches_core_fmt_at_the_extremes() {
        let values = [
            0,
            1,
            0xf,
            0x10,
            0xffff_ffff,
            0x1_0000_0000,
            u64::MAX - 1,
            u64::MAX,
        ];
        for &v in &values {
            let mut p = Prefix::new();
            p.hex(v, 8);
            p.byte(b' ');
            p.hex(v & 0xffff_ffff, 2);
            p.byte(b' ');
            p.dec(v);
            assert_eq!(p.as_str(), format!("{v:08x} {:02x} {v}", v & 0xffff_ffff));
        }
    }
}
