//! The overcommit heuristic (`OVERCOMMIT_GUESS`): where Linux charges
//! accountable memory and what a refused charge leaves behind. The live
//! kernel's answers for the same cases are in tests/corpus/overcommit.mms.

use pervma::{Errno, MapFlags, Mm, MmConfig, MremapFlags, Overcommit, Prot, VmFlags};

const GIB: u64 = 1 << 30;
/// 16 GiB of RAM and swap.
const LIMIT: Overcommit = Overcommit::Guess {
    total_pages: 16 * GIB / 4096,
};
const RW: Prot = Prot::READ.union(Prot::WRITE);
const A: u64 = 0x1000_0000_0000;

fn mm() -> Mm<()> {
    Mm::with_config(MmConfig::default().with_overcommit(LIMIT))
}

fn fixed() -> MapFlags {
    MapFlags::PRIVATE | MapFlags::FIXED
}

/// `(start, end, flags)` of every VMA.
fn vmas(mm: &Mm<()>) -> Vec<(u64, u64, VmFlags)> {
    mm.mmap_read_lock()
        .vmas()
        .map(|v| (v.start() - A, v.end() - A, v.flags()))
        .collect()
}

#[test]
fn default_is_always() {
    assert_eq!(MmConfig::default().overcommit, Overcommit::Always);
    let mm: Mm<()> = Mm::new();
    assert!(mm.mmap(A, 64 * GIB, RW, fixed(), None, ()).is_ok());
}

#[test]
fn vm_enough_memory_is_a_single_charge_against_ram_and_swap() {
    assert_eq!(LIMIT.vm_enough_memory(4 << 20), Ok(()));
    assert_eq!(LIMIT.vm_enough_memory((4 << 20) + 1), Err(Errno::ENOMEM));
    assert_eq!(Overcommit::Always.vm_enough_memory(u64::MAX), Ok(()));
}

#[test]
fn mmap_charges_private_writable_and_shared_anonymous_memory() {
    let mm = mm();
    let e = |r: Result<u64, pervma::MmapError<()>>| r.map_err(|e| e.errno);
    assert_eq!(
        e(mm.mmap(A, 17 * GIB, RW, fixed(), None, ())),
        Err(Errno::ENOMEM)
    );
    assert_eq!(e(mm.mmap(A, 16 * GIB, RW, fixed(), None, ())), Ok(A));
    // Not charged: read-only, MAP_NORESERVE.
    let r = Prot::READ;
    assert_eq!(
        e(mm.mmap(A + 32 * GIB, 32 * GIB, r, fixed(), None, ())),
        Ok(A + 32 * GIB)
    );
    let nr = fixed() | MapFlags::NORESERVE;
    assert_eq!(
        e(mm.mmap(A + 64 * GIB, 32 * GIB, RW, nr, None, ())),
        Ok(A + 64 * GIB)
    );
    // MAP_FIXED over 16 GiB of accounted memory: charged 16 GiB.
    assert_eq!(e(mm.mmap(A, 32 * GIB, RW, fixed(), None, ())), Ok(A));
    // Shared anonymous memory is charged whatever its protection, and a
    // refusal leaves the range unmapped.
    let shared = MapFlags::SHARED | MapFlags::FIXED;
    assert_eq!(
        e(mm.mmap(A, 32 * GIB, r, shared, None, ())),
        Err(Errno::ENOMEM)
    );
    assert_eq!(vmas(&mm)[0].0, 32 * GIB);
    // A refused private charge leaves what was there.
    assert_eq!(
        e(mm.mmap(A + 32 * GIB, 32 * GIB, RW, fixed(), None, ())),
        Err(Errno::ENOMEM)
    );
    assert_eq!(vmas(&mm)[0], (32 * GIB, 64 * GIB, vmas(&mm)[0].2));
    assert!(!vmas(&mm)[0].2.contains(VmFlags::WRITE));
}

#[test]
fn mprotect_charges_each_vma_piece() {
    let mm = mm();
    let r = Prot::READ;
    mm.mmap(A, 4 * GIB, r, fixed() | MapFlags::NORESERVE, None, ())
        .unwrap();
    mm.mmap(A + 4 * GIB, 32 * GIB, r, fixed(), None, ())
        .unwrap();
    // The first piece is not charged and changes; the second is refused.
    assert_eq!(mm.mprotect(A, 36 * GIB, RW), Err(Errno::ENOMEM));
    let v = vmas(&mm);
    assert!(v[0].2.contains(VmFlags::WRITE) && !v[0].2.contains(VmFlags::ACCOUNT));
    assert_eq!((v[1].0, v[1].1), (4 * GIB, 36 * GIB));
    assert!(!v[1].2.contains(VmFlags::WRITE));
    // Two pieces of 16 GiB fit one by one.
    assert_eq!(mm.mprotect(A + 4 * GIB, 16 * GIB, RW), Ok(()));
    assert_eq!(mm.mprotect(A + 4 * GIB, 32 * GIB, RW), Ok(()));
    assert!(vmas(&mm)[1].2.contains(VmFlags::ACCOUNT | VmFlags::WRITE));
}

#[test]
fn mremap_charges_growth_moves_and_dontunmap() {
    let mm = mm();
    mm.mmap(A, 8 * GIB, RW, fixed(), None, ()).unwrap();
    let fixed_move = MremapFlags::MAYMOVE | MremapFlags::FIXED;
    // In place: 8 GiB more fits, 24 GiB more does not.
    assert_eq!(
        mm.mremap(A, 8 * GIB, 32 * GIB, MremapFlags::empty(), 0),
        Err(Errno::ENOMEM)
    );
    assert_eq!(
        mm.mremap(A, 8 * GIB, 16 * GIB, MremapFlags::empty(), 0),
        Ok(A)
    );
    // Moving with the same length is charged nothing, DONTUNMAP the
    // whole new length.
    let to = A + 64 * GIB;
    assert_eq!(mm.mremap(A, 16 * GIB, 16 * GIB, fixed_move, to), Ok(to));
    let dontunmap = fixed_move | MremapFlags::DONTUNMAP;
    assert_eq!(mm.mremap(to, 16 * GIB, 16 * GIB, dontunmap, A), Ok(A));
    // A fixed move that shrinks is charged the amount it shrinks by.
    mm.munmap(A, 128 * GIB).unwrap();
    mm.mmap(A, 16 * GIB, RW, fixed(), None, ()).unwrap();
    mm.mmap(A + 16 * GIB, 16 * GIB, RW, fixed(), None, ())
        .unwrap();
    assert_eq!(vmas(&mm).len(), 1);
    assert_eq!(
        mm.mremap(A, 32 * GIB, 4096, fixed_move, to),
        Err(Errno::ENOMEM)
    );
    // The tail was cut before the charge was refused.
    assert_eq!(vmas(&mm)[0].1, 4096);
}

/// A refused `MAP_FIXED` charge over part of a VMA leaves the VMA split
/// where the new mapping would have begun (Linux charges after
/// `vms_gather_munmap_vmas` split it, and `vms_abort_munmap_vmas` keeps
/// the splits), with every page. It used to be checked after the replaced
/// range was unmapped, and the change then dropped: the VMA had been shrunk
/// in place and its pages zapped while the tree still mapped the old range
/// to it (the debug check in `VmaChange`'s drop now catches that).
#[test]
fn refused_fixed_charge_over_part_of_a_vma_splits_it_and_keeps_its_pages() {
    const P: u64 = 4096;
    let mm = mm();
    mm.mmap(A, 3 * P, RW, fixed(), None, ()).unwrap();
    mm.access_write(A + P, b"kept").unwrap();
    let flags = vmas(&mm)[0].2;
    assert_eq!(
        mm.mmap(A + P, 32 * GIB, RW, fixed(), None, ())
            .map_err(|e| e.errno),
        Err(Errno::ENOMEM)
    );
    assert_eq!(vmas(&mm), [(0, P, flags), (P, 3 * P, flags)]);
    let mut back = [0u8; 4];
    mm.access_read(A + P, &mut back).unwrap();
    assert_eq!(&back, b"kept");
}
