//! Merge, split, accounting and anon_vma rules of mmap, mprotect, madvise
//! and mlock. Each expectation was checked on Linux 6.18 with
//! `pervma-kernel-runner` (the scripts are quoted in the comments).

use pervma::{Advice, Errno, File, MapFlags, Mm, MmConfig, Prot, VmFlags};
use std::sync::Arc;

const P: u64 = 4096;
const BASE: u64 = 0x2000_0000_0000;
const R: Prot = Prot::READ;
const RW: Prot = Prot::READ.union(Prot::WRITE);
const RWX: Prot = Prot::all();
const FIXED: MapFlags = MapFlags::PRIVATE.union(MapFlags::FIXED);

/// `(start, end, flags, anon_vma id)` of every VMA, window-relative.
fn vmas(mm: &Mm<u32>) -> Vec<(u64, u64, VmFlags, Option<u64>)> {
    let g = mm.mmap_read_lock();
    g.vmas()
        .map(|v| {
            (
                v.start() - BASE,
                v.end() - BASE,
                v.flags(),
                v.anon_vma().map(|a| a.id()),
            )
        })
        .collect()
}

fn ranges(mm: &Mm<u32>) -> Vec<(u64, u64)> {
    vmas(mm).into_iter().map(|v| (v.0, v.1)).collect()
}

fn anon(mm: &Mm<u32>, addr: u64) -> Option<u64> {
    let v = mm.lock_vma(BASE + addr).unwrap();
    v.anon_vma().map(|a| a.id())
}

fn map(mm: &Mm<u32>, addr: u64, len: u64, prot: Prot, flags: MapFlags, payload: u32) {
    mm.mmap(BASE + addr, len, prot, flags, None, payload)
        .unwrap();
}

const ACC: VmFlags = VmFlags::MAYREAD
    .union(VmFlags::MAYWRITE)
    .union(VmFlags::MAYEXEC);

#[test]
fn mmap_merges_with_compatible_neighbours_only() {
    // merge-mmap-neighbours.mms: same prot and flags merge; prot, nr and
    // ac keep VMAs apart.
    let mm = Mm::new();
    map(&mm, 0x100000, P, RW, FIXED, 0);
    map(&mm, 0x101000, P, RW, FIXED, 0);
    map(&mm, 0x102000, P, R, FIXED, 0);
    map(&mm, 0x103000, P, R, FIXED | MapFlags::NORESERVE, 0);
    assert_eq!(
        ranges(&mm),
        [
            (0x100000, 0x102000),
            (0x102000, 0x103000),
            (0x103000, 0x104000)
        ]
    );
    // Filling a hole between two compatible VMAs merges all three.
    map(&mm, 0x200000, P, RW, FIXED, 0);
    map(&mm, 0x202000, P, RW, FIXED, 0);
    map(&mm, 0x201000, P, RW, FIXED, 0);
    assert!(ranges(&mm).contains(&(0x200000, 0x203000)));
}

#[test]
fn payloads_must_be_equal_to_merge() {
    let mm = Mm::new();
    map(&mm, 0x100000, P, RW, FIXED, 1);
    map(&mm, 0x101000, P, RW, FIXED, 2);
    map(&mm, 0x102000, P, RW, FIXED, 2);
    assert_eq!(ranges(&mm), [(0x100000, 0x101000), (0x101000, 0x103000)]);
    // mprotect back and forth merges only the equal payloads.
    mm.mprotect(BASE + 0x100000, 3 * P, R).unwrap();
    assert_eq!(ranges(&mm), [(0x100000, 0x101000), (0x101000, 0x103000)]);
}

#[test]
fn file_mappings_merge_at_contiguous_offsets() {
    // merge-mmap-neighbours.mms: data@0x8000 + data@0x9000 merge,
    // data@0x0 after them does not; another file does not.
    let mm = Mm::new();
    let data = File::new("data", 1 << 30);
    let other = File::new("other", 1 << 30);
    for (addr, file, off) in [
        (0x108000, &data, 0x8000),
        (0x109000, &data, 0x9000),
        (0x10a000, &data, 0x0),
        (0x10b000, &other, 0x1000),
    ] {
        mm.mmap(BASE + addr, P, RW, FIXED, Some((Arc::clone(file), off)), 0)
            .unwrap();
    }
    assert_eq!(
        ranges(&mm),
        [
            (0x108000, 0x10a000),
            (0x10a000, 0x10b000),
            (0x10b000, 0x10c000)
        ]
    );
}

#[test]
fn shared_anonymous_mappings_never_merge() {
    let mm = Mm::new();
    let shared = MapFlags::SHARED | MapFlags::FIXED;
    map(&mm, 0x106000, P, RW, shared, 0);
    map(&mm, 0x107000, P, RW, shared, 0);
    assert_eq!(ranges(&mm), [(0x106000, 0x107000), (0x107000, 0x108000)]);
}

#[test]
fn new_range_between_two_anon_vmas_merges_left_only() {
    // mmap 0x100000 and 0x102000 rw- populate (two anon_vmas), then
    // 0x101000: Linux gives 0x100000-0x102000 and 0x102000-0x103000.
    let mm = Mm::new();
    let populate = FIXED | MapFlags::POPULATE;
    map(&mm, 0x100000, P, RW, populate, 0);
    map(&mm, 0x102000, P, RW, populate, 0);
    let (a, b) = (anon(&mm, 0x100000), anon(&mm, 0x102000));
    assert!(a.is_some() && b.is_some() && a != b);
    map(&mm, 0x101000, P, RW, FIXED, 0);
    assert_eq!(ranges(&mm), [(0x100000, 0x102000), (0x102000, 0x103000)]);
    assert_eq!(anon(&mm, 0x101000), a);
}

#[test]
fn merge_takes_the_neighbours_anon_vma() {
    // An unfaulted piece made read-only merges with a faulted read-only
    // neighbour (merge-mprotect-faulted.mms) and joins its anon_vma.
    let mm = Mm::new();
    map(&mm, 0x100000, 2 * P, RW, FIXED | MapFlags::POPULATE, 0);
    map(&mm, 0x102000, 2 * P, RW, FIXED, 0);
    // Populate merged nothing: the second was mapped after, unfaulted,
    // and merged with the first at mmap time.
    assert_eq!(ranges(&mm), [(0x100000, 0x104000)]);
    let a = anon(&mm, 0x100000);
    assert!(a.is_some());
    assert_eq!(anon(&mm, 0x103000), a);

    let mm = Mm::new();
    map(&mm, 0x100000, 2 * P, RW, FIXED, 0);
    mm.mprotect(BASE + 0x101000, P, R).unwrap();
    mm.mlock(BASE + 0x100000, P).unwrap();
    mm.munlock(BASE + 0x100000, P).unwrap();
    let a = anon(&mm, 0x100000);
    assert!(a.is_some());
    assert_eq!(anon(&mm, 0x101000), None);
    mm.mprotect(BASE + 0x101000, P, RW).unwrap();
    assert_eq!(ranges(&mm), [(0x100000, 0x102000)]);
    assert_eq!(anon(&mm, 0x101000), a);
}

#[test]
fn mprotect_accounting_follows_linux() {
    // mprotect-split-merge.mms: an unfaulted private anonymous range made
    // read-only loses `ac`, made writable again gets it back and merges.
    let mm = Mm::new();
    map(&mm, 0x100000, 6 * P, RW, FIXED, 0);
    mm.mprotect(BASE + 0x100000, 2 * P, R).unwrap();
    mm.mprotect(BASE + 0x104000, 2 * P, R).unwrap();
    let v = vmas(&mm);
    assert_eq!(v.len(), 3);
    assert_eq!(v[0].2, VmFlags::READ | ACC);
    assert_eq!(
        v[1].2,
        VmFlags::READ | VmFlags::WRITE | ACC | VmFlags::ACCOUNT
    );
    mm.mprotect(BASE + 0x102000, 2 * P, R).unwrap();
    assert_eq!(ranges(&mm), [(0x100000, 0x106000)]);
    mm.mprotect(BASE + 0x100000, 6 * P, RW).unwrap();
    assert_eq!(
        vmas(&mm)[0].2,
        VmFlags::READ | VmFlags::WRITE | ACC | VmFlags::ACCOUNT
    );

    // A faulted one (with an anon_vma) keeps `ac` when made read-only.
    let mm = Mm::new();
    map(&mm, 0x100000, P, RW, FIXED | MapFlags::POPULATE, 0);
    mm.mprotect(BASE + 0x100000, P, R).unwrap();
    assert_eq!(vmas(&mm)[0].2, VmFlags::READ | ACC | VmFlags::ACCOUNT);

    // A private file made writable is accounted and keeps it.
    let mm = Mm::new();
    let data = File::new("data", 1 << 30);
    mm.mmap(BASE + 0x300000, 2 * P, R, FIXED, Some((data, 0)), 0)
        .unwrap();
    mm.mprotect(BASE + 0x300000, P, RW).unwrap();
    mm.mprotect(BASE + 0x300000, P, R).unwrap();
    let v = vmas(&mm);
    assert_eq!(v[0].2, VmFlags::READ | ACC | VmFlags::ACCOUNT);
    assert_eq!(v[1].2, VmFlags::READ | ACC);

    // NORESERVE mappings are never accounted.
    let mm = Mm::new();
    map(&mm, 0x100000, P, R, FIXED | MapFlags::NORESERVE, 0);
    mm.mprotect(BASE + 0x100000, P, RW).unwrap();
    assert!(!vmas(&mm)[0].2.contains(VmFlags::ACCOUNT));
}

#[test]
fn mprotect_beyond_may_bits_is_eacces() {
    let mm = Mm::new();
    let ro = File::new_read_only("ro", 1 << 20);
    mm.mmap(
        BASE + 0x100000,
        P,
        R,
        MapFlags::SHARED | MapFlags::FIXED,
        Some((ro, 0)),
        0,
    )
    .unwrap();
    assert_eq!(mm.mprotect(BASE + 0x100000, P, RW), Err(Errno::EACCES));
    assert_eq!(mm.mprotect(BASE + 0x100000, P, Prot::EXEC), Ok(()));
}

#[test]
fn mprotect_over_a_hole_changes_what_comes_before() {
    let mm = Mm::new();
    map(&mm, 0x500000, P, RW, FIXED, 0);
    map(&mm, 0x502000, P, RW, FIXED, 0);
    assert_eq!(mm.mprotect(BASE + 0x500000, 3 * P, R), Err(Errno::ENOMEM));
    let v = vmas(&mm);
    assert_eq!(v[0].2, VmFlags::READ | ACC);
    assert!(v[1].2.contains(VmFlags::WRITE));
}

#[test]
fn splits_stop_at_max_map_count() {
    let config = |max| {
        let d = MmConfig::default();
        MmConfig::new(d.task_size, d.mmap_min_addr, d.mmap_base, max)
    };
    // At the limit: the first split fails, nothing changes.
    let mm = Mm::with_config(config(1));
    map(&mm, 0x100000, 3 * P, RW, FIXED, 0);
    assert_eq!(mm.mprotect(BASE + 0x101000, P, R), Err(Errno::ENOMEM));
    assert_eq!(
        mm.madvise(BASE + 0x101000, P, Advice::Random),
        Err(Errno::ENOMEM)
    );
    assert_eq!(mm.mlock(BASE + 0x101000, P), Err(Errno::ENOMEM));
    assert_eq!(ranges(&mm), [(0x100000, 0x103000)]);
    // One below: the head split happens, the tail split fails (Linux's
    // vma_modify leaves the head split in place).
    let mm = Mm::with_config(config(2));
    map(&mm, 0x100000, 3 * P, RW, FIXED, 0);
    assert_eq!(mm.mprotect(BASE + 0x101000, P, R), Err(Errno::ENOMEM));
    assert_eq!(ranges(&mm), [(0x100000, 0x101000), (0x101000, 0x103000)]);
    assert!(vmas(&mm).iter().all(|v| v.2.contains(VmFlags::WRITE)));
    // Splitting at one end only needs one slot; merging needs none.
    let mm = Mm::with_config(config(2));
    map(&mm, 0x100000, 3 * P, RW, FIXED, 0);
    mm.mprotect(BASE + 0x100000, P, R).unwrap();
    mm.mprotect(BASE + 0x101000, P, R).unwrap();
    assert_eq!(ranges(&mm), [(0x100000, 0x102000), (0x102000, 0x103000)]);
}

#[test]
fn madvise_flags_split_and_merge_back() {
    let mm = Mm::new();
    map(&mm, 0x100000, 4 * P, RW, FIXED, 0);
    mm.madvise(BASE + 0x101000, P, Advice::WipeOnFork).unwrap();
    mm.madvise(BASE + 0x102000, P, Advice::HugePage).unwrap();
    assert_eq!(ranges(&mm).len(), 4);
    assert!(vmas(&mm)[1].2.contains(VmFlags::WIPEONFORK));
    mm.madvise(BASE + 0x100000, 4 * P, Advice::KeepOnFork)
        .unwrap();
    mm.madvise(BASE + 0x102000, P, Advice::NoHugePage).unwrap();
    assert_eq!(ranges(&mm).len(), 3);
    // Sequential and random exclude each other; normal clears both.
    mm.madvise(BASE + 0x100000, P, Advice::Sequential).unwrap();
    mm.madvise(BASE + 0x100000, P, Advice::Random).unwrap();
    let f = vmas(&mm)[0].2;
    assert!(f.contains(VmFlags::RAND_READ) && !f.contains(VmFlags::SEQ_READ));
    // DONTNEED and FREE change nothing.
    let before = vmas(&mm);
    mm.madvise(BASE + 0x100000, 4 * P, Advice::DontNeed)
        .unwrap();
    mm.madvise(BASE + 0x100000, 4 * P, Advice::Free).unwrap();
    assert_eq!(vmas(&mm), before);
}

#[test]
fn mlock_populates_and_creates_anon_vmas_where_linux_does() {
    let mm = Mm::new();
    let data = File::new("data", 1 << 30);
    map(&mm, 0x100000, P, RW, FIXED, 0);
    map(&mm, 0x200000, P, R, FIXED, 0);
    map(&mm, 0x300000, P, RW, MapFlags::SHARED | MapFlags::FIXED, 0);
    mm.mmap(BASE + 0x400000, P, RW, FIXED, Some((data, 0)), 0)
        .unwrap();
    map(&mm, 0x500000, P, Prot::NONE, FIXED, 0);
    mm.mlock(BASE + 0x100000, P).unwrap();
    mm.mlock(BASE + 0x200000, P).unwrap();
    mm.mlock(BASE + 0x300000, P).unwrap();
    mm.mlock(BASE + 0x400000, P).unwrap();
    // PROT_NONE: locked, but populating fails (mlock.mms).
    assert_eq!(mm.mlock(BASE + 0x500000, P), Err(Errno::ENOMEM));
    assert!(vmas(&mm).iter().all(|v| v.2.contains(VmFlags::LOCKED)));
    assert!(anon(&mm, 0x100000).is_some());
    assert_eq!(anon(&mm, 0x200000), None);
    assert_eq!(anon(&mm, 0x300000), None);
    assert!(anon(&mm, 0x400000).is_some());
    assert_eq!(anon(&mm, 0x500000), None);
    // A locked read-only private range made writable is populated.
    mm.mprotect(BASE + 0x200000, P, RW).unwrap();
    assert!(anon(&mm, 0x200000).is_some());
    // mlock(addr, u64::MAX) wraps to nothing and succeeds.
    assert_eq!(mm.mlock(BASE + 0x100000, u64::MAX), Ok(()));
}

#[test]
fn populate_reads_the_huge_zero_page_in_hugepage_regions() {
    // A read-only MADV_HUGEPAGE VMA covering an aligned 2 MiB block gets
    // an anon_vma when populated; one that covers no whole block, or
    // without the advice, does not. On Linux: mmap r--, madvise
    // hugepage, mlock + munlock, then mprotect rw- and back to r--
    // keeps `ac` only on the first (it has an anon_vma).
    let mm = Mm::new();
    for (addr, len, huge) in [
        (0x800000, 0x400000, true),
        (0xc01000, 0x200000, true),
        (0x1000000, 0x200000, false),
    ] {
        map(&mm, addr, len, R, FIXED, 0);
        if huge {
            mm.madvise(BASE + addr, len, Advice::HugePage).unwrap();
        }
        mm.mlock(BASE + addr, len).unwrap();
        mm.munlock(BASE + addr, len).unwrap();
    }
    assert!(anon(&mm, 0x800000).is_some());
    assert_eq!(anon(&mm, 0xc01000), None);
    assert_eq!(anon(&mm, 0x1000000), None);
}

#[test]
fn anon_vma_is_reused_from_a_compatible_neighbour() {
    // find_mergeable_anon_vma: next first, then prev; flags may differ in
    // access bits only.
    let mm = Mm::new();
    let populate = FIXED | MapFlags::POPULATE;
    map(&mm, 0x300000, P, RW, populate, 0);
    map(&mm, 0x301000, P, RWX, populate, 0);
    assert_eq!(anon(&mm, 0x300000), anon(&mm, 0x301000));
    mm.mprotect(BASE + 0x301000, P, RW).unwrap();
    assert_eq!(ranges(&mm), [(0x300000, 0x302000)]);
    // A neighbour that differs in more than access (here `nr`) is not
    // reused.
    map(&mm, 0x400000, P, RW, populate | MapFlags::NORESERVE, 0);
    map(&mm, 0x401000, P, RWX, populate, 0);
    assert_ne!(anon(&mm, 0x400000), anon(&mm, 0x401000));
}
