//! mremap, rule by rule, as Linux 6.18 does it (each case was checked
//! against the live kernel through the corpus scripts `errno-mremap`,
//! `mremap-resize-move`, `mremap-multi-vma`, `mremap-rules` and the
//! `merge-mremap-*` ones), then bad input, then random input.

mod common;

use common::{len, P};
use pervma::{Errno, File, MapFlags, Mm, MmConfig, MremapFlags, Prot, VmFlags};
use proptest::prelude::*;
use std::sync::Arc;

/// A 1 GiB-aligned base, as the differential test uses.
const B: u64 = 0x2000_0000_0000;
const RW: Prot = Prot::READ.union(Prot::WRITE);
const FIXED: MapFlags = MapFlags::PRIVATE.union(MapFlags::FIXED);
const NONE: MremapFlags = MremapFlags::empty();
const MOVE_TO: MremapFlags = MremapFlags::MAYMOVE.union(MremapFlags::FIXED);

/// One VMA: window-relative range, pgoff relative to the window's, and
/// whether it has an anon_vma.
type Line = (u64, u64, u64, bool);

fn map(mm: &Mm<()>, addr: u64, len: u64, prot: Prot) {
    mm.mmap(B + addr, len, prot, FIXED, None, ()).unwrap();
}

fn layout(mm: &Mm<()>) -> Vec<Line> {
    let g = mm.mmap_read_lock();
    g.vmas()
        .map(|v| {
            let pgoff = if v.is_anonymous() {
                v.pgoff() - (B >> 12)
            } else {
                v.pgoff()
            };
            (v.start() - B, v.end() - B, pgoff, v.anon_vma().is_some())
        })
        .collect()
}

fn flags_at(mm: &Mm<()>, addr: u64) -> VmFlags {
    mm.mmap_read_lock().vma_lookup(B + addr).unwrap().flags()
}

fn remap(
    mm: &Mm<()>,
    old: u64,
    old_len: u64,
    new_len: u64,
    f: MremapFlags,
    new: u64,
) -> Result<u64, Errno> {
    let new = if f.contains(MremapFlags::FIXED) || f.contains(MremapFlags::DONTUNMAP) {
        B + new
    } else {
        new
    };
    mm.mremap(B + old, old_len, new_len, f, new).map(|a| a - B)
}

fn touch(mm: &Mm<()>, addr: u64) {
    mm.handle_fault(B + addr, pervma::Access::Write).unwrap();
}

#[test]
fn shrink_unmaps_the_tail_even_across_vmas() {
    let mm = Mm::new();
    map(&mm, 0x100000, 0x4000, RW);
    map(&mm, 0x104000, 0x2000, Prot::READ);
    // The old range's tail is another VMA: it goes too.
    assert_eq!(
        remap(&mm, 0x100000, 0x6000, 0x3000, MremapFlags::MAYMOVE, 0),
        Ok(0x100000)
    );
    assert_eq!(layout(&mm), [(0x100000, 0x103000, 0x100, false)]);
}

#[test]
fn grow_in_place_fills_the_gap_and_merges_with_next() {
    let mm = Mm::new();
    map(&mm, 0x100000, 0x2000, RW);
    map(&mm, 0x104000, 0x2000, RW);
    assert_eq!(remap(&mm, 0x100000, 0x2000, 0x4000, NONE, 0), Ok(0x100000));
    assert_eq!(layout(&mm), [(0x100000, 0x106000, 0x100, false)]);
    // No room left: ENOMEM without maymove, a move with it.
    map(&mm, 0x106000, 0x1000, Prot::READ);
    assert_eq!(
        remap(&mm, 0x100000, 0x6000, 0x8000, NONE, 0),
        Err(Errno::ENOMEM)
    );
    let moved = remap(&mm, 0x100000, 0x6000, 0x8000, MremapFlags::MAYMOVE, 0).unwrap();
    assert_ne!(moved, 0x100000);
    let l = layout(&mm);
    assert!(
        l.contains(&(moved, moved + 0x8000, moved >> 12, false)),
        "{l:x?}"
    );
}

#[test]
fn unfaulted_move_takes_its_new_pgoff_and_merges_with_both_neighbours() {
    let mm = Mm::new();
    map(&mm, 0x200000, 0x2000, RW);
    map(&mm, 0x204000, 0x2000, RW);
    map(&mm, 0x100000, 0x2000, RW);
    assert_eq!(
        remap(&mm, 0x100000, 0x2000, 0x2000, MOVE_TO, 0x202000),
        Ok(0x202000)
    );
    assert_eq!(layout(&mm), [(0x200000, 0x206000, 0x200, false)]);
}

#[test]
fn faulted_move_keeps_its_pgoff_and_anon_vma() {
    let mm = Mm::new();
    map(&mm, 0x100000, 0x2000, RW);
    touch(&mm, 0x100000);
    map(&mm, 0x200000, 0x2000, RW);
    assert_eq!(
        remap(&mm, 0x100000, 0x2000, 0x2000, MOVE_TO, 0x202000),
        Ok(0x202000)
    );
    // pgoff 0x100 does not continue 0x200's: no merge.
    assert_eq!(
        layout(&mm),
        [
            (0x200000, 0x202000, 0x200, false),
            (0x202000, 0x204000, 0x100, true)
        ]
    );
    // File mappings keep their offset.
    let file = File::new("f", 1 << 20);
    mm.mmap(
        B + 0x300000,
        0x3000,
        Prot::READ,
        FIXED,
        Some((file, 0x5000)),
        (),
    )
    .unwrap();
    assert_eq!(
        remap(&mm, 0x301000, 0x1000, 0x1000, MOVE_TO, 0x400000),
        Ok(0x400000)
    );
    assert_eq!(layout(&mm)[4], (0x400000, 0x401000, 6, false));
}

#[test]
fn dontunmap_leaves_the_old_vma_mapped_unlocked_and_without_anon_vma() {
    let mm = Mm::new();
    mm.mmap(B + 0x100000, 0x4000, RW, FIXED | MapFlags::LOCKED, None, ())
        .unwrap();
    let dontunmap = MOVE_TO | MremapFlags::DONTUNMAP;
    // Part of it: the whole old VMA is unlocked, not split, keeps anon_vma.
    assert_eq!(
        remap(&mm, 0x101000, 0x1000, 0x1000, dontunmap, 0x200000),
        Ok(0x200000)
    );
    assert_eq!(
        layout(&mm),
        [
            (0x100000, 0x104000, 0x100, true),
            (0x200000, 0x201000, 0x101, true)
        ]
    );
    assert!(!flags_at(&mm, 0x100000).contains(VmFlags::LOCKED));
    assert!(flags_at(&mm, 0x100000).contains(VmFlags::ACCOUNT));
    assert!(flags_at(&mm, 0x200000).contains(VmFlags::LOCKED));
    // All of it: the old VMA loses its anon_vma.
    assert_eq!(
        remap(&mm, 0x100000, 0x4000, 0x4000, dontunmap, 0x300000),
        Ok(0x300000)
    );
    assert_eq!(layout(&mm)[0], (0x100000, 0x104000, 0x100, false));
    // Lengths must match, and maymove is needed.
    assert_eq!(
        remap(&mm, 0x100000, 0x1000, 0x2000, dontunmap, 0x500000),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        remap(
            &mm,
            0x100000,
            0x1000,
            0x1000,
            MremapFlags::DONTUNMAP,
            0x500000
        ),
        Err(Errno::EINVAL)
    );
}

/// Found by a random script (seed 2351): with dontunmap, an unfaulted
/// VMA's tail moved right after it merges into the VMA left behind, which
/// then reaches past the end of the old range; the multi-VMA loop must
/// stop at that end rather than visit the grown VMA again.
#[test]
fn dontunmap_tail_moved_next_to_itself_merges_and_stops() {
    let mm = Mm::new();
    map(&mm, 0x100000, 0x4000, RW);
    let dontunmap = MOVE_TO | MremapFlags::DONTUNMAP;
    assert_eq!(
        remap(&mm, 0x103000, 0x1000, 0x1000, dontunmap, 0x104000),
        Ok(0x104000)
    );
    assert_eq!(layout(&mm), [(0x100000, 0x105000, 0x100, false)]);
}

#[test]
fn fixed_replaces_what_is_at_the_target() {
    let mm = Mm::new();
    map(&mm, 0x100000, 0x1000, RW);
    map(&mm, 0x200000, 0x3000, Prot::READ);
    assert_eq!(
        remap(&mm, 0x100000, 0x1000, 0x1000, MOVE_TO, 0x201000),
        Ok(0x201000)
    );
    assert_eq!(
        layout(&mm),
        [
            (0x200000, 0x201000, 0x200, false),
            (0x201000, 0x202000, 0x201, false),
            (0x202000, 0x203000, 0x202, false)
        ]
    );
    assert!(flags_at(&mm, 0x201000).contains(VmFlags::WRITE));
}

#[test]
fn multi_vma_move_keeps_holes() {
    let mm = Mm::new();
    map(&mm, 0x100000, 0x2000, RW);
    map(&mm, 0x103000, 0x2000, Prot::READ);
    map(&mm, 0x201000, 0x2000, Prot::EXEC);
    assert_eq!(
        remap(&mm, 0x100000, 0x5000, 0x5000, MOVE_TO, 0x200000),
        Ok(0x200000)
    );
    // The hole's destination keeps what was there.
    assert_eq!(
        layout(&mm),
        [
            (0x200000, 0x202000, 0x200, false),
            (0x202000, 0x203000, 0x202, false),
            (0x203000, 0x205000, 0x203, false)
        ]
    );
    // A hole at the start is EFAULT; one at the end is fine.
    assert_eq!(
        remap(&mm, 0x1ff000, 0x2000, 0x2000, MOVE_TO, 0x400000),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        remap(&mm, 0x203000, 0x4000, 0x4000, MOVE_TO, 0x400000),
        Ok(0x400000)
    );
}

#[test]
fn equal_lengths_only_check_the_old_start() {
    let mm = Mm::new();
    map(&mm, 0x100000, 0x2000, RW);
    let before = layout(&mm);
    assert_eq!(remap(&mm, 0x100000, 0x9000, 0x9000, NONE, 0), Ok(0x100000));
    assert_eq!(
        remap(&mm, 0x101000, 0x100000, 0x100000, MremapFlags::MAYMOVE, 0),
        Ok(0x101000)
    );
    assert_eq!(
        remap(&mm, 0x102000, 0x1000, 0x1000, NONE, 0),
        Err(Errno::EFAULT)
    );
    assert_eq!(layout(&mm), before);
}

#[test]
fn locked_vma_grown_in_place_stays_locked_and_populated() {
    let mm = Mm::new();
    mm.mmap(B + 0x100000, 0x2000, RW, FIXED | MapFlags::LOCKED, None, ())
        .unwrap();
    assert_eq!(remap(&mm, 0x100000, 0x2000, 0x5000, NONE, 0), Ok(0x100000));
    assert_eq!(layout(&mm), [(0x100000, 0x105000, 0x100, true)]);
    assert!(flags_at(&mm, 0x104000).contains(VmFlags::LOCKED));
}

#[test]
fn old_length_zero_duplicates_only_shared_mappings() {
    let mm = Mm::new();
    mm.mmap(
        B + 0x100000,
        0x2000,
        RW,
        MapFlags::SHARED | MapFlags::FIXED,
        None,
        (),
    )
    .unwrap();
    map(&mm, 0x200000, 0x2000, RW);
    assert_eq!(
        remap(&mm, 0x100000, 0, 0x1000, MOVE_TO, 0x300000),
        Ok(0x300000)
    );
    assert_eq!(layout(&mm).len(), 3);
    assert_eq!(
        remap(&mm, 0x200000, 0, 0x1000, MOVE_TO, 0x400000),
        Err(Errno::EINVAL)
    );
}

#[test]
fn bad_arguments() {
    // (old, old_len, new_len, flags, new, errno); the layout must not change.
    let dontunmap = MOVE_TO | MremapFlags::DONTUNMAP;
    let cases: &[(u64, u64, u64, MremapFlags, u64, Errno)] = &[
        (
            0x100000,
            0x1000,
            0x1000,
            MremapFlags::from_bits_retain(8),
            0,
            Errno::EINVAL,
        ),
        (0x100001, 0x1000, 0x1000, NONE, 0, Errno::EINVAL),
        (0x100000, 0x1000, 0, NONE, 0, Errno::EINVAL),
        (0x100000, 0x1000, u64::MAX, NONE, 0, Errno::EINVAL),
        (0x100000, 0x1000, 1 << 47, NONE, 0, Errno::EINVAL),
        (0x100000, u64::MAX, 0x1000, NONE, 0, Errno::EINVAL),
        (
            0x100000,
            0x1000,
            0x1000,
            MremapFlags::FIXED,
            0x300000,
            Errno::EINVAL,
        ),
        (0x100000, 0x1000, 0x1000, MOVE_TO, 0x300001, Errno::EINVAL),
        (
            0x100000,
            0x1000,
            0x1000,
            MOVE_TO,
            0x7fff_0000_0000,
            Errno::EINVAL,
        ),
        (0x100000, 0x2000, 0x2000, MOVE_TO, 0x101000, Errno::EINVAL),
        (0x101000, 0x2000, 0x2000, MOVE_TO, 0x100000, Errno::EINVAL),
        (0x100000, 0x1000, 0x2000, dontunmap, 0x300000, Errno::EINVAL),
        (0x100000, 0, 0x1000, MOVE_TO, 0x300000, Errno::EINVAL),
        (0x200000, 0x1000, 0x2000, NONE, 0, Errno::EFAULT),
        (0x0ff000, 0x2000, 0x2000, NONE, 0, Errno::EFAULT),
        (
            0x100000,
            0x6000,
            0x7000,
            MremapFlags::MAYMOVE,
            0,
            Errno::EFAULT,
        ),
        (0x100000, 0x5000, 0x6000, MOVE_TO, 0x300000, Errno::EFAULT),
        (0x1ff000, 0x2000, 0x2000, MOVE_TO, 0x300000, Errno::EFAULT),
        (0x100000, 0x4000, 0x5000, NONE, 0, Errno::ENOMEM),
    ];
    for &(old, old_len, new_len, f, new, errno) in cases {
        let mm = Mm::new();
        map(&mm, 0x100000, 0x4000, RW);
        map(&mm, 0x104000, 0x2000, Prot::READ);
        map(&mm, 0x300000, 0x1000, RW);
        let before = layout(&mm);
        let got = remap(&mm, old, old_len, new_len, f, new);
        assert_eq!(
            got,
            Err(errno),
            "mremap({old:#x}, {old_len:#x}, {new_len:#x}, {f:?}, {new:#x})"
        );
        assert_eq!(
            layout(&mm),
            before,
            "mremap({old:#x}, {old_len:#x}, {new_len:#x}, {f:?}, {new:#x})"
        );
    }
}

#[test]
fn too_many_vmas_is_enomem() {
    let d = MmConfig::default();
    let mm: Mm<()> = Mm::with_config(MmConfig::new(d.task_size, d.mmap_min_addr, d.mmap_base, 8));
    for i in 0..3 {
        map(&mm, 0x100000 + i * 0x2000, 0x1000, RW);
    }
    // map_count + 2 >= max_map_count - 3: 3 + 2 >= 5.
    assert_eq!(
        remap(&mm, 0x100000, 0x1000, 0x1000, MOVE_TO, 0x300000),
        Err(Errno::ENOMEM)
    );
    mm.munmap(B + 0x104000, 0x1000).unwrap();
    assert_eq!(
        remap(&mm, 0x100000, 0x1000, 0x1000, MOVE_TO, 0x300000),
        Ok(0x300000)
    );
}

#[derive(Clone, Debug)]
enum Call {
    Mmap(u64, u64, u32, bool, bool),
    Touch(u64),
    Mremap(u64, u64, u64, u32, u64),
}

fn addr() -> impl Strategy<Value = u64> {
    common::addr(B)
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        1 => (addr(), len(), 0u32..8, any::<bool>(), any::<bool>())
            .prop_map(|(a, l, p, s, f)| Call::Mmap(a, l, p, s, f)),
        1 => addr().prop_map(Call::Touch),
        3 => (addr(), len(), len(), prop_oneof![0u32..8, any::<u32>()], addr())
            .prop_map(|(a, ol, nl, f, n)| Call::Mremap(a, ol, nl, f, n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No input panics, and the tree stays sorted, non-empty and
    /// non-overlapping, on a space with a low `max_map_count`.
    #[test]
    fn random_mremaps_never_panic(calls in prop::collection::vec(call(), 1..40)) {
        let d = MmConfig::default();
        let mm: Mm<()> = Mm::with_config(MmConfig::new(d.task_size, d.mmap_min_addr, d.mmap_base, 10));
        let file = File::new("data", 64 * P);
        for call in &calls {
            match *call {
                Call::Mmap(a, l, p, shared, with_file) => {
                    let flags = if shared { MapFlags::SHARED } else { MapFlags::PRIVATE } | MapFlags::FIXED;
                    let f = with_file.then(|| (Arc::clone(&file), 0));
                    let _ = mm.mmap(a, l, Prot::from_bits_retain(p), flags, f, ());
                }
                Call::Touch(a) => { let _ = mm.handle_fault(a, pervma::Access::Write); }
                Call::Mremap(a, ol, nl, f, n) => {
                    let _ = mm.mremap(a, ol, nl, MremapFlags::from_bits_retain(f), n);
                }
            }
            let g = mm.mmap_read_lock();
            let mut last_end = 0;
            for v in g.vmas() {
                prop_assert!(v.start() < v.end());
                prop_assert!(v.start() >= last_end);
                prop_assert_eq!(v.start() % P, 0);
                prop_assert_eq!(v.end() % P, 0);
                last_end = v.end();
            }
            prop_assert!(g.vmas().count() <= 11);
        }
    }
}
