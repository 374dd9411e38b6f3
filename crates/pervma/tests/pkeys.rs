//! Protection keys and execute-only memory, with and without them, as
//! Linux 6.18 on x86-64 (arch/x86/mm/pkeys.c, mm/mprotect.c). The same
//! behaviour is checked against live kernels by the differential tests
//! (tests/corpus/pkeys-*); these tests pin it on every host.

use pervma::{
    Access, Arch, Errno, FaultError, MapFlags, Mm, MmConfig, PkeyRights, Pkru, Prot, VmFlags,
};

const A: u64 = 0x10_0000_0000;
const P: u64 = 4096;
const FIXED: MapFlags = MapFlags::PRIVATE.union(MapFlags::FIXED);
const RW: Prot = Prot::READ.union(Prot::WRITE);

fn pku() -> Mm<()> {
    Mm::with_config(MmConfig::default().with_arch(Arch::X86_64_PKU))
}

/// `(start, end, prot, pkey)` of every VMA.
fn vmas(mm: &Mm<()>) -> Vec<(u64, u64, Prot, u32)> {
    let mmap = mm.mmap_read_lock();
    mmap.vmas_from(0)
        .map(|v| (v.start(), v.end(), v.flags().prot(), v.flags().pkey()))
        .collect()
}

fn map(mm: &Mm<()>, addr: u64, pages: u64, prot: Prot, flags: MapFlags) {
    assert_eq!(
        mm.mmap(addr, pages * P, prot, flags, None, ()).ok(),
        Some(addr)
    );
}

#[test]
fn execute_only_memory_cannot_be_read_with_protection_keys() {
    let mm = pku();
    map(&mm, A, 2, Prot::EXEC, FIXED);
    assert_eq!(vmas(&mm), [(A, A + 2 * P, Prot::EXEC, 1)]);
    assert_eq!(mm.handle_fault(A, Access::Read), Err(FaultError::PkuErr));
    assert_eq!(mm.handle_fault(A, Access::Write), Err(FaultError::PkuErr));
    let err = mm.access_read(A, &mut [0; 4]).unwrap_err();
    assert_eq!((err.copied, err.fault), (0, FaultError::PkuErr));
    // GUP refuses it: mlock fails with ENOMEM but leaves the VMA locked.
    assert_eq!(mm.mlock(A, P), Err(Errno::ENOMEM));
    let mmap = mm.mmap_read_lock();
    let vma = mmap.vma_lookup(A).unwrap();
    assert!(vma.flags().contains(VmFlags::LOCKED));
    assert_eq!(mmap.vma_smaps(vma).rss, 0);
}

#[test]
fn execute_only_memory_is_readable_without_protection_keys() {
    let mm: Mm<()> = Mm::new();
    map(&mm, A, 2, Prot::EXEC, FIXED | MapFlags::POPULATE);
    assert_eq!(vmas(&mm), [(A, A + 2 * P, Prot::EXEC, 0)]);
    assert_eq!(mm.handle_fault(A, Access::Read), Ok(()));
    assert_eq!(mm.handle_fault(A, Access::Write), Err(FaultError::AccErr));
    assert_eq!(mm.mlock(A, P), Ok(()));
    assert_eq!(mm.pkru(), Pkru::ALLOW_ALL);
}

#[test]
fn populate_skips_execute_only_memory() {
    let mm = pku();
    map(&mm, A, 4, Prot::EXEC, FIXED | MapFlags::POPULATE);
    map(&mm, A + 8 * P, 4, Prot::EXEC, FIXED | MapFlags::LOCKED);
    let mmap = mm.mmap_read_lock();
    for addr in [A, A + 8 * P] {
        let vma = mmap.vma_lookup(addr).unwrap();
        assert_eq!(mmap.vma_smaps(vma).rss, 0, "{addr:#x}");
    }
}

#[test]
fn the_execute_only_key_shares_the_allocator() {
    let mm = pku();
    assert_eq!(mm.pkey_alloc(0, PkeyRights::empty()), Ok(1));
    assert_eq!(mm.pkey_alloc(0, PkeyRights::empty()), Ok(2));
    map(&mm, A, 1, Prot::EXEC, FIXED);
    assert_eq!(vmas(&mm)[0].3, 3);
    assert_eq!(mm.pkey_alloc(0, PkeyRights::empty()), Ok(4));
    // Users cannot name it.
    assert_eq!(mm.pkey_free(3), Err(Errno::EINVAL));
    assert_eq!(mm.pkey_mprotect(A, P, RW, 3), Err(Errno::EINVAL));
    // A second execute-only mapping reuses it, and merges.
    map(&mm, A + P, 1, Prot::EXEC, FIXED);
    assert_eq!(vmas(&mm), [(A, A + 2 * P, Prot::EXEC, 3)]);
}

#[test]
fn mprotect_moves_memory_in_and_out_of_the_execute_only_key() {
    let mm = pku();
    map(&mm, A, 3, Prot::READ | Prot::EXEC, FIXED);
    mm.mprotect(A + P, P, Prot::EXEC).unwrap();
    assert_eq!(
        vmas(&mm),
        [
            (A, A + P, Prot::READ | Prot::EXEC, 0),
            (A + P, A + 2 * P, Prot::EXEC, 1),
            (A + 2 * P, A + 3 * P, Prot::READ | Prot::EXEC, 0),
        ]
    );
    assert_eq!(
        mm.handle_fault(A + P, Access::Read),
        Err(FaultError::PkuErr)
    );
    assert_eq!(mm.handle_fault(A, Access::Read), Ok(()));
    // Leaving PROT_EXEC-only returns to key 0, and the three merge again.
    mm.mprotect(A + P, P, Prot::READ | Prot::EXEC).unwrap();
    assert_eq!(vmas(&mm), [(A, A + 3 * P, Prot::READ | Prot::EXEC, 0)]);
}

#[test]
fn pkey_mprotect_splits_and_merges_by_key() {
    let mm = pku();
    let key = mm.pkey_alloc(0, PkeyRights::empty()).unwrap();
    map(&mm, A, 4, RW, FIXED);
    mm.pkey_mprotect(A + P, 2 * P, RW, key as i32).unwrap();
    assert_eq!(
        vmas(&mm),
        [
            (A, A + P, RW, 0),
            (A + P, A + 3 * P, RW, key),
            (A + 3 * P, A + 4 * P, RW, 0),
        ]
    );
    // Plain mprotect keeps a user key, even for PROT_EXEC-less changes.
    mm.mprotect(A + P, P, Prot::READ).unwrap();
    assert_eq!(vmas(&mm)[1], (A + P, A + 2 * P, Prot::READ, key));
    // An explicit key wins over the execute-only rule.
    mm.pkey_mprotect(A + 2 * P, P, Prot::EXEC, key as i32)
        .unwrap();
    assert_eq!(vmas(&mm)[2], (A + 2 * P, A + 3 * P, Prot::EXEC, key));
    // Back to key 0 everywhere: one VMA again.
    mm.pkey_mprotect(A, 4 * P, RW, 0).unwrap();
    assert_eq!(vmas(&mm), [(A, A + 4 * P, RW, 0)]);
    // A freed key stays on its VMAs but cannot be given any more.
    mm.pkey_mprotect(A, P, RW, key as i32).unwrap();
    mm.pkey_free(key as i32).unwrap();
    assert_eq!(vmas(&mm)[0].3, key);
    assert_eq!(mm.pkey_mprotect(A, P, RW, key as i32), Err(Errno::EINVAL));
}

#[test]
fn rights_decide_reads_and_writes() {
    let mm = pku();
    let none = mm.pkey_alloc(0, PkeyRights::DISABLE_ACCESS).unwrap();
    let ro = mm.pkey_alloc(0, PkeyRights::DISABLE_WRITE).unwrap();
    map(&mm, A, 1, RW, FIXED);
    map(&mm, A + 2 * P, 1, RW, FIXED);
    mm.pkey_mprotect(A, P, RW, none as i32).unwrap();
    mm.pkey_mprotect(A + 2 * P, P, RW, ro as i32).unwrap();
    assert_eq!(mm.handle_fault(A, Access::Read), Err(FaultError::PkuErr));
    assert_eq!(mm.handle_fault(A, Access::Write), Err(FaultError::PkuErr));
    assert_eq!(mm.handle_fault(A + 2 * P, Access::Read), Ok(()));
    assert_eq!(
        mm.handle_fault(A + 2 * P, Access::Write),
        Err(FaultError::PkuErr)
    );
    // GUP honours them too: a private writable range is populated with
    // write faults, which the write-disabled key refuses.
    assert_eq!(mm.mlock(A + 2 * P, P), Err(Errno::ENOMEM));
    // Granting the rights (wrpkru) lets the accesses through.
    let mut pkru = mm.pkru();
    pkru.set_rights(ro, PkeyRights::empty());
    mm.set_pkru(pkru);
    assert_eq!(mm.handle_fault(A + 2 * P, Access::Write), Ok(()));
    assert_eq!(mm.access_write(A + 2 * P, b"ok"), Ok(()));
    let mmap = mm.mmap_read_lock();
    let vma = mmap.vma_lookup(A + 2 * P).unwrap();
    assert!(!mm.access_permitted(mmap.vma_lookup(A).unwrap(), Access::Read));
    assert!(mm.access_permitted(vma, Access::Write));
}

#[test]
fn bad_keys_and_arguments() {
    let mm = pku();
    map(&mm, A, 1, RW, FIXED);
    for key in [-2, 1, 15, 16, 17, i32::MAX, i32::MIN] {
        assert_eq!(mm.pkey_mprotect(A, P, RW, key), Err(Errno::EINVAL), "{key}");
        assert_eq!(mm.pkey_free(key), Err(Errno::EINVAL), "{key}");
    }
    assert_eq!(mm.pkey_free(-1), Err(Errno::EINVAL));
    // The arguments are checked before the key; a zero length succeeds.
    assert_eq!(mm.pkey_mprotect(A, 0, RW, 9), Ok(()));
    assert_eq!(mm.pkey_mprotect(A + 1, P, RW, 9), Err(Errno::EINVAL));
    // The key before the VMAs: a hole with a bad key is EINVAL.
    assert_eq!(mm.pkey_mprotect(A + 8 * P, P, RW, 9), Err(Errno::EINVAL));
    assert_eq!(mm.pkey_mprotect(A + 8 * P, P, RW, -1), Err(Errno::ENOMEM));
    assert_eq!(mm.pkey_mprotect(A, P, RW, 0), Ok(()));
    assert_eq!(
        mm.pkey_alloc(1, PkeyRights::empty()),
        Err(Errno::EINVAL),
        "flags"
    );
    assert_eq!(
        mm.pkey_alloc(0, PkeyRights::from_bits_retain(4)),
        Err(Errno::EINVAL),
        "rights"
    );
    // Nothing changed.
    assert_eq!(vmas(&mm), [(A, A + P, RW, 0)]);
}

#[test]
fn without_protection_keys_no_key_can_be_named() {
    let mm: Mm<()> = Mm::new();
    map(&mm, A, 1, RW, FIXED);
    assert_eq!(mm.pkey_alloc(0, PkeyRights::empty()), Err(Errno::EINVAL));
    assert_eq!(mm.pkey_alloc(0, PkeyRights::empty()), Err(Errno::ENOSPC));
    for key in [0, 1, 15] {
        assert_eq!(mm.pkey_mprotect(A, P, RW, key), Err(Errno::EINVAL), "{key}");
        assert_eq!(mm.pkey_free(key), Err(Errno::EINVAL), "{key}");
    }
    assert_eq!(mm.pkey_mprotect(A, P, Prot::READ, -1), Ok(()));
    // mprotect to PROT_EXEC alone keeps key 0.
    mm.mprotect(A, P, Prot::EXEC).unwrap();
    assert_eq!(vmas(&mm), [(A, A + P, Prot::EXEC, 0)]);
}

#[test]
fn keys_run_out() {
    let mm = pku();
    for want in 1..16 {
        assert_eq!(mm.pkey_alloc(0, PkeyRights::empty()), Ok(want));
    }
    assert_eq!(mm.pkey_alloc(0, PkeyRights::empty()), Err(Errno::ENOSPC));
    // No key left for execute-only memory: it gets key 0 and is readable.
    map(&mm, A, 1, Prot::EXEC, FIXED);
    assert_eq!(vmas(&mm)[0].3, 0);
    assert_eq!(mm.handle_fault(A, Access::Read), Ok(()));
}
