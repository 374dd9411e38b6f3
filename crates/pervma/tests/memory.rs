//! Memory behind the VMAs: what user accesses read back after faults,
//! copy-on-write, `MADV_DONTNEED`, `munmap` and `mprotect`, and what the
//! `smaps` figures say.

use pervma::{
    Access, Advice, FaultError, File, MapFlags, Mm, NoFaultKind, Prot, UserCopyError, VmaMemory,
};

const P: u64 = 4096;
const RW: Prot = Prot::READ.union(Prot::WRITE);
const PRIVATE: MapFlags = MapFlags::PRIVATE.union(MapFlags::FIXED);
const SHARED: MapFlags = MapFlags::SHARED.union(MapFlags::FIXED);
const A: u64 = 0x1000_0000;

fn read(mm: &Mm<()>, addr: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0xAA; len];
    mm.access_read(addr, &mut buf).unwrap();
    buf
}

fn memory(mm: &Mm<()>, addr: u64) -> VmaMemory {
    let g = mm.mmap_read_lock();
    mm.vma_resident(g.vma_lookup(addr).unwrap())
}

#[test]
fn anonymous_memory_reads_zero_then_what_was_written() {
    let mm = Mm::new();
    mm.mmap(A, 4 * P, RW, PRIVATE, None, ()).unwrap();
    assert_eq!(read(&mm, A + 10, 5), [0; 5]);
    // A read maps the zero page: nothing resident.
    assert_eq!(memory(&mm, A).rss, 0);
    // A write across a page boundary.
    mm.access_write(A + P - 3, b"abcdef").unwrap();
    assert_eq!(read(&mm, A + P - 3, 6), b"abcdef");
    assert_eq!(
        memory(&mm, A),
        VmaMemory {
            rss: 2 * P,
            anonymous: 2 * P,
            locked: 0
        }
    );
    assert!(mm.lock_vma(A).unwrap().anon_vma().is_some());
}

#[test]
fn copies_cross_vma_boundaries_and_stop_at_holes() {
    let mm = Mm::new();
    mm.mmap(A, 2 * P, RW, PRIVATE, None, ()).unwrap();
    mm.mmap(A + 2 * P, P, Prot::READ, PRIVATE, None, ())
        .unwrap();
    assert_eq!(mm.map_count(), 2);
    // Readable across both VMAs.
    assert_eq!(read(&mm, A + P, 2 * P as usize), vec![0; 2 * P as usize]);
    // A write stops at the read-only VMA, having written what came first.
    let err = mm.access_write(A + 2 * P - 2, b"wxyz").unwrap_err();
    assert_eq!(
        err,
        UserCopyError {
            copied: 2,
            addr: A + 2 * P,
            fault: FaultError::AccErr
        }
    );
    assert_eq!(read(&mm, A + 2 * P - 2, 2), b"wx");
    // A read stops at the hole after the VMAs.
    let mut buf = [0u8; 8];
    let err = mm.access_read(A + 3 * P - 4, &mut buf).unwrap_err();
    assert_eq!(
        (err.copied, err.addr, err.fault),
        (4, A + 3 * P, FaultError::MapErr)
    );
    assert_eq!(err.errno(), pervma::Errno::EFAULT);
    // Past the address space: nothing copied.
    let err = mm.access_read(u64::MAX - 2, &mut buf).unwrap_err();
    assert_eq!(err.copied, 0);
}

#[test]
fn private_file_mapping_copies_on_write() {
    let mm = Mm::new();
    let file = File::new("data", 4 * P);
    file.write_at(P, b"file contents").unwrap();
    mm.mmap(A, 2 * P, RW, PRIVATE, Some((file.clone(), P)), ())
        .unwrap();
    assert_eq!(read(&mm, A, 4), b"file");
    let m = memory(&mm, A);
    assert_eq!((m.rss, m.anonymous), (P, 0));
    // The file changes under a mapping that has not written: it sees it.
    file.write_at(P, b"FILE").unwrap();
    assert_eq!(read(&mm, A, 4), b"FILE");
    // A write copies the page; the file does not change.
    mm.access_write(A + 5, b"CONTENTS").unwrap();
    assert_eq!(read(&mm, A, 13), b"FILE CONTENTS");
    let mut f = [0u8; 13];
    file.read_at(P, &mut f).unwrap();
    assert_eq!(&f, b"FILE contents");
    let m = memory(&mm, A);
    assert_eq!((m.rss, m.anonymous), (P, P));
    // MADV_DONTNEED drops the copy: the file shows through again.
    mm.madvise(A, P, Advice::DontNeed).unwrap();
    assert_eq!(read(&mm, A, 13), b"FILE contents");
}

#[test]
fn shared_mappings_see_each_others_stores() {
    let mm = Mm::new();
    let file = File::new("shared", 4 * P);
    mm.mmap(A, 2 * P, RW, SHARED, Some((file.clone(), 0)), ())
        .unwrap();
    mm.mmap(
        A + 0x10_0000,
        2 * P,
        RW,
        SHARED,
        Some((file.clone(), P)),
        (),
    )
    .unwrap();
    mm.access_write(A + P + 7, b"hello").unwrap();
    assert_eq!(read(&mm, A + 0x10_0000 + 7, 5), b"hello");
    let mut f = [0u8; 5];
    file.read_at(P + 7, &mut f).unwrap();
    assert_eq!(&f, b"hello");
    let m = memory(&mm, A);
    assert_eq!((m.rss, m.anonymous), (P, 0));
    // Dropping a shared mapping's pages keeps the file's contents.
    mm.madvise(A, 2 * P, Advice::DontNeed).unwrap();
    assert_eq!(memory(&mm, A).rss, 0);
    assert_eq!(read(&mm, A + P + 7, 5), b"hello");
}

#[test]
fn shared_anonymous_memory_is_shared_between_its_pages_only() {
    let mm = Mm::new();
    mm.mmap(A, 2 * P, RW, MapFlags::SHARED | MapFlags::FIXED, None, ())
        .unwrap();
    mm.access_write(A, b"shm").unwrap();
    assert_eq!(read(&mm, A, 3), b"shm");
    let m = memory(&mm, A);
    assert_eq!((m.rss, m.anonymous), (P, 0));
}

#[test]
fn dontneed_zeroes_anonymous_memory_and_munmap_frees_it() {
    let mm = Mm::new();
    mm.mmap(A, 4 * P, RW, PRIVATE, None, ()).unwrap();
    mm.access_write(A, &[7; 4 * P as usize]).unwrap();
    assert_eq!(memory(&mm, A).rss, 4 * P);
    mm.madvise(A + P, P, Advice::DontNeed).unwrap();
    assert_eq!(memory(&mm, A).rss, 3 * P);
    assert_eq!(read(&mm, A + P - 1, 3), [7, 0, 0]);
    // munmap and map again: fresh zeroes, not the old pages.
    mm.munmap(A, 4 * P).unwrap();
    mm.mmap(A, 4 * P, RW, PRIVATE, None, ()).unwrap();
    assert_eq!(read(&mm, A, 4), [0; 4]);
    assert_eq!(memory(&mm, A).rss, 0);
    // MAP_FIXED over written memory replaces it too.
    mm.access_write(A, b"old").unwrap();
    mm.mmap(A, P, RW, PRIVATE, None, ()).unwrap();
    assert_eq!(read(&mm, A, 3), [0; 3]);
}

#[test]
fn mprotect_changes_what_accesses_may_do() {
    let mm = Mm::new();
    mm.mmap(A, 2 * P, RW, PRIVATE, None, ()).unwrap();
    mm.access_write(A, b"kept").unwrap();
    mm.mprotect(A, P, Prot::READ).unwrap();
    assert_eq!(
        mm.access_write(A, b"x").unwrap_err().fault,
        FaultError::AccErr
    );
    assert_eq!(read(&mm, A, 4), b"kept");
    mm.mprotect(A, P, Prot::NONE).unwrap();
    assert_eq!(
        mm.access_read(A, &mut [0; 1]).unwrap_err().fault,
        FaultError::AccErr
    );
    mm.mprotect(A, 2 * P, RW).unwrap();
    assert_eq!(mm.map_count(), 1);
    assert_eq!(read(&mm, A, 4), b"kept");
}

#[test]
fn populate_and_lock_make_memory_resident() {
    let mm = Mm::new();
    mm.mmap(A, 4 * P, RW, PRIVATE | MapFlags::POPULATE, None, ())
        .unwrap();
    let m = memory(&mm, A);
    assert_eq!((m.rss, m.anonymous, m.locked), (4 * P, 4 * P, 0));
    assert_eq!(read(&mm, A, 4), [0; 4]);
    mm.mlock(A, 2 * P).unwrap();
    let m = memory(&mm, A);
    assert_eq!((m.rss, m.locked), (2 * P, 2 * P));
    // A read-only private mapping populates the zero page: not resident.
    mm.mmap(
        A + 0x10_0000,
        4 * P,
        Prot::READ,
        PRIVATE | MapFlags::POPULATE,
        None,
        (),
    )
    .unwrap();
    assert_eq!(memory(&mm, A + 0x10_0000).rss, 0);
}

#[test]
fn a_write_in_a_hugepage_block_maps_two_megabytes() {
    const HUGE: u64 = 2 << 20;
    let mm = Mm::new();
    mm.mmap(0x4000_0000, 2 * HUGE, RW, PRIVATE, None, ())
        .unwrap();
    mm.madvise(0x4000_0000, 2 * HUGE, Advice::HugePage).unwrap();
    // A read maps the huge zero page: nothing resident.
    assert_eq!(read(&mm, 0x4000_0000 + HUGE, 1), [0]);
    assert_eq!(memory(&mm, 0x4000_0000).rss, 0);
    mm.access_write(0x4000_0000 + 5 * P, b"x").unwrap();
    assert_eq!(memory(&mm, 0x4000_0000).rss, HUGE);
}

#[test]
fn past_the_end_of_a_file_is_sigbus() {
    let mm = Mm::new();
    let file = File::new("short", P + 1);
    mm.mmap(
        A,
        4 * P,
        Prot::READ,
        MapFlags::SHARED | MapFlags::FIXED,
        Some((file, 0)),
        (),
    )
    .unwrap();
    // The last, partial page reads as the file then zeroes.
    assert_eq!(read(&mm, A + 2 * P - 1, 1), [0]);
    let err = mm.access_read(A + 2 * P - 1, &mut [0; 2]).unwrap_err();
    assert_eq!(
        (err.copied, err.addr, err.fault),
        (1, A + 2 * P, FaultError::Bus)
    );
}

#[test]
fn nofault_copies_report_the_page_to_fault_in() {
    let mm = Mm::new();
    mm.mmap(A, 2 * P, RW, PRIVATE, None, ()).unwrap();
    mm.access_write(A, b"ready").unwrap();
    let vma = mm.lock_vma(A).unwrap();
    let mut buf = [0u8; 5];
    vma.read_nofault(A, &mut buf).unwrap();
    assert_eq!(&buf, b"ready");
    // The second page was never touched.
    let stop = vma.write_nofault(A + P - 1, b"ab").unwrap_err();
    assert_eq!(
        (stop.copied, stop.addr, stop.access, stop.kind),
        (1, A + P, Access::Write, NoFaultKind::NotMapped)
    );
    // The untouched page stops a read too, before the end of the VMA.
    let stop = vma.read_nofault(A + 2 * P - 1, &mut [0; 2]).unwrap_err();
    assert_eq!((stop.copied, stop.kind), (0, NoFaultKind::NotMapped));
    drop(vma);
    mm.access_write(A + P, b"!").unwrap();
    let vma = mm.lock_vma(A).unwrap();
    let stop = vma.read_nofault(A + 2 * P - 1, &mut [0; 2]).unwrap_err();
    assert_eq!((stop.copied, stop.kind), (1, NoFaultKind::OutsideVma));
    // A write to the zero page needs a fault (copy-on-write).
    drop(vma);
    mm.mmap(A + 0x10_0000, P, RW, PRIVATE, None, ()).unwrap();
    mm.handle_fault(A + 0x10_0000, Access::Read).unwrap();
    let vma = mm.lock_vma(A + 0x10_0000).unwrap();
    vma.read_nofault(A + 0x10_0000, &mut buf).unwrap();
    assert_eq!(
        vma.write_nofault(A + 0x10_0000, b"z").unwrap_err().kind,
        NoFaultKind::NotMapped
    );
}

#[test]
fn access_vma_faults_in_and_retries() {
    let mm = Mm::new();
    mm.mmap(A, P, RW, PRIVATE, None, ()).unwrap();
    let mut calls = 0;
    // Binder-style: install bytes while holding the VMA lock.
    let start = mm
        .access_vma(A + 8, |vma| {
            calls += 1;
            vma.write_nofault(A + 8, b"token")?;
            Ok(vma.start())
        })
        .unwrap();
    assert_eq!((start, calls), (A, 2));
    assert_eq!(read(&mm, A + 8, 5), b"token");
    let before = mm.stats();
    // A fault that needs no anon_vma and no mmap_lock succeeds at once.
    mm.access_vma(A, |vma| vma.read_nofault(A, &mut [0; 1]))
        .unwrap();
    assert_eq!(mm.stats().retry, before.retry);
    // No VMA: MapErr without calling f.
    let err = mm.access_vma(A + P, |_| Ok(())).unwrap_err();
    assert_eq!(err.fault, FaultError::MapErr);
}

#[test]
fn mremap_moves_pages_with_the_mapping() {
    use pervma::MremapFlags;
    let mm = Mm::new();
    let mv = MremapFlags::MAYMOVE | MremapFlags::FIXED;
    mm.mmap(A, 4 * P, RW, PRIVATE, None, ()).unwrap();
    mm.access_write(A + P, b"moving").unwrap();
    // Move and grow: the pages go along; the old range is gone.
    let b = A + 0x10_0000;
    assert_eq!(mm.mremap(A, 4 * P, 8 * P, mv, b).unwrap(), b);
    assert_eq!(read(&mm, b + P, 6), b"moving");
    assert_eq!(read(&mm, b + 6 * P, 2), [0, 0]);
    assert_eq!(
        mm.access_read(A + P, &mut [0]).unwrap_err().fault,
        FaultError::MapErr
    );
    assert_eq!(memory(&mm, b).rss, P);
    // Shrink in place: the tail's pages go.
    mm.access_write(b + 7 * P, b"tail").unwrap();
    mm.mremap(b, 8 * P, 2 * P, MremapFlags::empty(), 0).unwrap();
    assert_eq!(memory(&mm, b).rss, P);
    // Grow in place again: fresh zeroes where the tail was.
    mm.mremap(b, 2 * P, 8 * P, MremapFlags::empty(), 0).unwrap();
    assert_eq!(read(&mm, b + 7 * P, 4), [0; 4]);
    // Move back over what is there, replacing it.
    mm.mmap(A, 2 * P, RW, PRIVATE, None, ()).unwrap();
    mm.access_write(A, b"replaced").unwrap();
    mm.mremap(b, 8 * P, 8 * P, mv, A).unwrap();
    assert_eq!(read(&mm, A + P, 6), b"moving");
    assert_eq!(read(&mm, A, 8), [0; 8]);
    // DONTUNMAP: the pages move, the old range stays mapped and empty.
    let c = A + 0x20_0000;
    let du = MremapFlags::MAYMOVE | MremapFlags::FIXED | MremapFlags::DONTUNMAP;
    mm.mremap(A, 8 * P, 8 * P, du, c).unwrap();
    assert_eq!(read(&mm, c + P, 6), b"moving");
    assert_eq!(read(&mm, A + P, 6), [0; 6]);
    assert_eq!(memory(&mm, A).rss, 0);
}

/// A page table in a 2 MiB block, even an empty one, makes faults there
/// PTE-level ones (`pmd_none` fails): no THP and no huge zero page, so a
/// read gives the VMA no `anon_vma`. (Random seed 2605; corpus script
/// smaps/thp-page-table.)
#[test]
fn a_page_table_in_the_block_means_no_huge_page() {
    use pervma::MremapFlags;
    const HUGE: u64 = 2 << 20;
    const B: u64 = 0x4000_0000;
    let mv = MremapFlags::MAYMOVE | MremapFlags::FIXED;
    let mm = Mm::new();
    mm.mmap(B, 2 * HUGE, RW, PRIVATE, None, ()).unwrap();
    // A read before MADV_HUGEPAGE gives block 0 a page table (the seed
    // had mlock do it); the move copies it into block 1.
    assert_eq!(read(&mm, B + 0x106000, 1), [0]);
    mm.madvise(B, 2 * HUGE, Advice::HugePage).unwrap();
    mm.mremap(B + 0x106000, 5 * P, 4 * P, mv, B + 0x359000)
        .unwrap();
    // The small zero page: no anon_vma, so the page moves as unfaulted
    // and merges with both pieces around its new place.
    assert_eq!(read(&mm, B + 0x35bb14, 1), [0]);
    mm.mremap(B + 0x359000, P, 7 * P, mv, B + 0x3c1000).unwrap();
    {
        let g = mm.mmap_read_lock();
        let v = g.vma_lookup(B + 0x3c1000).unwrap();
        assert_eq!((v.start(), v.end()), (B + 0x35a000, B + 2 * HUGE));
    }
    // A store there gets a 4 KiB page, not a THP.
    mm.access_write(B + 0x3c1000, b"x").unwrap();
    assert_eq!(memory(&mm, B + 0x3c1000).rss, P);
    // MADV_DONTNEED of a whole block frees its table: a THP again.
    let c = B + 0x1000_0000;
    mm.mmap(c, HUGE, RW, PRIVATE, None, ()).unwrap();
    assert_eq!(read(&mm, c, 1), [0]);
    mm.madvise(c, HUGE, Advice::HugePage).unwrap();
    mm.access_write(c + P, b"x").unwrap();
    assert_eq!(memory(&mm, c).rss, P);
    mm.madvise(c, HUGE, Advice::DontNeed).unwrap();
    mm.access_write(c + P, b"x").unwrap();
    assert_eq!(memory(&mm, c).rss, HUGE);
}

/// `mprotect` populates the locked part it makes writable, not a
/// writable locked neighbour that it merges with. (Random seed 751;
/// corpus script smaps/mprotect-locked-populate.)
#[test]
fn mprotect_populates_only_the_part_made_writable() {
    let mm = Mm::new();
    mm.mmap(A, 8 * P, RW, PRIVATE, None, ()).unwrap();
    // Locked but not populated: VM_LOCKONFAULT-free mlock that fails at
    // a hole is what the seed did; a locked mmap without populate is the
    // same state, reached through mprotect to read-only and back.
    mm.mprotect(A + 4 * P, 4 * P, Prot::READ).unwrap();
    mm.mmap(A + 8 * P, P, RW, PRIVATE, None, ()).unwrap();
    mm.munmap(A + 8 * P, P).unwrap();
    let _ = mm.mlock(A, 9 * P);
    mm.mprotect(A + 2 * P, 3 * P, RW).unwrap();
    assert_eq!(memory(&mm, A).rss, P);
}

#[test]
fn madv_free_over_part_of_a_huge_page_splits_it_and_drops_its_zero_pages() {
    const HUGE: u64 = 2 << 20;
    let mm = Mm::new();
    let base = 0x4000_0000;
    mm.mmap(base, HUGE, RW, PRIVATE, None, ()).unwrap();
    mm.madvise(base, HUGE, Advice::HugePage).unwrap();
    mm.access_write(base + 7 * P, b"data").unwrap();
    assert_eq!(memory(&mm, base).rss, HUGE);
    // Part of it: the split keeps the page with data and maps the zero
    // page for the other 511.
    mm.madvise(base + 16 * P, 4 * P, Advice::Free).unwrap();
    assert_eq!(memory(&mm, base).rss, P);
    assert_eq!(read(&mm, base + 7 * P, 4), b"data");
    assert_eq!(read(&mm, base + 8 * P, 4), [0; 4]);
    // A store to a subpage that went to the zero page faults in a page.
    mm.access_write(base + 9 * P, b"x").unwrap();
    assert_eq!(memory(&mm, base).rss, 2 * P);
}

/// The split of a THP by `MADV_FREE` reaches the subpages `mremap` moved
/// away (the folio's rmap), keeps those in `VM_LOCKED` VMAs, and "whole"
/// means the whole folio, not the whole block. (Random seed 1034; corpus
/// scripts smaps/thp-madv-free-moved and smaps/thp-madv-free-locked.)
#[test]
fn madv_free_splits_a_huge_page_moved_in_part_wherever_it_is_mapped() {
    use pervma::MremapFlags;
    const HUGE: u64 = 2 << 20;
    let mv = MremapFlags::MAYMOVE | MremapFlags::FIXED;
    let mm = Mm::new();
    let base = 0x4000_0000;
    mm.mmap(base, HUGE, RW, PRIVATE, None, ()).unwrap();
    mm.madvise(base, HUGE, Advice::HugePage).unwrap();
    mm.access_write(base + 0x180 * P, b"data").unwrap();
    // Two parts moved away, one of them then locked.
    let (moved, locked) = (base + 0x1000_0000, base + 0x2000_0000);
    mm.mremap(base + 0x174 * P, 0x3c * P, 0x3c * P, mv, moved)
        .unwrap();
    mm.mremap(base + 0x100 * P, 0x10 * P, 0x10 * P, mv, locked)
        .unwrap();
    mm.mlock(locked, 0x10 * P).unwrap();
    assert_eq!(memory(&mm, moved).rss, 0x3c * P);
    // MADV_FREE of the whole first part splits the folio: the entries
    // there no longer map all of it.
    mm.madvise(base, 0x100 * P, Advice::Free).unwrap();
    assert_eq!(memory(&mm, base).rss, 0);
    assert_eq!(memory(&mm, moved).rss, P);
    assert_eq!(read(&mm, moved + 0xc * P, 4), b"data");
    assert_eq!(memory(&mm, locked).rss, 0x10 * P);
    assert_eq!(memory(&mm, base + 0x110 * P).rss, 0);
    assert_eq!(memory(&mm, base + 0x1b0 * P).rss, 0);
}
