//! The lines of a `maps` block.
//!
//! ```text
//! 0x10000-0x13000 rw-p 00000000 anon rd wr mr mw me ac
//! 0x13000-0x14000 r--s 00002000 data rd sh mr mw me ms
//! end
//! ```
//!
//! One [`MapsLine`] per VMA that intersects the window, lowest first, then
//! `end`. The fields are those of `/proc/self/maps` (relative addresses,
//! permissions, file offset) plus a backing word and the subset of
//! `/proc/self/smaps` `VmFlags` that the model tracks ([`SmapsFlags`]).
//! (Linux: `fs/proc/task_mmu.c`, `show_map_vma` and `show_smap_vma_flags`.)
//!
//! # The smaps mode
//!
//! Not part of mmscript v1: for tests, both runners have an opt-in mode
//! (`--smaps`) in which every line also carries the VMA's `Rss`,
//! `Anonymous` and `Locked` figures of `/proc/self/smaps`, in kB
//! ([`Memory`]), after the flags:
//!
//! ```text
//! 0x10000-0x13000 rw-p 00000000 anon rd wr mr mw me ac rss=8 anon=8 locked=0
//! ```
//!
//! On a host with protection keys, Linux also prints each VMA's
//! `ProtectionKey` in smaps, and the line then ends with ` pkey=N`
//! ([`Memory::pkey`]); on a host without them the word is absent:
//!
//! ```text
//! 0x10000-0x13000 rw-p 00000000 anon rd wr mr mw me ac rss=8 anon=8 locked=0 pkey=1
//! ```
//!
//! A line carries them when its [`MapsLine::memory`] is `Some`; runners
//! fill it in only in that mode, so the default output is unchanged.

use core::fmt;
use core::str::FromStr;

use crate::{Kind, Prot};

/// The `VmFlags` of `/proc/self/smaps` that a `maps` line shows, as a set.
///
/// The order of [`SmapsFlags::NAMES`] is the order of the spec's flag set
/// and the order a `maps` line lists them in; each flag has a bit of its
/// own ([`SmapsFlags::bits`]), in the same order, but the bits need not be
/// consecutive: a flag keeps its bit when others are added.
///
/// ```
/// use mmscript::SmapsFlags;
///
/// let flags = SmapsFlags::from_vmflags_line("VmFlags: rd wr mr mw me ac sd ");
/// assert_eq!(flags.to_string(), "rd wr mr mw me ac");
/// assert!(flags.contains(SmapsFlags::AC));
/// assert_eq!(flags - SmapsFlags::AC, SmapsFlags::RD | SmapsFlags::WR | SmapsFlags::MR
///     | SmapsFlags::MW | SmapsFlags::ME);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SmapsFlags(u32);

macro_rules! smaps_flags {
    ($($bit:literal $name:ident $word:literal $doc:literal,)*) => {
        impl SmapsFlags {
            $(
                #[doc = concat!("`", $word, "`: ", $doc)]
                pub const $name: SmapsFlags = SmapsFlags(1 << $bit);
            )*

            /// The two-letter names, in the `maps` line's order.
            pub const NAMES: [&'static str; FLAG_COUNT] = [$($word),*];

            /// Every flag, in the order of [`NAMES`](Self::NAMES).
            const ALL: [SmapsFlags; FLAG_COUNT] = [$(SmapsFlags(1 << $bit)),*];

            /// The bits of every flag.
            const MASK: u32 = 0 $(| (1 << $bit))*;
        }

        /// How many flags the set has.
        const FLAG_COUNT: usize = [$($bit),*].len();
    };
}

smaps_flags! {
    0 RD "rd" "readable (`VM_READ`).",
    1 WR "wr" "writable (`VM_WRITE`).",
    2 EX "ex" "executable (`VM_EXEC`).",
    3 SH "sh" "shared (`VM_SHARED`).",
    4 MR "mr" "may read (`VM_MAYREAD`).",
    5 MW "mw" "may write (`VM_MAYWRITE`).",
    6 ME "me" "may execute (`VM_MAYEXEC`).",
    7 MS "ms" "may share (`VM_MAYSHARE`).",
    8 GD "gd" "grows down (`VM_GROWSDOWN`).",
    9 LO "lo" "locked (`VM_LOCKED`).",
    10 DC "dc" "do not copy on fork (`VM_DONTCOPY`).",
    11 WF "wf" "wipe on fork (`VM_WIPEONFORK`).",
    12 AC "ac" "accounted (`VM_ACCOUNT`).",
    13 NR "nr" "no reserve (`VM_NORESERVE`).",
    14 HG "hg" "huge page advice (`VM_HUGEPAGE`).",
    15 NH "nh" "no huge page advice (`VM_NOHUGEPAGE`).",
    16 SR "sr" "sequential read advice (`VM_SEQ_READ`).",
    17 RR "rr" "random read advice (`VM_RAND_READ`).",
    18 DD "dd" "do not dump (`VM_DONTDUMP`; v1.1).",
    19 MG "mg" "KSM may merge (`VM_MERGEABLE`; v1.1).",
    20 LF "lf" "lock on fault (`VM_LOCKONFAULT`).",
    21 SL "sl" "sealed (`VM_SEALED`; v1.1).",
}

impl SmapsFlags {
    /// The empty set.
    pub const fn empty() -> SmapsFlags {
        SmapsFlags(0)
    }

    /// The set with the bits of `bits` (the constants' bits, in the
    /// order of [`NAMES`](Self::NAMES)); bits of no flag are dropped.
    pub const fn from_bits_truncate(bits: u32) -> SmapsFlags {
        SmapsFlags(bits & SmapsFlags::MASK)
    }

    /// The bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: SmapsFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Sets the flags of `other`.
    pub fn insert(&mut self, other: SmapsFlags) {
        self.0 |= other.0;
    }

    /// Clears the flags of `other`.
    pub fn remove(&mut self, other: SmapsFlags) {
        self.0 &= !other.0;
    }

    /// Sets or clears the flags of `other`.
    pub fn set(&mut self, other: SmapsFlags, on: bool) {
        if on {
            self.insert(other);
        } else {
            self.remove(other);
        }
    }

    /// The flag a two-letter name names, if it is in the set.
    pub fn from_name(name: &str) -> Option<SmapsFlags> {
        let index = SmapsFlags::NAMES.iter().position(|n| *n == name)?;
        Some(SmapsFlags::ALL[index])
    }

    /// The names of the set flags, in order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        SmapsFlags::NAMES
            .into_iter()
            .zip(SmapsFlags::ALL)
            .filter(move |(_, flag)| self.contains(*flag))
            .map(|(name, _)| name)
    }

    /// The flags of a `VmFlags:` line of `/proc/self/smaps` (or of its
    /// words without the `VmFlags:` key) that are in the set; other flags
    /// (`sd`, `um`, `pf`, ...) are ignored.
    pub fn from_vmflags_line(line: &str) -> SmapsFlags {
        let words = line.strip_prefix("VmFlags:").unwrap_or(line);
        words
            .split_ascii_whitespace()
            .filter_map(SmapsFlags::from_name)
            .fold(SmapsFlags::empty(), |set, flag| set | flag)
    }
}

impl core::ops::BitOr for SmapsFlags {
    type Output = SmapsFlags;

    fn bitor(self, rhs: SmapsFlags) -> SmapsFlags {
        SmapsFlags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for SmapsFlags {
    fn bitor_assign(&mut self, rhs: SmapsFlags) {
        self.0 |= rhs.0;
    }
}

impl core::ops::BitAnd for SmapsFlags {
    type Output = SmapsFlags;

    fn bitand(self, rhs: SmapsFlags) -> SmapsFlags {
        SmapsFlags(self.0 & rhs.0)
    }
}

impl core::ops::Sub for SmapsFlags {
    type Output = SmapsFlags;

    fn sub(self, rhs: SmapsFlags) -> SmapsFlags {
        SmapsFlags(self.0 & !rhs.0)
    }
}

/// The names, separated by one space (nothing for the empty set).
impl fmt::Display for SmapsFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// What a mapping maps: the fourth field of a `maps` line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Backing {
    /// `anon`: private anonymous memory.
    Anon,
    /// `shmem`: shared anonymous memory (Linux shows `/dev/zero (deleted)`).
    Shmem,
    /// The script's name of a file.
    File(String),
}

impl Backing {
    /// The backing of a mapping made with `kind`.
    pub fn of_kind(kind: &Kind) -> Backing {
        match kind {
            Kind::PrivateAnon => Backing::Anon,
            Kind::SharedAnon => Backing::Shmem,
            Kind::PrivateFile { name, .. } | Kind::SharedFile { name, .. } => {
                Backing::File(name.clone())
            }
        }
    }
}

impl fmt::Display for Backing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backing::Anon => f.write_str("anon"),
            Backing::Shmem => f.write_str("shmem"),
            Backing::File(name) => f.write_str(name),
        }
    }
}

/// What `/proc/self/smaps` says about one VMA's memory, in kB, and its
/// protection key: the extra fields of a `maps` line in the smaps mode
/// (module docs).
///
/// (Linux: `fs/proc/task_mmu.c`, `__show_smap`: `Rss`, `Anonymous`,
/// `Locked`; `Locked` is the proportional set size of the VMA if it is
/// `VM_LOCKED`, so a page mapped twice counts half in each. `show_smap`
/// prints `ProtectionKey` only if `arch_pkeys_enabled()`.)
///
/// ```
/// use mmscript::Memory;
///
/// let memory = Memory { rss_kb: 8, anon_kb: 4, locked_kb: 0, pkey: None };
/// assert_eq!(memory.to_string(), "rss=8 anon=4 locked=0");
/// let memory = Memory { pkey: Some(1), ..memory };
/// assert_eq!(memory.to_string(), "rss=8 anon=4 locked=0 pkey=1");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Memory {
    /// `Rss`: resident memory (the zero pages do not count).
    pub rss_kb: u64,
    /// `Anonymous`: resident anonymous memory.
    pub anon_kb: u64,
    /// `Locked`: the PSS of the VMA if it is locked, else 0.
    pub locked_kb: u64,
    /// `ProtectionKey`: the VMA's protection key, printed as ` pkey=N` after
    /// `locked=`; `None` on a host without protection keys (where Linux does
    /// not print the line).
    pub pkey: Option<u32>,
}

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rss={} anon={} locked={}",
            self.rss_kb, self.anon_kb, self.locked_kb
        )?;
        if let Some(pkey) = self.pkey {
            write!(f, " pkey={pkey}")?;
        }
        Ok(())
    }
}

/// One VMA, as a line of a `maps` block.
///
/// ```
/// use mmscript::{Backing, MapsLine, Memory, Prot, SmapsFlags};
///
/// let line = MapsLine {
///     start: 0x602000,
///     end: 0x604000,
///     prot: Prot::RW,
///     shared: true,
///     offset_bytes: 0x2000,
///     backing: Backing::Shmem,
///     flags: SmapsFlags::from_vmflags_line("rd wr sh mr mw me ms"),
///     memory: None,
/// };
/// let text = "0x602000-0x604000 rw-s 00002000 shmem rd wr sh mr mw me ms";
/// assert_eq!(line.to_string(), text);
/// assert_eq!(text.parse::<MapsLine>(), Ok(line.clone()));
///
/// // In the smaps mode.
/// let line = MapsLine {
///     memory: Some(Memory { rss_kb: 4, anon_kb: 0, locked_kb: 0, pkey: None }),
///     ..line
/// };
/// let text = format!("{text} rss=4 anon=0 locked=0");
/// assert_eq!(line.to_string(), text);
/// assert_eq!(text.parse::<MapsLine>(), Ok(line));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MapsLine {
    /// The start, relative to the window.
    pub start: u64,
    /// The end (exclusive), relative to the window.
    pub end: u64,
    /// The protection (`VM_READ`, `VM_WRITE`, `VM_EXEC`).
    pub prot: Prot,
    /// `s` rather than `p` in the permissions: `VM_MAYSHARE`.
    pub shared: bool,
    /// The offset in bytes that `/proc/self/maps` shows: `vm_pgoff << 12`
    /// for file and shared anonymous mappings, 0 for private anonymous ones.
    pub offset_bytes: u64,
    /// What the VMA maps.
    pub backing: Backing,
    /// The flags.
    pub flags: SmapsFlags,
    /// The smaps figures, printed after the flags when present: only in
    /// the smaps mode (module docs).
    pub memory: Option<Memory>,
}

impl fmt::Display for MapsLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#x}-{:#x} {}{} {:08x} {}",
            self.start,
            self.end,
            self.prot,
            if self.shared { 's' } else { 'p' },
            self.offset_bytes,
            self.backing
        )?;
        if !self.flags.is_empty() {
            write!(f, " {}", self.flags)?;
        }
        if let Some(memory) = &self.memory {
            write!(f, " {memory}")?;
        }
        Ok(())
    }
}

/// `0x` and lowercase hexadecimal without leading zeroes (`0x0` for zero):
/// how result lines and `maps` lines print addresses.
pub(crate) fn parse_canonical_hex(word: &str) -> Option<u64> {
    let digits = word.strip_prefix("0x")?;
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if digits.is_empty()
        || !digits.bytes().all(lower_hex)
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// Parses a line as [`Display`](fmt::Display) prints it (canonical form
/// only), so outputs can be compared field by field.
impl FromStr for MapsLine {
    type Err = String;

    fn from_str(line: &str) -> Result<MapsLine, String> {
        let bad = |what: &str| format!("not a maps line ({what}): {line:?}");
        let mut words = line.split(' ');
        let range = words.next().ok_or_else(|| bad("no range"))?;
        let (start, end) = range.split_once('-').ok_or_else(|| bad("range"))?;
        let start = parse_canonical_hex(start).ok_or_else(|| bad("start"))?;
        let end = parse_canonical_hex(end).ok_or_else(|| bad("end"))?;

        let perms = words.next().ok_or_else(|| bad("no permissions"))?;
        if perms.len() != 4 || !perms.is_char_boundary(3) {
            return Err(bad("permissions"));
        }
        let prot = Prot::from_word(&perms[..3]).ok_or_else(|| bad("permissions"))?;
        let shared = match &perms[3..] {
            "s" => true,
            "p" => false,
            _ => return Err(bad("permissions")),
        };

        let offset = words.next().ok_or_else(|| bad("no offset"))?;
        let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if offset.len() < 8
            || !offset.bytes().all(lower_hex)
            || (offset.len() > 8 && offset.starts_with('0'))
        {
            return Err(bad("offset"));
        }
        let offset_bytes = u64::from_str_radix(offset, 16).map_err(|_| bad("offset"))?;

        let backing = match words.next().ok_or_else(|| bad("no backing"))? {
            "anon" => Backing::Anon,
            "shmem" => Backing::Shmem,
            name if Kind::valid_file_name(name) => Backing::File(name.to_owned()),
            _ => return Err(bad("backing")),
        };

        let mut words: Vec<&str> = words.collect();
        let number = |word: &str, key: &str| {
            let digits = word.strip_prefix(key)?;
            let canonical = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'));
            canonical.then(|| digits.parse::<u64>().ok()).flatten()
        };
        let pkey = match words.last() {
            Some(word) if word.starts_with("pkey=") => {
                let pkey = number(word, "pkey=")
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad("pkey"))?;
                words.pop();
                Some(pkey)
            }
            _ => None,
        };
        let memory = match words.as_slice() {
            [.., rss, anon, locked] if rss.starts_with("rss=") => {
                let memory = Memory {
                    rss_kb: number(rss, "rss=").ok_or_else(|| bad("rss"))?,
                    anon_kb: number(anon, "anon=").ok_or_else(|| bad("anon"))?,
                    locked_kb: number(locked, "locked=").ok_or_else(|| bad("locked"))?,
                    pkey,
                };
                words.truncate(words.len() - 3);
                Some(memory)
            }
            _ if pkey.is_some() => return Err(bad("pkey without rss, anon and locked")),
            _ => None,
        };

        let mut flags = SmapsFlags::empty();
        let mut last_bit = None;
        for word in words {
            let flag = SmapsFlags::from_name(word).ok_or_else(|| bad("flag"))?;
            let bit = flag.bits().trailing_zeros();
            if last_bit.is_some_and(|last| bit <= last) {
                return Err(bad("flags out of order"));
            }
            last_bit = Some(bit);
            flags |= flag;
        }

        Ok(MapsLine {
            start,
            end,
            prot,
            shared,
            offset_bytes,
            backing,
            flags,
            memory,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_round_trips_with_and_without_flags() {
        for text in [
            "0x0-0x1000 ---p 00000000 anon rss=0 anon=0 locked=0",
            "0x0-0x200000 rw-p 00000000 anon rd wr mr mw me lo ac hg rss=2048 anon=2048 locked=2048",
            "0x0-0x1000 --xp 00000000 anon ex mr mw me rss=0 anon=0 locked=0 pkey=15",
            "0x0-0x1000 rw-p 00000000 anon rd wr mr mw me ac rss=4 anon=4 locked=0 pkey=0",
            "0x0-0x1000 ---p 00000000 anon rss=0 anon=0 locked=0 pkey=4294967295",
        ] {
            let line: MapsLine = text.parse().unwrap();
            assert!(line.memory.is_some());
            assert_eq!(line.to_string(), text);
        }
    }

    #[test]
    fn flags_keep_only_the_set_in_order() {
        let flags = SmapsFlags::from_vmflags_line("VmFlags: rr ac rd mg um hg wr nh sd me sl ");
        assert_eq!(flags.to_string(), "rd wr me ac hg nh rr mg sl");
        assert_eq!(SmapsFlags::from_vmflags_line("VmFlags:").to_string(), "");
        assert_eq!(SmapsFlags::NAMES.len(), 22);
        let all = SmapsFlags::NAMES.join(" ");
        assert_eq!(SmapsFlags::from_vmflags_line(&all).to_string(), all);
        assert_eq!(
            SmapsFlags::from_vmflags_line(&all),
            SmapsFlags::from_bits_truncate(u32::MAX)
        );
    }

    #[test]
    fn offsets_print_with_at_least_eight_digits() {
        let mut line = MapsLine {
            start: 0,
            end: 0x1000,
            prot: Prot::NONE,
            shared: false,
            offset_bytes: 0x3_4000_0000,
            backing: Backing::File("big".into()),
            flags: SmapsFlags::empty(),
            memory: None,
        };
        assert_eq!(line.to_string(), "0x0-0x1000 ---p 340000000 big");
        assert_eq!(line.to_string().parse(), Ok(line.clone()));
        line.offset_bytes = 0;
        assert_eq!(line.to_string(), "0x0-0x1000 ---p 00000000 big");
        assert_eq!(line.to_string().parse(), Ok(line));
    }

    #[test]
    fn rejects_non_canonical_lines() {
        for text in [
            "",
            "end",
            "0x1000-0x2000 rw-p 00000000 anon rd wr",
            "0x1000-0x2000 rw-p 00000000 anon wr rd",
            "0x1000-0x2000 rw-p 00000000 anon rd rd",
            "0x1000-0x2000 rw-p 0000000 anon rd",
            "0x1000-0x2000 rw-p 000000000 anon rd",
            "0x1000-0x2000 rw-x 00000000 anon rd",
            "0x1000-0x2000 rw-p 00000000 Data rd",
            "0x1000-0x2000 rw-p 00000000 anon  rd",
            "0x01000-0x2000 rw-p 00000000 anon rd",
            "0x1000-0x2000 rw-é 00000000 anon rd",
            "0x1000-0x2000 rw-p 00000000 anon rd rss=4 anon=4",
            "0x1000-0x2000 rw-p 00000000 anon rd rss=04 anon=4 locked=0",
            "0x1000-0x2000 rw-p 00000000 anon rd anon=4 rss=4 locked=0",
            "0x1000-0x2000 rw-p 00000000 anon rd rss=4 anon=4 locked=",
            "0x1000-0x2000 rw-p 00000000 anon rss=4 anon=4 locked=0 rd",
            "0x1000-0x2000 rw-p 00000000 anon rd pkey=1",
            "0x1000-0x2000 rw-p 00000000 anon rd rss=4 anon=4 locked=0 pkey=",
            "0x1000-0x2000 rw-p 00000000 anon rd rss=4 anon=4 locked=0 pkey=01",
            "0x1000-0x2000 rw-p 00000000 anon rd rss=4 anon=4 locked=0 pkey=-1",
            "0x1000-0x2000 rw-p 00000000 anon rd rss=4 anon=4 locked=0 pkey=4294967296",
            "0x1000-0x2000 rw-p 00000000 anon rd rss=4 anon=4 locked=0 pkey=1 pkey=1",
            "0x1000-0x2000 rw-p 00000000 anon rd rss=4 anon=4 pkey=1 locked=0",
            "0x1000-0x2000 rw-p 00000000 anon rd rss=4 anon=4 locked=0  pkey=1",
        ] {
            if text == "0x1000-0x2000 rw-p 00000000 anon rd wr" {
                assert!(text.parse::<MapsLine>().is_ok());
            } else {
                assert!(text.parse::<MapsLine>().is_err(), "{text:?}");
            }
        }
    }
}
