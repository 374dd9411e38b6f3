//! The operations of a script, as typed values.
//!
//! One [`Op`] per line of the script. Every address is relative to the
//! window (see [`WINDOW_SIZE`](crate::WINDOW_SIZE)); lengths and offsets are
//! bytes, exactly as written, unaligned or zero if the script says so,
//! because "bad input gets the errno Linux gives" is part of what is tested.
//!
//! Each type prints back as the words it was parsed from ([`Display`]), so a
//! generated or edited [`Op`] can be written out as a script line.
//!
//! [`Display`]: fmt::Display

use core::fmt;

use crate::{PAGE_SIZE, REJECTED_START, ZONE_SIZE};

use crate::words::{
    Advice, ForkSide, Kind, MlockallFlags, MmapFlags, MremapFlags, PkeyRights, Prot, DEFAULT_PKEY,
};

/// One operation: one line of a script.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `mmap ADDR LEN PROT KIND [OPT...]`.
    Mmap {
        /// The address (a hint unless `fixed` or `noreplace`).
        addr: u64,
        /// The length in bytes.
        len: u64,
        /// The protection.
        prot: Prot,
        /// What to map.
        kind: Kind,
        /// The options.
        flags: MmapFlags,
    },
    /// `munmap ADDR LEN`.
    Munmap {
        /// The start.
        addr: u64,
        /// The length in bytes.
        len: u64,
    },
    /// `mprotect ADDR LEN PROT`.
    Mprotect {
        /// The start.
        addr: u64,
        /// The length in bytes.
        len: u64,
        /// The new protection.
        prot: Prot,
    },
    /// `mremap OLD OLDLEN NEWLEN [maymove] [fixed NEW] [dontunmap]`.
    Mremap {
        /// The start of the old range.
        old_addr: u64,
        /// The old length in bytes.
        old_len: u64,
        /// The new length in bytes.
        new_len: u64,
        /// The options.
        flags: MremapFlags,
    },
    /// `madvise ADDR LEN ADVICE`.
    Madvise {
        /// The start.
        addr: u64,
        /// The length in bytes.
        len: u64,
        /// The advice.
        advice: Advice,
    },
    /// `mlock ADDR LEN`, or `mlock ADDR LEN onfault` (v1.1):
    /// `mlock2(ADDR, LEN, MLOCK_ONFAULT)`.
    Mlock {
        /// The start.
        addr: u64,
        /// The length in bytes.
        len: u64,
        /// `onfault`: `mlock2` with `MLOCK_ONFAULT` (`VM_LOCKONFAULT`).
        onfault: bool,
    },
    /// `mlockall WORDS` (v1.1): `mlockall(FLAGS)`.
    Mlockall {
        /// The flags.
        flags: MlockallFlags,
    },
    /// `munlockall` (v1.1).
    Munlockall,
    /// `truncate NAME SIZE` (v1.1): `ftruncate` of the file `NAME` (made
    /// first, 1 GiB of zeroes, if no `mmap` used it yet).
    Truncate {
        /// The file's name, as in [`Kind`].
        name: String,
        /// The new size in bytes (the kernel's `off_t`: 2^63 and above
        /// is negative, `EINVAL`).
        size: u64,
    },
    /// `munlock ADDR LEN`.
    Munlock {
        /// The start.
        addr: u64,
        /// The length in bytes.
        len: u64,
    },
    /// `touch ADDR r` or `touch ADDR w`: a one-byte load or store.
    Touch {
        /// The byte's address.
        addr: u64,
        /// `w`: a store (a write fault); `r`: a load.
        write: bool,
    },
    /// `maps`: print the VMAs of the window.
    Maps,
    /// `mseal ADDR LEN` (v1.1): `mseal(ADDR, LEN, 0)`.
    Mseal {
        /// The start.
        addr: u64,
        /// The length in bytes.
        len: u64,
    },
    /// `pkey_alloc [noaccess|nowrite]`: `pkey_alloc(0, RIGHTS)`; prints the
    /// new key as `ok N` ([`Outcome::OkKey`](crate::Outcome::OkKey)).
    PkeyAlloc {
        /// The access rights of the new key.
        rights: PkeyRights,
    },
    /// `pkey_free N`: `pkey_free(N)`.
    PkeyFree {
        /// The key (the kernel's argument is an `int`).
        key: i32,
    },
    /// `pkey_mprotect ADDR LEN PROT PKEY`: `pkey_mprotect(ADDR, LEN, PROT,
    /// PKEY)`; `PKEY` is decimal, or `default` for
    /// [`DEFAULT_PKEY`] (-1).
    PkeyMprotect {
        /// The start.
        addr: u64,
        /// The length in bytes.
        len: u64,
        /// The new protection.
        prot: Prot,
        /// The key; -1 ([`DEFAULT_PKEY`]) is written `default`.
        pkey: i32,
    },
    /// `fork child` or `fork parent`: `fork(2)`, the script continuing in
    /// the process `side` names; prints `ok` once, in that process.
    Fork {
        /// Where the script continues.
        side: ForkSide,
    },
}

impl Op {
    /// The operation's word (`mmap`).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Mmap { .. } => "mmap",
            Op::Munmap { .. } => "munmap",
            Op::Mprotect { .. } => "mprotect",
            Op::Mremap { .. } => "mremap",
            Op::Madvise { .. } => "madvise",
            Op::Mlock { .. } => "mlock",
            Op::Munlock { .. } => "munlock",
            Op::Mlockall { .. } => "mlockall",
            Op::Munlockall => "munlockall",
            Op::Truncate { .. } => "truncate",
            Op::Touch { .. } => "touch",
            Op::Maps => "maps",
            Op::Mseal { .. } => "mseal",
            Op::PkeyAlloc { .. } => "pkey_alloc",
            Op::PkeyFree { .. } => "pkey_free",
            Op::PkeyMprotect { .. } => "pkey_mprotect",
            Op::Fork { .. } => "fork",
        }
    }

    /// The ranges `(start, len)` the operation may change or access, for
    /// [`range_allowed`]. A hinted `mmap` (neither `fixed` nor `noreplace`)
    /// has none: the kernel never maps over anything for a hint.
    ///
    /// For `mremap` these are the old range and, with `fixed`, the new range,
    /// else the old start with the new length (growing in place).
    /// `pkey_mprotect` has its range, as `mprotect`; `pkey_alloc`,
    /// `pkey_free` and `fork` have none.
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        match *self {
            Op::Mmap {
                addr, len, flags, ..
            } => {
                if flags.is_hint() {
                    Vec::new()
                } else {
                    vec![(addr, len)]
                }
            }
            Op::Munmap { addr, len }
            | Op::Mprotect { addr, len, .. }
            | Op::PkeyMprotect { addr, len, .. }
            | Op::Madvise { addr, len, .. }
            | Op::Mlock { addr, len, .. }
            | Op::Munlock { addr, len }
            | Op::Mseal { addr, len } => vec![(addr, len)],
            Op::Mremap {
                old_addr,
                old_len,
                new_len,
                flags,
            } => {
                let grown = match flags.fixed {
                    Some(new_addr) => (new_addr, new_len),
                    None => (old_addr, new_len),
                };
                vec![(old_addr, old_len), grown]
            }
            Op::Touch { addr, .. } => vec![(addr, 1)],
            Op::Maps
            | Op::PkeyAlloc { .. }
            | Op::PkeyFree { .. }
            | Op::Fork { .. }
            | Op::Mlockall { .. }
            | Op::Munlockall
            | Op::Truncate { .. } => Vec::new(),
        }
    }

    /// Checks [`Op::ranges`] with [`range_allowed`]; the error says which
    /// range is out of bounds.
    pub fn check_ranges(&self) -> Result<(), String> {
        for (start, len) in self.ranges() {
            if !range_allowed(start, len) {
                return Err(format!(
                    "range {start:#x}+{len:#x} leaves [0, {ZONE_SIZE:#x}) \
                     (the window and its spill zone) and is not one that Linux \
                     always rejects (start at or above 2^47, end past 2^64)"
                ));
            }
        }
        Ok(())
    }
}

/// Whether a script may name the range `[start, start + len)`.
///
/// Scripts keep every range inside `[0, ZONE_SIZE)`, except ranges that
/// Linux rejects wherever the window is: a start at or above 2^47
/// ([`REJECTED_START`]), or an end past 2^64 (the end after rounding `len`
/// up to a page, so `mprotect 0x1000 0xffffffffffffe001` counts: Linux's
/// `PAGE_ALIGN` overflows). This is what makes a kernel runner safe: no
/// allowed range can reach the runner's own memory outside the zone.
///
/// ```
/// use mmscript::range_allowed;
///
/// assert!(range_allowed(0x1000, 0x2000));
/// assert!(range_allowed(0x1f_ffff_f000, 0x1000));
/// assert!(!range_allowed(0x1f_ffff_f000, 0x2000));
/// assert!(range_allowed(1 << 47, 0x1000));
/// assert!(range_allowed(0x1000, u64::MAX));
/// assert!(!range_allowed(0x1000, 1 << 47));
/// ```
pub fn range_allowed(start: u64, len: u64) -> bool {
    if start >= REJECTED_START {
        return true;
    }
    let page = u128::from(PAGE_SIZE);
    let aligned_end = u128::from(start) + u128::from(len).div_ceil(page) * page;
    if aligned_end > u128::from(u64::MAX) {
        return true;
    }
    start.checked_add(len).is_some_and(|end| end <= ZONE_SIZE)
}

impl fmt::Display for Op {
    /// The canonical script line (hexadecimal numbers, options in the
    /// spec's order); it parses back to the same [`Op`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            Op::Mmap {
                addr,
                len,
                prot,
                kind,
                flags,
            } => {
                write!(f, " {addr:#x} {len:#x} {prot} {kind}")?;
                for word in flags.words() {
                    write!(f, " {word}")?;
                }
                Ok(())
            }
            Op::Munmap { addr, len } | Op::Munlock { addr, len } | Op::Mseal { addr, len } => {
                write!(f, " {addr:#x} {len:#x}")
            }
            Op::Mlock { addr, len, onfault } => {
                write!(f, " {addr:#x} {len:#x}")?;
                if *onfault {
                    f.write_str(" onfault")?;
                }
                Ok(())
            }
            Op::Mlockall { flags } => write!(f, " {flags}"),
            Op::Munlockall => Ok(()),
            Op::Truncate { name, size } => write!(f, " {name} {size:#x}"),
            Op::Mprotect { addr, len, prot } => write!(f, " {addr:#x} {len:#x} {prot}"),
            Op::Mremap {
                old_addr,
                old_len,
                new_len,
                flags,
            } => {
                write!(f, " {old_addr:#x} {old_len:#x} {new_len:#x}")?;
                if flags.maymove {
                    f.write_str(" maymove")?;
                }
                if let Some(new_addr) = flags.fixed {
                    write!(f, " fixed {new_addr:#x}")?;
                }
                if flags.dontunmap {
                    f.write_str(" dontunmap")?;
                }
                Ok(())
            }
            Op::Madvise { addr, len, advice } => write!(f, " {addr:#x} {len:#x} {advice}"),
            Op::Touch { addr, write } => {
                write!(f, " {addr:#x} {}", if *write { 'w' } else { 'r' })
            }
            Op::Maps => Ok(()),
            Op::PkeyAlloc { rights } => match rights.word() {
                Some(word) => write!(f, " {word}"),
                None => Ok(()),
            },
            Op::PkeyFree { key } => write!(f, " {key}"),
            Op::PkeyMprotect {
                addr,
                len,
                prot,
                pkey,
            } => {
                write!(f, " {addr:#x} {len:#x} {prot} ")?;
                if *pkey == DEFAULT_PKEY {
                    f.write_str("default")
                } else {
                    write!(f, "{pkey}")
                }
            }
            Op::Fork { side } => write!(f, " {side}"),
        }
    }
}
