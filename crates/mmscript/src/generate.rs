//! Seeded random scripts, for soak-testing the model against the kernel.
//!
//! [`generate`] writes a valid script of mixed operations that keeps to the
//! first 64 MiB of the window, where they collide often: most ranges are
//! carved out of recently mapped ones, so splits, merges, faults on
//! unfaulted VMAs and moves next to faulted ones all happen. Mappings are
//! mostly private anonymous, some shared anonymous and some files (whose
//! offsets usually follow their address, so neighbours can merge); some are
//! 2 MiB-aligned and 2 or 4 MiB long, followed by `madvise hugepage`, for
//! THP. A few operations get bad arguments on purpose (unaligned, empty,
//! overflowing, above 2^47) to compare errnos.
//!
//! Now and then the script allocates a protection key (with each rights
//! word), frees one it probably allocated or a random one in -1..=16 but
//! never key 0 (a runner that frees it can lose its own memory), or
//! applies `pkey_mprotect` to the kind of range `mprotect` gets, with the
//! key `default`, one it probably allocated, or a random one in 0..=16. The
//! generator cannot see what `pkey_alloc` returned (and none on a host
//! without protection keys), so "probably allocated" is its guess: the
//! lowest free keys from 1 up, which is what Linux hands out where it can.
//!
//! Rarely (about 3 operations in 1000, from a stream of its own so that
//! the rest of a seed's script is what it was before `fork` existed) the
//! script forks, continuing in the child or in the parent alike.
//!
//! Locking: `mlock` is `mlock ... onfault` a quarter of the time; now and
//! then `mlockall` (any combination of its words, `onfault` alone among
//! them: `EINVAL`) or `munlockall`. Rarely a script truncates one of its
//! files (`truncate NAME SIZE`): to nothing, to a size inside the region
//! its mappings' offsets follow (page-aligned or not), back to 1 GiB, or to
//! 2^63 and above (`EINVAL`).
//!
//! Stacks come rarely too: `mmap ... stack`, and `mmap ... growsdown`
//! usually followed by a `touch` a few pages below the new mapping.
//!
//! About a third of the `madvise` lines use the advice words of v1.1
//! (all but `collapse`), and now and then (1 operation in 100) a range,
//! usually a page or two, is sealed with `mseal`.
//!
//! Every `mmap` is `fixed` or `noreplace`, and every `mremap` that may move
//! uses `fixed` or only shrinks, so nothing leaves the window. The output
//! depends only on the seed and the count (a private SplitMix64; no `rand`).

use core::fmt::Write as _;

use crate::{
    Advice, ForkSide, Kind, MlockallFlags, MmapFlags, MremapFlags, Op, PkeyRights, Prot,
    DEFAULT_PKEY, PAGE_SIZE, REJECTED_START,
};

/// The region generated ranges stay in: the first 64 MiB of the window.
const REGION_PAGES: u64 = 64 << 8;
/// Most ranges are in the first 4 MiB.
const HOT_PAGES: u64 = 1024;
/// How many recent mappings ranges are carved from.
const RECENT: usize = 16;
/// The size of every script file: 1 GiB.
const FILE_SIZE: u64 = 1 << 30;

/// The advice words of v1.1 that random scripts use: every one but
/// `collapse`, whose page-cache (shmem) collapse the model does not make.
/// [`Advice::ALL`] lists the 11 words of v1 first and `collapse` last.
const NEW_ADVICE: &[Advice] = Advice::ALL.as_slice().split_at(11).1.split_at(13).0;

/// The number of protection keys on x86 (key 0 is the default key).
const PKEYS: i32 = 16;
/// How many operations in 1000 are a `fork`.
const FORK_PER_MILLE: u64 = 3;
/// Seeds the stream that decides where forks go, apart from the rest.
const FORK_STREAM: u64 = 0x666f_726b_666f_726b;

/// A script of `ops` operations (including periodic `maps`) and a final
/// `maps`, the same for the same `seed`.
///
/// ```
/// let script = mmscript::generate(7, 50);
/// assert_eq!(script, mmscript::generate(7, 50));
/// let parsed = mmscript::parse(&script).unwrap();
/// assert_eq!(parsed.ops.len(), 51);
/// ```
pub fn generate(seed: u64, ops: usize) -> String {
    let mut generator = Generator {
        rng: SplitMix64(seed),
        forks: SplitMix64(seed ^ FORK_STREAM),
        recent: Vec::new(),
        pending: None,
        keys: 1,
    };
    let mut text = format!("# mmscript::generate(seed {seed}, {ops} ops)\n");
    for _ in 0..ops {
        let op = generator.op();
        debug_assert!(op.check_ranges().is_ok(), "{op}");
        // Writing to a String cannot fail.
        let _ = writeln!(text, "{op}");
    }
    text.push_str("maps\n");
    text
}

/// SplitMix64 (Steele, Lea and Flood, 2014): tiny, fast, and good enough
/// to pick operations.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// Picks by weight: `items` are `(weight, value)`.
    fn weighted<T: Copy>(&mut self, items: &[(u64, T)]) -> T {
        let total: u64 = items.iter().map(|(w, _)| w).sum();
        let mut roll = self.below(total);
        for &(weight, item) in items {
            if roll < weight {
                return item;
            }
            roll -= weight;
        }
        unreachable!("roll < total")
    }
}

#[derive(Clone, Copy)]
enum Choice {
    Mmap,
    Munmap,
    Mprotect,
    Mremap,
    Madvise,
    Mlock,
    Munlock,
    Mlockall,
    Munlockall,
    Truncate,
    Touch,
    Maps,
    PkeyAlloc,
    PkeyFree,
    PkeyMprotect,
    Mseal,
}

struct Generator {
    rng: SplitMix64,
    /// Where forks go: a stream of its own (see the module docs).
    forks: SplitMix64,
    /// Recently mapped `(addr, len)`, newest last.
    recent: Vec<(u64, u64)>,
    /// An operation to emit next (the `madvise hugepage` after a THP mmap).
    pending: Option<Op>,
    /// The keys the script has probably allocated, bit `k` for key `k`
    /// (key 0 always): a guess, see the module docs.
    keys: u32,
}

impl Generator {
    fn op(&mut self) -> Op {
        if let Some(op) = self.pending.take() {
            return op;
        }
        if self.forks.below(1000) < FORK_PER_MILLE {
            let side = self.forks.pick(&ForkSide::ALL);
            return Op::Fork { side };
        }
        let choice = self.rng.weighted(&[
            (22, Choice::Mmap),
            (10, Choice::Munmap),
            (15, Choice::Mprotect),
            (10, Choice::Mremap),
            (12, Choice::Madvise),
            (4, Choice::Mlock),
            (4, Choice::Munlock),
            (1, Choice::Mlockall),
            (1, Choice::Munlockall),
            (1, Choice::Truncate),
            (15, Choice::Touch),
            (8, Choice::Maps),
            (1, Choice::PkeyAlloc),
            (1, Choice::PkeyFree),
            (2, Choice::PkeyMprotect),
            (1, Choice::Mseal),
        ]);
        match choice {
            Choice::Mmap => self.mmap(),
            Choice::Munmap => {
                let (addr, len) = self.bad_range();
                Op::Munmap { addr, len }
            }
            Choice::Mprotect => {
                let (addr, len) = self.bad_range();
                let prot = self.prot();
                Op::Mprotect { addr, len, prot }
            }
            Choice::Mremap => self.mremap(),
            Choice::Madvise => {
                let (addr, len) = self.bad_range();
                let advice = if self.rng.chance(65) {
                    self.rng.pick(&Advice::V1)
                } else {
                    self.rng.pick(NEW_ADVICE)
                };
                Op::Madvise { addr, len, advice }
            }
            Choice::Mlock => {
                let (addr, len) = self.bad_range();
                let onfault = self.rng.chance(25);
                Op::Mlock { addr, len, onfault }
            }
            Choice::Munlock => {
                let (addr, len) = self.bad_range();
                Op::Munlock { addr, len }
            }
            Choice::Mlockall => {
                let bits = 1 + self.rng.below(7);
                let flags = MlockallFlags {
                    current: bits & 1 != 0,
                    future: bits & 2 != 0,
                    onfault: bits & 4 != 0,
                };
                Op::Mlockall { flags }
            }
            Choice::Munlockall => Op::Munlockall,
            Choice::Truncate => {
                let name = self.rng.pick(&["data", "other"]).to_owned();
                let size = match self.rng.below(10) {
                    0 => 0,
                    1..=4 => PAGE_SIZE * self.rng.below(REGION_PAGES),
                    5..=6 => self.rng.below(REGION_PAGES * PAGE_SIZE),
                    7..=8 => FILE_SIZE,
                    _ => (1 << 63) + self.rng.below(1 << 20),
                };
                Op::Truncate { name, size }
            }
            Choice::Touch => {
                let (addr, len) = self.range();
                let addr = addr + self.rng.below(len);
                let write = self.rng.chance(50);
                Op::Touch { addr, write }
            }
            Choice::Maps => Op::Maps,
            Choice::Mseal => {
                // Rare, and usually one or two pages: sealed memory stays
                // for the rest of the script.
                let (addr, len) = self.bad_range();
                let len = if self.rng.chance(70) {
                    len.min(PAGE_SIZE * (1 + self.rng.below(2)))
                } else {
                    len
                };
                Op::Mseal { addr, len }
            }
            Choice::PkeyAlloc => {
                let rights = self.rng.pick(&PkeyRights::ALL);
                let free = (1..PKEYS).find(|k| self.keys & (1 << k) == 0);
                if let Some(key) = free {
                    self.keys |= 1 << key;
                }
                Op::PkeyAlloc { rights }
            }
            Choice::PkeyFree => {
                let key = match self.allocated_key() {
                    Some(key) if self.rng.chance(70) => key,
                    // -1 and 1..=16, never 0: where there are protection
                    // keys Linux lets key 0 be freed, and the next
                    // pkey_alloc or execute-only mapping would then give
                    // it rights that fault the runner's own memory.
                    _ => match self.rng.below(PKEYS as u64 + 1) as i32 {
                        0 => -1,
                        key => key,
                    },
                };
                if key > 0 {
                    self.keys &= !(1 << key);
                }
                Op::PkeyFree { key }
            }
            Choice::PkeyMprotect => {
                let (addr, len) = self.bad_range();
                let prot = self.prot();
                let pkey = match self.rng.below(10) {
                    0..=2 => DEFAULT_PKEY,
                    3..=6 => self
                        .allocated_key()
                        .unwrap_or_else(|| self.rng.below(PKEYS as u64 + 1) as i32),
                    _ => self.rng.below(PKEYS as u64 + 1) as i32,
                };
                Op::PkeyMprotect {
                    addr,
                    len,
                    prot,
                    pkey,
                }
            }
        }
    }

    /// A key the script has probably allocated (not 0), if any.
    fn allocated_key(&mut self) -> Option<i32> {
        let keys: Vec<i32> = (1..PKEYS).filter(|k| self.keys & (1 << k) != 0).collect();
        if keys.is_empty() {
            None
        } else {
            Some(self.rng.pick(&keys))
        }
    }

    fn mmap(&mut self) -> Op {
        let mut flags = MmapFlags {
            fixed: self.rng.chance(75),
            noreserve: self.rng.chance(10),
            populate: self.rng.chance(5),
            locked: self.rng.chance(4),
            ..MmapFlags::default()
        };
        flags.noreplace = !flags.fixed;

        if self.rng.chance(8) {
            // A THP candidate: 2 MiB-aligned, 2 or 4 MiB, usually advised.
            let huge = 2 << 20;
            let addr = huge * self.rng.below(REGION_PAGES * PAGE_SIZE / huge - 1);
            let len = huge * (1 + self.rng.below(2));
            self.remember(addr, len);
            if self.rng.chance(70) {
                self.pending = Some(Op::Madvise {
                    addr,
                    len,
                    advice: Advice::HugePage,
                });
            }
            return Op::Mmap {
                addr,
                len,
                prot: Prot::RW,
                kind: Kind::PrivateAnon,
                flags,
            };
        }

        let (addr, len) = self.fresh_range();
        self.remember(addr, len);
        let prot = self.prot();
        let kind = self.kind(addr);
        // Rarely a stack: MAP_STACK, or MAP_GROWSDOWN (EINVAL for files
        // and shared memory), then usually a touch a few pages below it,
        // which grows it (or not: the guard gap, a neighbour).
        flags.stack = self.rng.chance(3);
        flags.growsdown = self.rng.chance(3);
        if flags.growsdown && self.rng.chance(70) {
            let below = PAGE_SIZE * (1 + self.rng.below(8));
            if let Some(touch) = addr.checked_sub(below) {
                let write = self.rng.chance(50);
                self.pending = Some(Op::Touch { addr: touch, write });
            }
        }
        let (addr, len) = self.spoil(addr, len);
        Op::Mmap {
            addr,
            len,
            prot,
            kind,
            flags,
        }
    }

    fn mremap(&mut self) -> Op {
        let (old_addr, old_len) = self.range();
        let pages = old_len / PAGE_SIZE;
        let mut flags = MremapFlags::default();
        let new_len = match self.rng.below(10) {
            // Resize in place.
            0..=3 => self.pages(),
            // Move (and maybe resize).
            4..=7 => {
                flags.maymove = self.rng.chance(50);
                flags.fixed = Some(self.fresh_range().0);
                if self.rng.chance(50) {
                    old_len
                } else {
                    self.pages()
                }
            }
            // Move, leaving the old range mapped but empty.
            8 => {
                flags.maymove = self.rng.chance(70);
                flags.fixed = Some(self.fresh_range().0);
                flags.dontunmap = true;
                old_len
            }
            // Shrink with maymove (which never moves when shrinking), or
            // the bad arguments: a zero new length, dontunmap alone.
            _ => match self.rng.below(4) {
                0 => 0,
                1 => {
                    flags.dontunmap = true;
                    old_len
                }
                _ => {
                    flags.maymove = true;
                    PAGE_SIZE * (1 + self.rng.below(pages))
                }
            },
        };
        if let Some(new_addr) = flags.fixed {
            self.remember(new_addr, new_len.max(PAGE_SIZE));
        }
        Op::Mremap {
            old_addr,
            old_len,
            new_len,
            flags,
        }
    }

    /// A length of 1-64 pages, usually short.
    fn pages(&mut self) -> u64 {
        let pages = if self.rng.chance(60) {
            1 + self.rng.below(8)
        } else {
            1 + self.rng.below(64)
        };
        pages * PAGE_SIZE
    }

    /// A page-aligned range anywhere in the region, usually the hot part.
    fn fresh_range(&mut self) -> (u64, u64) {
        let span = if self.rng.chance(80) {
            HOT_PAGES
        } else {
            REGION_PAGES
        };
        (PAGE_SIZE * self.rng.below(span), self.pages())
    }

    /// A page-aligned range, usually overlapping a recent mapping (possibly
    /// sticking out of either end of it).
    fn range(&mut self) -> (u64, u64) {
        if self.recent.is_empty() || self.rng.chance(15) {
            return self.fresh_range();
        }
        let (addr, len) = self.rng.pick(&self.recent);
        let pages = len / PAGE_SIZE;
        let (first, count) = if self.rng.chance(75) {
            // Inside the mapping.
            let first = self.rng.below(pages);
            (addr / PAGE_SIZE + first, 1 + self.rng.below(pages - first))
        } else {
            // Sticking out of one end or both.
            let first = (addr / PAGE_SIZE + self.rng.below(pages + 2)).saturating_sub(1);
            (first, 1 + self.rng.below(pages + 2))
        };
        (first * PAGE_SIZE, count * PAGE_SIZE)
    }

    /// [`Generator::range`], occasionally spoiled.
    fn bad_range(&mut self) -> (u64, u64) {
        let (addr, len) = self.range();
        self.spoil(addr, len)
    }

    /// Rarely, replaces a good range by one Linux rejects.
    fn spoil(&mut self, addr: u64, len: u64) -> (u64, u64) {
        if !self.rng.chance(4) {
            return (addr, len);
        }
        match self.rng.below(4) {
            0 => (addr + 1 + self.rng.below(PAGE_SIZE - 1), len),
            1 => (addr, 0),
            2 => (addr, u64::MAX - self.rng.below(PAGE_SIZE)),
            _ => (REJECTED_START + addr, len),
        }
    }

    fn remember(&mut self, addr: u64, len: u64) {
        if self.recent.len() == RECENT {
            self.recent.remove(0);
        }
        self.recent.push((addr, len));
    }

    fn prot(&mut self) -> Prot {
        self.rng.weighted(&[
            (50, Prot::RW),
            (20, Prot::R),
            (8, Prot::NONE),
            (7, Prot::RX),
            (5, Prot::RWX),
            (5, Prot::new(false, true, false)),
            (5, Prot::new(false, false, true)),
        ])
    }

    fn kind(&mut self, addr: u64) -> Kind {
        let roll = self.rng.below(100);
        if roll < 75 {
            return Kind::PrivateAnon;
        }
        if roll < 87 {
            return Kind::SharedAnon;
        }
        let name = self.rng.pick(&["data", "other"]).to_owned();
        let offset = match self.rng.below(20) {
            // Past the end of the 1 GiB file: touching faults with SIGBUS.
            0 => (1 << 30) - PAGE_SIZE * self.rng.below(4),
            1..=4 => PAGE_SIZE * self.rng.below(1024),
            // Offset follows the address: neighbours can merge.
            _ => addr,
        };
        if self.rng.chance(50) {
            Kind::PrivateFile { name, offset }
        } else {
            Kind::SharedFile { name, offset }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // The first outputs for seed 0 of the reference implementation.
        let mut rng = SplitMix64(0);
        assert_eq!(rng.next(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn different_seeds_differ() {
        assert_ne!(generate(1, 40), generate(2, 40));
        assert_eq!(
            generate(3, 0),
            "# mmscript::generate(seed 3, 0 ops)\nmaps\n"
        );
    }
}

#[cfg(test)]
mod new_advice_tests {
    use super::*;

    #[test]
    fn new_advice_is_v1_1_without_collapse() {
        assert_eq!(NEW_ADVICE.first(), Some(&Advice::WillNeed));
        assert_eq!(NEW_ADVICE.last(), Some(&Advice::Unmergeable));
        assert_eq!(NEW_ADVICE.len(), 13);
        assert!(!NEW_ADVICE.contains(&Advice::Collapse));
    }
}
