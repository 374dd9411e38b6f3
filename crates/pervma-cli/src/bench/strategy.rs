//! The strategies: one trait, and the ways of answering "which VMA covers
//! this address, and what is its payload" that the workloads compare.
//!
//! | name | lookup | writers |
//! |---|---|---|
//! | `pervma` | `Mm::lock_vma` (the never-failing helper) | `Mm::mmap`/`munmap`/`mprotect` |
//! | `pervma-fallback` | `lock_vma_under_rcu`, else the caller's own `mmap_read_lock` + `vma_lookup` | same |
//! | `mmap-lock` | always `mmap_read_lock` + `vma_lookup` (Linux before per-VMA locks) | same |
//! | `rwlock-btreemap` | `std::sync::RwLock<BTreeMap>`, `range(..=addr).next_back()` | the write lock |
//! | `parking-lot-btreemap` | the same behind `parking_lot::RwLock` | the write lock |
//! | `skiplist` | crossbeam-skiplist `SkipMap` keyed by VMA end, `lower_bound` | lock-free insert/remove, not atomic as a whole |
//! | `btreemap-unlocked` | a plain `BTreeMap`, no lock: the 1-thread reference | none |
//!
//! The workloads are generic over [`Strategy`] and reach a concrete one
//! through [`Built::visit`], so each strategy's loop is compiled for it
//! (no dynamic call per operation).
//!
//! `SkipMap::lower_bound` takes a reference count on the entry it returns
//! (an atomic increment and decrement on the entry's node), the same
//! shape of cost as the VMA's `vm_refcnt`.

use crossbeam_skiplist::SkipMap;
use pervma::{MapFlags, Mm, Prot};
use std::collections::BTreeMap;
use std::ops::Bound;

/// The page size of every layout.
pub(crate) const P: u64 = 4096;
/// Where the first VMA of a layout starts.
pub(crate) const BASE: u64 = 0x1000_0000;
/// Where writers of range maps (which have no gap search) put a mapping
/// they were not given an address for: far above any layout.
pub(crate) const SCRATCH: u64 = 0x40_0000_0000;

/// `n` one-page VMAs, VMA `i` at `BASE + 2 * i * P` with payload `i`; the
/// page after each is a hole, so no two merge.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub(crate) n: u64,
}

impl Layout {
    pub(crate) fn start(&self, i: u64) -> u64 {
        BASE + 2 * i * P
    }

    /// The first address above the layout (plus a guard gap).
    pub(crate) fn end(&self) -> u64 {
        self.start(self.n) + 64 * P
    }

    /// `count` random addresses inside the layout's VMAs (anywhere within
    /// the page), for thread `seed`.
    pub(crate) fn random_addrs(&self, seed: u64, count: usize) -> Vec<u64> {
        let mut rng = super::measure::XorShift::new(seed + 1);
        (0..count)
            .map(|_| {
                let x = rng.next_u64();
                self.start(x % self.n) + (x >> 40) % P
            })
            .collect()
    }
}

/// One way of keeping VMAs.
pub(crate) trait Strategy: Sync {
    /// The payload of the VMA covering `addr`, read under whatever lock
    /// the strategy takes, or `None` if nothing covers it.
    fn lookup(&self, addr: u64) -> Option<u64>;
    /// Maps `len` bytes at `addr` (`None`: anywhere; range maps without a
    /// gap search use [`SCRATCH`]) and returns the address.
    fn map(&self, addr: Option<u64>, len: u64) -> u64;
    /// Unmaps `[addr, addr + len)`, which must be one whole mapping.
    fn unmap(&self, addr: u64, len: u64);
    /// Makes `[addr, addr + len)` writable or not, splitting the VMA that
    /// covers it and merging with neighbours of the same protection.
    fn protect(&self, addr: u64, len: u64, writable: bool);
}

/// Makes the middle page of the 3-page VMA at `split` read-only (a split
/// in three) and writable again (a merge back into one).
#[inline]
pub(crate) fn split_and_merge<S: Strategy>(s: &S, split: u64) {
    s.protect(split + P, P, false);
    s.protect(split + P, P, true);
}

/// The strategies, in the order of the tables (the first is the
/// reference of every ratio).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Pervma,
    PervmaFallback,
    MmapLock,
    RwLockBTreeMap,
    ParkingLotBTreeMap,
    SkipList,
    BTreeMapUnlocked,
}

impl Kind {
    /// Every strategy that takes writers concurrently with readers.
    pub(crate) const SHARED: [Kind; 6] = [
        Kind::Pervma,
        Kind::PervmaFallback,
        Kind::MmapLock,
        Kind::RwLockBTreeMap,
        Kind::ParkingLotBTreeMap,
        Kind::SkipList,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Pervma => "pervma",
            Kind::PervmaFallback => "pervma-fallback",
            Kind::MmapLock => "mmap-lock",
            Kind::RwLockBTreeMap => "rwlock-btreemap",
            Kind::ParkingLotBTreeMap => "parking-lot-btreemap",
            Kind::SkipList => "skiplist",
            Kind::BTreeMapUnlocked => "btreemap-unlocked",
        }
    }
}

/// Something to run on a concrete strategy (a generic closure).
pub(crate) trait WithStrategy {
    type Out;
    fn run<S: Strategy>(self, s: &S) -> Self::Out;
}

/// A strategy of any kind, built: kept across the rounds of an
/// interleaved measurement and visited with a generic closure.
// Not boxed: a few are built per figure and never moved in a timed loop
// (an `Mm` is 768 bytes, a skip list 512: cache-line-aligned groups).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Built {
    Mm(MmStrategy),
    Std(Locked<std::sync::RwLock<Tree>>),
    ParkingLot(Locked<parking_lot::RwLock<Tree>>),
    Skip(Skip),
    Unlocked(Unlocked),
}

impl Built {
    /// Strategy `kind` holding `layout`.
    pub(crate) fn new(kind: Kind, layout: Layout) -> Built {
        match kind {
            Kind::Pervma => Built::Mm(MmStrategy::new(layout, MmLookup::Helper)),
            Kind::PervmaFallback => Built::Mm(MmStrategy::new(layout, MmLookup::Fallback)),
            Kind::MmapLock => Built::Mm(MmStrategy::new(layout, MmLookup::MmapLock)),
            Kind::RwLockBTreeMap => Built::Std(Locked(std::sync::RwLock::new(btree(layout)))),
            Kind::ParkingLotBTreeMap => {
                Built::ParkingLot(Locked(parking_lot::RwLock::new(btree(layout))))
            }
            Kind::SkipList => Built::Skip(skiplist(layout)),
            Kind::BTreeMapUnlocked => Built::Unlocked(Unlocked(btree(layout))),
        }
    }

    /// Runs `w` on the concrete strategy.
    pub(crate) fn visit<W: WithStrategy>(&self, w: W) -> W::Out {
        match self {
            Built::Mm(s) => w.run(s),
            Built::Std(s) => w.run(s),
            Built::ParkingLot(s) => w.run(s),
            Built::Skip(s) => w.run(s),
            Built::Unlocked(s) => w.run(s),
        }
    }
}

// ---- pervma ---------------------------------------------------------------

/// How an [`MmStrategy`] looks a VMA up.
#[derive(Clone, Copy, Debug)]
pub(crate) enum MmLookup {
    Helper,
    Fallback,
    MmapLock,
}

/// A pervma address space holding a layout.
pub(crate) struct MmStrategy {
    pub(crate) mm: Mm<u64>,
    how: MmLookup,
}

/// Read-only, private: a layout VMA.
fn prot(writable: bool) -> Prot {
    if writable {
        Prot::READ | Prot::WRITE
    } else {
        Prot::READ
    }
}

impl MmStrategy {
    pub(crate) fn new(layout: Layout, how: MmLookup) -> MmStrategy {
        Self::on(Mm::new(), layout, how)
    }

    /// The layout in `mm`, which may have a backend.
    pub(crate) fn on(mm: Mm<u64>, layout: Layout, how: MmLookup) -> MmStrategy {
        for i in 0..layout.n {
            mm.mmap(
                layout.start(i),
                P,
                Prot::READ,
                MapFlags::PRIVATE | MapFlags::FIXED,
                None,
                i,
            )
            .expect("mapping the layout");
        }
        // Building retired thousands of tree nodes; free them now, or the
        // first readers' RCU read sections would (crossbeam-epoch collects
        // garbage when a thread pins).
        pervma::rcu_barrier();
        MmStrategy { mm, how }
    }
}

impl Strategy for MmStrategy {
    #[inline]
    fn lookup(&self, addr: u64) -> Option<u64> {
        match self.how {
            MmLookup::Helper => self.mm.lock_vma(addr).map(|v| *v.payload()),
            MmLookup::Fallback => match self.mm.lock_vma_under_rcu(addr) {
                Some(v) => Some(*v.payload()),
                None => {
                    let g = self.mm.mmap_read_lock();
                    g.vma_lookup(addr).map(|v| *v.payload())
                }
            },
            MmLookup::MmapLock => {
                let g = self.mm.mmap_read_lock();
                g.vma_lookup(addr).map(|v| *v.payload())
            }
        }
    }

    fn map(&self, addr: Option<u64>, len: u64) -> u64 {
        let (addr, flags) = match addr {
            Some(a) => (a, MapFlags::PRIVATE | MapFlags::FIXED),
            None => (0, MapFlags::PRIVATE),
        };
        self.mm
            .mmap(addr, len, prot(true), flags, None, u64::MAX)
            .expect("mmap")
    }

    fn unmap(&self, addr: u64, len: u64) {
        self.mm.munmap(addr, len).expect("munmap");
    }

    fn protect(&self, addr: u64, len: u64, writable: bool) {
        self.mm
            .mprotect(addr, len, prot(writable))
            .expect("mprotect");
    }
}

// ---- range maps -------------------------------------------------------------

/// A range map's entry: `[start, end)`, payload, writable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    start: u64,
    end: u64,
    payload: u64,
    writable: bool,
}

/// The edits a range map needs; [`protect`] and the [`Strategy`] writers
/// are written once on top of them.
trait RangeMap {
    fn covering(&self, addr: u64) -> Option<Range>;
    fn insert(&mut self, r: Range);
    fn remove(&mut self, r: Range);
}

/// `mprotect` on a range map: split the covering entry, merge the result
/// with neighbours of the same protection.
fn protect(m: &mut impl RangeMap, addr: u64, len: u64, writable: bool) {
    let end = addr + len;
    let Some(old) = m.covering(addr) else { return };
    assert!(old.end >= end, "protect across entries is not modelled");
    if old.writable == writable {
        return;
    }
    m.remove(old);
    let mut new = Range {
        start: addr,
        end,
        payload: old.payload,
        writable,
    };
    for piece in [(old.start, addr), (end, old.end)] {
        if piece.0 < piece.1 {
            m.insert(Range {
                start: piece.0,
                end: piece.1,
                ..old
            });
        }
    }
    if let Some(left) = addr.checked_sub(1).and_then(|a| m.covering(a)) {
        if left.writable == writable && left.end == addr {
            m.remove(left);
            new.start = left.start;
        }
    }
    if let Some(right) = m.covering(end) {
        if right.writable == writable && right.start == end {
            m.remove(right);
            new.end = right.end;
        }
    }
    m.insert(new);
}

pub(crate) type Tree = BTreeMap<u64, Range>;

fn btree(layout: Layout) -> Tree {
    (0..layout.n)
        .map(|i| {
            let start = layout.start(i);
            let r = Range {
                start,
                end: start + P,
                payload: i,
                writable: false,
            };
            (start, r)
        })
        .collect()
}

impl RangeMap for Tree {
    #[inline]
    fn covering(&self, addr: u64) -> Option<Range> {
        let (_, r) = self.range(..=addr).next_back()?;
        (addr < r.end).then_some(*r)
    }
    fn insert(&mut self, r: Range) {
        BTreeMap::insert(self, r.start, r);
    }
    fn remove(&mut self, r: Range) {
        BTreeMap::remove(self, &r.start);
    }
}

/// A read-write lock around a range map.
pub(crate) trait RwLockLike<M>: Sync {
    fn read_with<R>(&self, f: impl FnOnce(&M) -> R) -> R;
    fn write_with<R>(&self, f: impl FnOnce(&mut M) -> R) -> R;
}

impl<M: Send + Sync> RwLockLike<M> for std::sync::RwLock<M> {
    #[inline]
    fn read_with<R>(&self, f: impl FnOnce(&M) -> R) -> R {
        f(&self.read().unwrap())
    }
    fn write_with<R>(&self, f: impl FnOnce(&mut M) -> R) -> R {
        f(&mut self.write().unwrap())
    }
}

impl<M: Send + Sync> RwLockLike<M> for parking_lot::RwLock<M> {
    #[inline]
    fn read_with<R>(&self, f: impl FnOnce(&M) -> R) -> R {
        f(&self.read())
    }
    fn write_with<R>(&self, f: impl FnOnce(&mut M) -> R) -> R {
        f(&mut self.write())
    }
}

/// A range map behind a read-write lock.
pub(crate) struct Locked<L>(L);

/// Writers shared by every range map: `map` inserts, `unmap` removes,
/// `protect` splits and merges.
fn map_range(m: &mut impl RangeMap, addr: Option<u64>, len: u64) -> u64 {
    let start = addr.unwrap_or(SCRATCH);
    m.insert(Range {
        start,
        end: start + len,
        payload: u64::MAX,
        writable: true,
    });
    start
}

fn unmap_range(m: &mut impl RangeMap, addr: u64) {
    if let Some(r) = m.covering(addr) {
        m.remove(r);
    }
}

impl<L: RwLockLike<Tree>> Strategy for Locked<L> {
    #[inline]
    fn lookup(&self, addr: u64) -> Option<u64> {
        self.0.read_with(|m| m.covering(addr).map(|r| r.payload))
    }
    fn map(&self, addr: Option<u64>, len: u64) -> u64 {
        self.0.write_with(|m| map_range(m, addr, len))
    }
    fn unmap(&self, addr: u64, _len: u64) {
        self.0.write_with(|m| unmap_range(m, addr))
    }
    fn protect(&self, addr: u64, len: u64, writable: bool) {
        self.0.write_with(|m| protect(m, addr, len, writable))
    }
}

/// A plain `BTreeMap`: lookups only.
pub(crate) struct Unlocked(Tree);

impl Strategy for Unlocked {
    #[inline]
    fn lookup(&self, addr: u64) -> Option<u64> {
        self.0.covering(addr).map(|r| r.payload)
    }
    fn map(&self, _: Option<u64>, _: u64) -> u64 {
        unreachable!("btreemap-unlocked takes no writers")
    }
    fn unmap(&self, _: u64, _: u64) {
        unreachable!("btreemap-unlocked takes no writers")
    }
    fn protect(&self, _: u64, _: u64, _: bool) {
        unreachable!("btreemap-unlocked takes no writers")
    }
}

/// A `SkipMap` keyed by each range's end: the first entry whose end is
/// above `addr` is the candidate, as in the maple tree.
pub(crate) struct Skip(SkipMap<u64, Range>);

fn skiplist(layout: Layout) -> Skip {
    let m = SkipMap::new();
    for r in btree(layout).into_values() {
        m.insert(r.end, r);
    }
    Skip(m)
}

impl RangeMap for &Skip {
    #[inline]
    fn covering(&self, addr: u64) -> Option<Range> {
        let e = self.0.lower_bound(Bound::Excluded(&addr))?;
        let r = *e.value();
        (r.start <= addr).then_some(r)
    }
    fn insert(&mut self, r: Range) {
        self.0.insert(r.end, r);
    }
    fn remove(&mut self, r: Range) {
        self.0.remove(&r.end);
    }
}

impl Strategy for Skip {
    #[inline]
    fn lookup(&self, addr: u64) -> Option<u64> {
        (&self).covering(addr).map(|r| r.payload)
    }
    fn map(&self, addr: Option<u64>, len: u64) -> u64 {
        map_range(&mut &*self, addr, len)
    }
    fn unmap(&self, addr: u64, _len: u64) {
        unmap_range(&mut &*self, addr)
    }
    fn protect(&self, addr: u64, len: u64, writable: bool) {
        protect(&mut &*self, addr, len, writable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Check;
    impl WithStrategy for Check {
        type Out = ();
        fn run<S: Strategy>(self, s: &S) {
            let l = Layout { n: 10 };
            assert_eq!(s.lookup(l.start(3) + 5), Some(3));
            assert_eq!(s.lookup(l.start(3) + P), None);
            let a = s.map(Some(l.end()), 3 * P);
            assert_eq!(s.lookup(a + P), Some(u64::MAX));
            s.protect(a + P, P, false);
            s.protect(a + P, P, true);
            assert_eq!(s.lookup(a + 2 * P), Some(u64::MAX));
            s.unmap(a, 3 * P);
            assert_eq!(s.lookup(a + P), None);
        }
    }

    #[test]
    fn every_shared_strategy_agrees() {
        for kind in Kind::SHARED {
            Built::new(kind, Layout { n: 10 }).visit(Check);
        }
    }
}
