//! mmap and munmap through the public API: placement, splits, errno, and
//! the flags Linux gives.

use pervma::{Errno, File, MapFlags, Mm, Prot, VmFlags};

const P: u64 = 4096;
const RW: Prot = Prot::READ.union(Prot::WRITE);
const FIXED: MapFlags = MapFlags::PRIVATE.union(MapFlags::FIXED);

fn ranges(mm: &Mm<u32>) -> Vec<(u64, u64, u32)> {
    let g = mm.mmap_read_lock();
    g.vmas()
        .map(|v| (v.start(), v.end(), *v.payload()))
        .collect()
}

#[test]
fn fixed_mapping_and_lookup() {
    let mm = Mm::new();
    assert_eq!(
        mm.mmap(0x10_0000, 4 * P, RW, FIXED, None, 7).unwrap(),
        0x10_0000
    );
    let v = mm.lock_vma(0x10_0000 + 3 * P).unwrap();
    assert_eq!(
        (v.start(), v.end(), *v.payload()),
        (0x10_0000, 0x10_0000 + 4 * P, 7)
    );
    assert_eq!(v.pgoff(), 0x10_0000 / P);
    assert_eq!(
        v.flags(),
        VmFlags::READ
            | VmFlags::WRITE
            | VmFlags::MAYREAD
            | VmFlags::MAYWRITE
            | VmFlags::MAYEXEC
            | VmFlags::ACCOUNT
    );
    drop(v);
    assert!(mm.lock_vma(0x10_0000 + 4 * P).is_none());
    assert!(mm.lock_vma(0x10_0000 - 1).is_none());
    assert_eq!(mm.map_count(), 1);
}

#[test]
fn munmap_splits_head_tail_and_middle() {
    let mm = Mm::new();
    let a = mm.mmap(0x20_0000, 10 * P, RW, FIXED, None, 1).unwrap();
    mm.munmap(a + 4 * P, 2 * P).unwrap(); // middle
    assert_eq!(
        ranges(&mm),
        vec![(a, a + 4 * P, 1), (a + 6 * P, a + 10 * P, 1)]
    );
    {
        let g = mm.mmap_read_lock();
        assert_eq!(g.vma_lookup(a + 6 * P).unwrap().pgoff(), (a + 6 * P) / P);
    }
    mm.munmap(a, P).unwrap(); // head
    mm.munmap(a + 9 * P, P).unwrap(); // tail
    assert_eq!(
        ranges(&mm),
        vec![(a + P, a + 4 * P, 1), (a + 6 * P, a + 9 * P, 1)]
    );
    // Across a hole and two VMAs, partially.
    mm.munmap(a + 3 * P, 4 * P).unwrap();
    assert_eq!(
        ranges(&mm),
        vec![(a + P, a + 3 * P, 1), (a + 7 * P, a + 9 * P, 1)]
    );
    // Nothing there: fine.
    mm.munmap(0x4000_0000, P).unwrap();
    mm.munmap(a, 10 * P).unwrap();
    assert!(ranges(&mm).is_empty());
    assert_eq!(mm.map_count(), 0);
}

#[test]
fn fixed_replaces_and_noreplace_refuses() {
    let mm = Mm::new();
    let a = mm.mmap(0x30_0000, 6 * P, RW, FIXED, None, 1).unwrap();
    mm.mmap(a + 2 * P, 2 * P, Prot::READ, FIXED, None, 2)
        .unwrap();
    assert_eq!(
        ranges(&mm),
        vec![
            (a, a + 2 * P, 1),
            (a + 2 * P, a + 4 * P, 2),
            (a + 4 * P, a + 6 * P, 1)
        ]
    );
    let e = mm
        .mmap(
            a + 5 * P,
            2 * P,
            RW,
            MapFlags::PRIVATE | MapFlags::FIXED_NOREPLACE,
            None,
            3,
        )
        .unwrap_err();
    assert_eq!((e.errno, e.payload), (Errno::EEXIST, 3));
    assert_eq!(
        mm.mmap(
            a + 6 * P,
            P,
            RW,
            MapFlags::PRIVATE | MapFlags::FIXED_NOREPLACE,
            None,
            3
        )
        .unwrap(),
        a + 6 * P
    );
}

#[test]
fn hinted_placement_uses_the_hint_or_the_highest_gap() {
    let mm = Mm::new();
    let base = mm.config().mmap_base;
    // A free hint is honoured.
    assert_eq!(
        mm.mmap(0x5000_0000, P, RW, MapFlags::PRIVATE, None, 0)
            .unwrap(),
        0x5000_0000
    );
    // No hint: top-down below mmap_base.
    let a = mm.mmap(0, 2 * P, RW, MapFlags::PRIVATE, None, 0).unwrap();
    assert_eq!(a, base - 2 * P);
    let b = mm.mmap(0, P, RW, MapFlags::PRIVATE, None, 0).unwrap();
    assert_eq!(b, a - P);
    // A taken hint falls back to the search.
    let c = mm
        .mmap(0x5000_0000, P, RW, MapFlags::PRIVATE, None, 0)
        .unwrap();
    assert_eq!(c, b - P);
    // A hole left by munmap is reused top-down.
    mm.munmap(a, 2 * P).unwrap();
    assert_eq!(
        mm.mmap(0, P, RW, MapFlags::PRIVATE, None, 0).unwrap(),
        base - P
    );
    // Anonymous mappings of whole huge pages are 2 MiB aligned.
    let h = mm.mmap(0, 4 << 20, RW, MapFlags::PRIVATE, None, 0).unwrap();
    assert_eq!(h % (2 << 20), 0);
    assert!(h + (4 << 20) <= base);
}

/// One call of the bad-input table.
type Call = Box<dyn Fn(&Mm<u32>) -> Result<u64, Errno>>;

#[test]
fn bad_input_gets_linux_errno_and_changes_nothing() {
    let mm = Mm::new();
    mm.mmap(0x40_0000, 2 * P, RW, FIXED, None, 1).unwrap();
    let before = ranges(&mm);
    let task = mm.config().task_size;
    let cases: Vec<(Errno, Call)> = vec![
        (
            Errno::EINVAL,
            Box::new(|mm| Ok(mm.mmap(0x40_0001, P, RW, FIXED, None, 0)?)),
        ),
        (
            Errno::EINVAL,
            Box::new(|mm| Ok(mm.mmap(0x50_0000, 0, RW, FIXED, None, 0)?)),
        ),
        (
            Errno::ENOMEM,
            Box::new(|mm| Ok(mm.mmap(0x50_0000, u64::MAX, RW, FIXED, None, 0)?)),
        ),
        (
            Errno::ENOMEM,
            Box::new(move |mm| Ok(mm.mmap(task, P, RW, FIXED, None, 0)?)),
        ),
        (
            Errno::ENOMEM,
            Box::new(move |mm| Ok(mm.mmap(task - P, 2 * P, RW, FIXED, None, 0)?)),
        ),
        (
            Errno::ENOMEM,
            Box::new(|mm| Ok(mm.mmap(1 << 60, P, RW, FIXED, None, 0)?)),
        ),
        (
            Errno::EPERM,
            Box::new(|mm| Ok(mm.mmap(0x1000, P, RW, FIXED, None, 0)?)),
        ),
        (
            Errno::EINVAL,
            Box::new(|mm| Ok(mm.mmap(0x50_0000, P, RW, MapFlags::FIXED, None, 0)?)),
        ),
        (
            Errno::EINVAL,
            Box::new(|mm| {
                Ok(mm.mmap(
                    0x50_0000,
                    P,
                    RW,
                    FIXED,
                    Some((File::new("f", 1 << 20), 1)),
                    0,
                )?)
            }),
        ),
        (
            Errno::EOVERFLOW,
            Box::new(|mm| {
                Ok(mm.mmap(
                    0x50_0000,
                    P,
                    RW,
                    FIXED,
                    Some((File::new("f", 1 << 20), !4095)),
                    0,
                )?)
            }),
        ),
        (
            Errno::EACCES,
            Box::new(|mm| {
                let f = File::new_read_only("ro", 1 << 20);
                Ok(mm.mmap(
                    0x50_0000,
                    P,
                    RW,
                    MapFlags::SHARED | MapFlags::FIXED,
                    Some((f, 0)),
                    0,
                )?)
            }),
        ),
        (
            Errno::EINVAL,
            Box::new(|mm| mm.munmap(0x40_0001, P).map(|_| 0)),
        ),
        (
            Errno::EINVAL,
            Box::new(|mm| mm.munmap(0x40_0000, 0).map(|_| 0)),
        ),
        (
            Errno::EINVAL,
            Box::new(move |mm| mm.munmap(task - P, 2 * P).map(|_| 0)),
        ),
        (
            Errno::EINVAL,
            Box::new(|mm| mm.munmap(0x40_0000, u64::MAX).map(|_| 0)),
        ),
    ];
    for (i, (want, call)) in cases.iter().enumerate() {
        assert_eq!(call(&mm), Err(*want), "case {i}");
        assert_eq!(ranges(&mm), before, "case {i} changed the address space");
    }
}

#[test]
fn shared_and_file_mappings() {
    let mm = Mm::new();
    let f = File::new("data", 1 << 30);
    let a = mm
        .mmap(
            0x60_0000,
            4 * P,
            Prot::READ,
            FIXED,
            Some((f.clone(), 8 * P)),
            0,
        )
        .unwrap();
    let s = mm
        .mmap(
            0x70_0000,
            4 * P,
            RW,
            MapFlags::SHARED | MapFlags::FIXED,
            None,
            0,
        )
        .unwrap();
    mm.munmap(s, 2 * P).unwrap();
    mm.munmap(a, P).unwrap();
    let g = mm.mmap_read_lock();
    let v = g.vma_lookup(a + P).unwrap();
    assert_eq!(v.pgoff(), 9);
    assert!(std::sync::Arc::ptr_eq(v.file().unwrap(), &f));
    assert!(!v.flags().contains(VmFlags::ACCOUNT));
    let sh = g.vma_lookup(s + 2 * P).unwrap();
    assert_eq!(sh.pgoff(), 2, "shared anonymous offsets follow splits");
    assert!(sh.file().unwrap().is_shmem());
    assert!(sh.flags().contains(VmFlags::SHARED | VmFlags::MAYSHARE));
    assert!(!sh.flags().contains(VmFlags::ACCOUNT));
}

#[test]
fn max_map_count_limits_middle_splits() {
    let mm: Mm<u32> = Mm::with_config(pervma::MmConfig::new(1 << 47, 0x10000, 1u64 << 46, 3));
    for i in 0..3 {
        mm.mmap(0x100_0000 + i * 0x10_0000, 4 * P, RW, FIXED, None, 0)
            .unwrap();
    }
    // map_count == max: a middle split would make it max + 1.
    assert_eq!(mm.munmap(0x100_0000 + P, P), Err(Errno::ENOMEM));
    // An end split does not add a VMA.
    mm.munmap(0x100_0000, P).unwrap();
    // do_mmap refuses only above the limit (Linux's off-by-one).
    mm.mmap(0x200_0000, P, RW, FIXED, None, 0).unwrap();
    assert_eq!(mm.map_count(), 4);
    assert_eq!(
        mm.mmap(0x300_0000, P, RW, FIXED, None, 0)
            .unwrap_err()
            .errno,
        Errno::ENOMEM
    );
}

#[test]
fn write_guard_batches_operations_and_downgrades() {
    let mm = Mm::new();
    let mut w = mm.mmap_write_lock();
    let a = w.mmap(0x80_0000, 4 * P, RW, FIXED, None, 1).unwrap();
    w.munmap(a + P, P).unwrap();
    assert_eq!(w.map_count(), 2);
    // Inside the write cycle the fast path refuses the VMAs we changed.
    assert!(mm.lock_vma_under_rcu(a).is_none());
    let r = w.downgrade();
    assert_eq!(r.vmas().count(), 2);
    // A VMA lock taken under mmap_lock may outlive it.
    let v = r.vma_start_read_locked(r.vma_lookup(a).unwrap()).unwrap();
    drop(r);
    assert_eq!(v.end(), a + P);
    drop(v);
    // After the cycle the fast path works again.
    assert!(mm.lock_vma_under_rcu(a + 2 * P).is_some());
}

#[test]
fn vma_start_read_locked_refuses_a_foreign_vma() {
    let a: Mm<u32> = Mm::new();
    let b: Mm<u32> = Mm::new();
    a.mmap(0x90_0000, P, RW, FIXED, None, 0).unwrap();
    b.mmap(0x90_0000, P, RW, FIXED, None, 0).unwrap();
    let ga = a.mmap_read_lock();
    let gb = b.mmap_read_lock();
    assert!(ga
        .vma_start_read_locked(gb.vma_lookup(0x90_0000).unwrap())
        .is_none());
    assert!(ga
        .vma_start_read_locked(ga.vma_lookup(0x90_0000).unwrap())
        .is_some());
}

#[test]
fn stats_count_the_paths() {
    let mm = Mm::new();
    let a = mm.mmap(0xa0_0000, P, RW, FIXED, None, 0).unwrap();
    drop(mm.lock_vma(a).unwrap());
    assert!(mm.lock_vma(a + P).is_none());
    let s = mm.stats();
    assert_eq!((s.success, s.abort, s.wait), (1, 1, 0));
    // Contended: a write cycle has the VMA write-locked, so lock_vma takes
    // the slow path, which waits for the cycle to end.
    std::thread::scope(|sc| {
        let mut w = mm.mmap_write_lock();
        w.mmap(a, P, Prot::READ, FIXED, None, 9).unwrap();
        let t = sc.spawn(|| *mm.lock_vma(a).unwrap().payload());
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(w);
        assert_eq!(t.join().unwrap(), 9);
    });
    assert!(mm.stats().wait >= 1);
}

#[test]
fn speculation_sees_write_cycles() {
    let mm: Mm<()> = Mm::new();
    let seq = mm.mmap_lock_speculate_try_begin().unwrap();
    assert!(!mm.mmap_lock_speculate_retry(seq));
    let w = mm.mmap_write_lock();
    assert!(mm.mmap_lock_speculate_try_begin().is_none());
    assert!(mm.mmap_is_write_locked());
    drop(w);
    assert!(mm.mmap_lock_speculate_retry(seq));
}
