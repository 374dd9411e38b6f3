//! The words of an operation: protections, mapping kinds, option sets
//! and flag words, as typed values that print back as the words they were
//! parsed from ([`Display`]).
//!
//! [`Display`]: fmt::Display

use core::fmt;

/// Memory protection: the `PROT` word, `r`/`-`, `w`/`-`, `x`/`-`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Prot {
    /// `PROT_READ`.
    pub read: bool,
    /// `PROT_WRITE`.
    pub write: bool,
    /// `PROT_EXEC`.
    pub exec: bool,
}

impl Prot {
    /// `---`: `PROT_NONE`.
    pub const NONE: Prot = Prot::new(false, false, false);
    /// `r--`.
    pub const R: Prot = Prot::new(true, false, false);
    /// `rw-`.
    pub const RW: Prot = Prot::new(true, true, false);
    /// `r-x`.
    pub const RX: Prot = Prot::new(true, false, true);
    /// `rwx`.
    pub const RWX: Prot = Prot::new(true, true, true);

    /// A protection from its three bits.
    pub const fn new(read: bool, write: bool, exec: bool) -> Prot {
        Prot { read, write, exec }
    }

    /// Parses the three-character form (`rw-`).
    pub fn from_word(word: &str) -> Option<Prot> {
        let flag = |byte: u8, yes: u8| match byte {
            b'-' => Some(false),
            b if b == yes => Some(true),
            _ => None,
        };
        match word.as_bytes() {
            [r, w, x] => Some(Prot::new(flag(*r, b'r')?, flag(*w, b'w')?, flag(*x, b'x')?)),
            _ => None,
        }
    }
}

impl fmt::Display for Prot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pick = |on: bool, c: char| if on { c } else { '-' };
        write!(
            f,
            "{}{}{}",
            pick(self.read, 'r'),
            pick(self.write, 'w'),
            pick(self.exec, 'x')
        )
    }
}

/// What an `mmap` maps: the `KIND` word.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `private-anon`: `MAP_PRIVATE | MAP_ANONYMOUS`.
    PrivateAnon,
    /// `shared-anon`: `MAP_SHARED | MAP_ANONYMOUS` (a new shmem object).
    SharedAnon,
    /// `private-file:NAME:OFF`: `MAP_PRIVATE` of the named 1 GiB file.
    PrivateFile {
        /// The file's name, `[a-z0-9_]+`, not `anon` or `shmem`.
        name: String,
        /// The byte offset in the file (the `offset` argument of `mmap`).
        offset: u64,
    },
    /// `shared-file:NAME:OFF`: `MAP_SHARED` of the named 1 GiB file.
    SharedFile {
        /// The file's name, `[a-z0-9_]+`, not `anon` or `shmem`.
        name: String,
        /// The byte offset in the file (the `offset` argument of `mmap`).
        offset: u64,
    },
}

impl Kind {
    /// Whether the mapping is `MAP_SHARED`.
    pub fn is_shared(&self) -> bool {
        matches!(self, Kind::SharedAnon | Kind::SharedFile { .. })
    }

    /// Whether the mapping is `MAP_ANONYMOUS`.
    pub fn is_anon(&self) -> bool {
        matches!(self, Kind::PrivateAnon | Kind::SharedAnon)
    }

    /// The file name and offset of a file mapping.
    pub fn file(&self) -> Option<(&str, u64)> {
        match self {
            Kind::PrivateFile { name, offset } | Kind::SharedFile { name, offset } => {
                Some((name, *offset))
            }
            Kind::PrivateAnon | Kind::SharedAnon => None,
        }
    }

    /// Whether `name` may name a file: `[a-z0-9_]+`, and neither `anon` nor
    /// `shmem` (the backings of anonymous mappings in a `maps` block).
    pub fn valid_file_name(name: &str) -> bool {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && name != "anon"
            && name != "shmem"
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::PrivateAnon => f.write_str("private-anon"),
            Kind::SharedAnon => f.write_str("shared-anon"),
            Kind::PrivateFile { name, offset } => write!(f, "private-file:{name}:{offset:#x}"),
            Kind::SharedFile { name, offset } => write!(f, "shared-file:{name}:{offset:#x}"),
        }
    }
}

/// The `OPT` words of `mmap`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MmapFlags {
    /// `fixed`: `MAP_FIXED`.
    pub fixed: bool,
    /// `noreplace`: `MAP_FIXED_NOREPLACE`.
    pub noreplace: bool,
    /// `noreserve`: `MAP_NORESERVE`.
    pub noreserve: bool,
    /// `populate`: `MAP_POPULATE`.
    pub populate: bool,
    /// `locked`: `MAP_LOCKED`.
    pub locked: bool,
    /// `growsdown`: `MAP_GROWSDOWN` (v1.1): the mapping is a stack that
    /// grows down to a faulting address below it.
    pub growsdown: bool,
    /// `stack`: `MAP_STACK` (v1.1), which Linux 6.7+ turns into
    /// `VM_NOHUGEPAGE`.
    pub stack: bool,
}

impl MmapFlags {
    /// `fixed` alone.
    pub const FIXED: MmapFlags = MmapFlags {
        fixed: true,
        noreplace: false,
        noreserve: false,
        populate: false,
        locked: false,
        growsdown: false,
        stack: false,
    };

    /// Whether ADDR is only a hint: neither `fixed` nor `noreplace`.
    pub fn is_hint(&self) -> bool {
        !self.fixed && !self.noreplace
    }

    /// The words, in the canonical order.
    pub(crate) fn words(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.fixed, "fixed"),
            (self.noreplace, "noreplace"),
            (self.noreserve, "noreserve"),
            (self.populate, "populate"),
            (self.locked, "locked"),
            (self.growsdown, "growsdown"),
            (self.stack, "stack"),
        ]
        .into_iter()
        .filter_map(|(on, word)| on.then_some(word))
    }
}

/// The options of `mremap`: `[maymove] [fixed NEW] [dontunmap]`.
///
/// The fields record the words as written. What Linux receives is
/// [`MremapFlags::new_addr`] and the flags `MREMAP_MAYMOVE` if
/// [`MremapFlags::maymove_flag`], `MREMAP_FIXED` if `fixed` is some and
/// `MREMAP_DONTUNMAP` if `dontunmap`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MremapFlags {
    /// `maymove` was written.
    pub maymove: bool,
    /// `fixed NEW`: the new address, relative to the window.
    pub fixed: Option<u64>,
    /// `dontunmap`: `MREMAP_DONTUNMAP` (and nothing else).
    pub dontunmap: bool,
}

impl MremapFlags {
    /// Whether `MREMAP_MAYMOVE` is set: `maymove`, or `fixed` (which implies it).
    pub fn maymove_flag(&self) -> bool {
        self.maymove || self.fixed.is_some()
    }

    /// The new-address argument (relative): `NEW` with `fixed`, else 0.
    pub fn new_addr(&self) -> u64 {
        self.fixed.unwrap_or(0)
    }
}

/// The `ADVICE` word of `madvise`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Advice {
    /// `dontneed`: `MADV_DONTNEED`.
    DontNeed,
    /// `free`: `MADV_FREE`.
    Free,
    /// `dontfork`: `MADV_DONTFORK`.
    DontFork,
    /// `dofork`: `MADV_DOFORK`.
    DoFork,
    /// `wipeonfork`: `MADV_WIPEONFORK`.
    WipeOnFork,
    /// `keeponfork`: `MADV_KEEPONFORK`.
    KeepOnFork,
    /// `hugepage`: `MADV_HUGEPAGE`.
    HugePage,
    /// `nohugepage`: `MADV_NOHUGEPAGE`.
    NoHugePage,
    /// `random`: `MADV_RANDOM`.
    Random,
    /// `sequential`: `MADV_SEQUENTIAL`.
    Sequential,
    /// `normal`: `MADV_NORMAL`.
    Normal,
    /// `willneed`: `MADV_WILLNEED` (v1.1).
    WillNeed,
    /// `cold`: `MADV_COLD` (v1.1).
    Cold,
    /// `pageout`: `MADV_PAGEOUT` (v1.1).
    PageOut,
    /// `populate_read`: `MADV_POPULATE_READ` (v1.1).
    PopulateRead,
    /// `populate_write`: `MADV_POPULATE_WRITE` (v1.1).
    PopulateWrite,
    /// `remove`: `MADV_REMOVE` (v1.1).
    Remove,
    /// `dontdump`: `MADV_DONTDUMP` (v1.1).
    DontDump,
    /// `dodump`: `MADV_DODUMP` (v1.1).
    DoDump,
    /// `dontneed_locked`: `MADV_DONTNEED_LOCKED` (v1.1).
    DontNeedLocked,
    /// `guard_install`: `MADV_GUARD_INSTALL` (v1.1).
    GuardInstall,
    /// `guard_remove`: `MADV_GUARD_REMOVE` (v1.1).
    GuardRemove,
    /// `mergeable`: `MADV_MERGEABLE` (v1.1).
    Mergeable,
    /// `unmergeable`: `MADV_UNMERGEABLE` (v1.1).
    Unmergeable,
    /// `collapse`: `MADV_COLLAPSE` (v1.1).
    Collapse,
}

impl Advice {
    /// Every advice, in the order of the spec (v1's words, then v1.1's).
    pub const ALL: [Advice; 25] = [
        Advice::DontNeed,
        Advice::Free,
        Advice::DontFork,
        Advice::DoFork,
        Advice::WipeOnFork,
        Advice::KeepOnFork,
        Advice::HugePage,
        Advice::NoHugePage,
        Advice::Random,
        Advice::Sequential,
        Advice::Normal,
        Advice::WillNeed,
        Advice::Cold,
        Advice::PageOut,
        Advice::PopulateRead,
        Advice::PopulateWrite,
        Advice::Remove,
        Advice::DontDump,
        Advice::DoDump,
        Advice::DontNeedLocked,
        Advice::GuardInstall,
        Advice::GuardRemove,
        Advice::Mergeable,
        Advice::Unmergeable,
        Advice::Collapse,
    ];

    /// The advice of mmscript v1 (the first 11 of [`Advice::ALL`]).
    pub const V1: [Advice; 11] = [
        Advice::DontNeed,
        Advice::Free,
        Advice::DontFork,
        Advice::DoFork,
        Advice::WipeOnFork,
        Advice::KeepOnFork,
        Advice::HugePage,
        Advice::NoHugePage,
        Advice::Random,
        Advice::Sequential,
        Advice::Normal,
    ];

    /// The `MADV_*` value Linux (x86_64, and the generic headers) gives
    /// the advice.
    ///
    /// ```
    /// use mmscript::Advice;
    ///
    /// assert_eq!(Advice::GuardInstall.raw(), 102);
    /// assert_eq!(Advice::from_name("populate_write").map(Advice::raw), Some(23));
    /// ```
    pub fn raw(self) -> i32 {
        match self {
            Advice::Normal => 0,
            Advice::Random => 1,
            Advice::Sequential => 2,
            Advice::WillNeed => 3,
            Advice::DontNeed => 4,
            Advice::Free => 8,
            Advice::Remove => 9,
            Advice::DontFork => 10,
            Advice::DoFork => 11,
            Advice::Mergeable => 12,
            Advice::Unmergeable => 13,
            Advice::HugePage => 14,
            Advice::NoHugePage => 15,
            Advice::DontDump => 16,
            Advice::DoDump => 17,
            Advice::WipeOnFork => 18,
            Advice::KeepOnFork => 19,
            Advice::Cold => 20,
            Advice::PageOut => 21,
            Advice::PopulateRead => 22,
            Advice::PopulateWrite => 23,
            Advice::DontNeedLocked => 24,
            Advice::Collapse => 25,
            Advice::GuardInstall => 102,
            Advice::GuardRemove => 103,
        }
    }

    /// The word in a script (`dontneed`).
    pub fn name(self) -> &'static str {
        match self {
            Advice::DontNeed => "dontneed",
            Advice::Free => "free",
            Advice::DontFork => "dontfork",
            Advice::DoFork => "dofork",
            Advice::WipeOnFork => "wipeonfork",
            Advice::KeepOnFork => "keeponfork",
            Advice::HugePage => "hugepage",
            Advice::NoHugePage => "nohugepage",
            Advice::Random => "random",
            Advice::Sequential => "sequential",
            Advice::Normal => "normal",
            Advice::WillNeed => "willneed",
            Advice::Cold => "cold",
            Advice::PageOut => "pageout",
            Advice::PopulateRead => "populate_read",
            Advice::PopulateWrite => "populate_write",
            Advice::Remove => "remove",
            Advice::DontDump => "dontdump",
            Advice::DoDump => "dodump",
            Advice::DontNeedLocked => "dontneed_locked",
            Advice::GuardInstall => "guard_install",
            Advice::GuardRemove => "guard_remove",
            Advice::Mergeable => "mergeable",
            Advice::Unmergeable => "unmergeable",
            Advice::Collapse => "collapse",
        }
    }

    /// The advice a script word names.
    pub fn from_name(word: &str) -> Option<Advice> {
        Advice::ALL.into_iter().find(|a| a.name() == word)
    }
}

impl fmt::Display for Advice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The access rights of a new protection key: the optional word of
/// `pkey_alloc` (`pkey_alloc`, `pkey_alloc noaccess`, `pkey_alloc nowrite`).
///
/// ```
/// use mmscript::PkeyRights;
///
/// assert_eq!(PkeyRights::from_word("nowrite"), Some(PkeyRights::NoWrite));
/// assert_eq!(PkeyRights::NoWrite.bits(), 2);
/// assert_eq!(PkeyRights::None.word(), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PkeyRights {
    /// No word: rights 0, the key allows every access.
    #[default]
    None,
    /// `noaccess`: `PKEY_DISABLE_ACCESS`.
    NoAccess,
    /// `nowrite`: `PKEY_DISABLE_WRITE`.
    NoWrite,
}

impl PkeyRights {
    /// Every value, in the order of the spec.
    pub const ALL: [PkeyRights; 3] = [PkeyRights::None, PkeyRights::NoAccess, PkeyRights::NoWrite];

    /// The `rights` argument of `pkey_alloc`: 0, `PKEY_DISABLE_ACCESS` (1)
    /// or `PKEY_DISABLE_WRITE` (2).
    pub fn bits(self) -> u32 {
        match self {
            PkeyRights::None => 0,
            PkeyRights::NoAccess => 1,
            PkeyRights::NoWrite => 2,
        }
    }

    /// The word in a script, if any (`noaccess`, `nowrite`).
    pub fn word(self) -> Option<&'static str> {
        match self {
            PkeyRights::None => None,
            PkeyRights::NoAccess => Some("noaccess"),
            PkeyRights::NoWrite => Some("nowrite"),
        }
    }

    /// The rights a script word names (`noaccess`, `nowrite`).
    pub fn from_word(word: &str) -> Option<PkeyRights> {
        PkeyRights::ALL.into_iter().find(|r| r.word() == Some(word))
    }
}

/// The word of `mlockall` (v1.1): `current`, `future` and `onfault`
/// joined with `|` (`current|future`), each at most once, in any order.
/// Printed in that order.
///
/// ```
/// use mmscript::MlockallFlags;
///
/// let flags = MlockallFlags::from_word("future|current").unwrap();
/// assert_eq!(flags.bits(), 3);
/// assert_eq!(flags.to_string(), "current|future");
/// assert_eq!(MlockallFlags::from_word("onfault").unwrap().bits(), 4);
/// assert!(MlockallFlags::from_word("current|current").is_err());
/// assert!(MlockallFlags::from_word("current|").is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MlockallFlags {
    /// `current`: `MCL_CURRENT`.
    pub current: bool,
    /// `future`: `MCL_FUTURE`.
    pub future: bool,
    /// `onfault`: `MCL_ONFAULT`.
    pub onfault: bool,
}

impl MlockallFlags {
    /// The `flags` argument of `mlockall`: `MCL_CURRENT` (1), `MCL_FUTURE`
    /// (2), `MCL_ONFAULT` (4).
    pub fn bits(self) -> i32 {
        i32::from(self.current) | i32::from(self.future) << 1 | i32::from(self.onfault) << 2
    }

    /// The words, in the canonical order.
    pub(crate) fn words(self) -> impl Iterator<Item = &'static str> {
        [
            (self.current, "current"),
            (self.future, "future"),
            (self.onfault, "onfault"),
        ]
        .into_iter()
        .filter_map(|(on, word)| on.then_some(word))
    }

    /// Parses the word: names joined with `|`; the error says why not.
    pub fn from_word(word: &str) -> Result<MlockallFlags, String> {
        let mut flags = MlockallFlags::default();
        for name in word.split('|') {
            let flag = match name {
                "current" => &mut flags.current,
                "future" => &mut flags.future,
                "onfault" => &mut flags.onfault,
                _ => {
                    return Err(format!(
                        "{name:?} is not current, future or onfault (joined with |)"
                    ))
                }
            };
            if *flag {
                return Err(format!("{name:?} appears twice"));
            }
            *flag = true;
        }
        Ok(flags)
    }
}

impl fmt::Display for MlockallFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, word) in self.words().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            f.write_str(word)?;
        }
        Ok(())
    }
}

/// The `PKEY` argument of `pkey_mprotect` that the word `default` stands
/// for: -1, "keep the default key" (Linux: `mprotect_pkey` with `pkey == -1`
/// keeps the VMA's key unless the protection is execute-only).
pub const DEFAULT_PKEY: i32 = -1;

/// Which process carries on with the script after `fork`: the word of
/// `fork child` and `fork parent`.
///
/// ```
/// use mmscript::{parse_line, ForkSide, Op};
///
/// let op = parse_line("fork child").unwrap().unwrap();
/// assert_eq!(op, Op::Fork { side: ForkSide::Child });
/// assert_eq!(op.to_string(), "fork child");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ForkSide {
    /// `child`: the script continues in the child; the parent waits for
    /// it, prints nothing more and exits with its exit status.
    Child,
    /// `parent`: the script continues in the parent; the child keeps its
    /// copy of the address space, untouched, until the script ends.
    Parent,
}

impl ForkSide {
    /// Both sides, in the order of the spec.
    pub const ALL: [ForkSide; 2] = [ForkSide::Child, ForkSide::Parent];

    /// The word in a script (`child`, `parent`).
    pub fn word(self) -> &'static str {
        match self {
            ForkSide::Child => "child",
            ForkSide::Parent => "parent",
        }
    }

    /// The side a script word names.
    pub fn from_word(word: &str) -> Option<ForkSide> {
        ForkSide::ALL.into_iter().find(|s| s.word() == word)
    }
}

impl fmt::Display for ForkSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}
