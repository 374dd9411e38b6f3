//! Regression test after QEMU linux-user's top-of-address-space bugs: its
//! `target_mmap`/`target_munmap` computed `start + len` in the guest's
//! address type and compared addresses as signed values, so a mapping
//! that ends at the very top of the address space wrapped to 0 (or an
//! address with the top bit set compared below one without) and the call
//! mapped or unmapped the wrong range, or refused a valid one. pervma
//! computes ends with checked arithmetic in `u64`; these are the cases
//! that broke: mappings that end exactly at the top, lengths that would
//! wrap, and (with a 64-bit space reaching past 2^63) addresses whose top
//! bit is set.

use pervma::{Errno, MapFlags, Mm, MmConfig, Prot};

const P: u64 = 4096;

fn fixed() -> MapFlags {
    MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED
}

/// The checks that must hold for any `task_size`.
fn top_of(mm: &Mm<u32>) {
    let top = mm.config().task_size;
    let last = top - P;
    // The last page maps, locks, reads and unmaps; its end is `top`.
    assert_eq!(
        mm.mmap(last, P, Prot::READ | Prot::WRITE, fixed(), None, 1)
            .unwrap(),
        last
    );
    let vma = mm.lock_vma(last + P - 1).expect("the last page is mapped");
    assert_eq!((vma.start(), vma.end()), (last, top));
    drop(vma);
    mm.access_write(last + P - 4, b"top!").unwrap();
    let mut buf = [0; 4];
    mm.access_read(last + P - 4, &mut buf).unwrap();
    assert_eq!(&buf, b"top!");
    // A copy that would run past the top stops there.
    assert!(mm.access_read(last + P - 2, &mut buf).is_err());
    // One page more would end past the top: refused, nothing changes.
    let n = mm.map_count();
    assert_eq!(
        mm.mmap(last - P, 2 * P + P, Prot::READ, fixed(), None, 2)
            .unwrap_err()
            .errno,
        Errno::ENOMEM
    );
    assert_eq!(mm.map_count(), n);
    assert_eq!(mm.mprotect(last, 2 * P, Prot::READ), Err(Errno::ENOMEM));
    // Lengths whose end wraps around 2^64: refused, not taken modulo.
    for len in [u64::MAX - last + 1, u64::MAX - P + 1, u64::MAX] {
        assert!(
            mm.mmap(last, len, Prot::READ, fixed(), None, 3).is_err(),
            "{len:#x}"
        );
        assert_eq!(mm.munmap(last, len), Err(Errno::EINVAL), "{len:#x}");
    }
    assert!(mm.lock_vma(last).is_some(), "the last page is still mapped");
    assert_eq!(mm.map_count(), n);
    // Unmapping exactly up to the top works; the space is empty above.
    mm.munmap(last, P).unwrap();
    assert!(mm.lock_vma(last).is_none());
    assert!(mm.lock_vma(top - 1).is_none());
    // A hint at the top is only a hint: placed below, whole.
    let a = mm
        .mmap(
            last,
            2 * P,
            Prot::READ,
            MapFlags::PRIVATE | MapFlags::ANONYMOUS,
            None,
            4,
        )
        .unwrap();
    assert!(a.checked_add(2 * P).is_some_and(|end| end <= top));
}

#[test]
fn qemu_linux_user_top_of_address_space_start_plus_len() {
    // x86-64's 47-bit user space.
    top_of(&Mm::new());
}

#[test]
fn qemu_linux_user_top_of_address_space_sign_bit() {
    // A 64-bit space that reaches past 2^63 (all but the top page), with
    // top-down placement starting above the sign bit: addresses that are
    // negative as signed integers, next to ones that are not.
    let top = u64::MAX - P + 1;
    let base = (1u64 << 63) + (1 << 40);
    let mm: Mm<u32> = Mm::with_config(MmConfig::new(top, 0x10000, base, 65530));
    top_of(&mm);
    // Mappings on both sides of 2^63, found and unmapped as themselves.
    let below = (1u64 << 63) - P;
    mm.mmap(below, 2 * P, Prot::READ, fixed(), None, 5).unwrap();
    let vma = mm.lock_vma(1u64 << 63).unwrap();
    assert_eq!(
        (vma.start(), vma.end(), *vma.payload()),
        (below, below + 2 * P, 5)
    );
    drop(vma);
    mm.munmap(1u64 << 63, P).unwrap();
    assert!(mm.lock_vma(below).is_some() && mm.lock_vma(1u64 << 63).is_none());
    // Top-down placement starts above 2^63 and stays there.
    let a = mm
        .mmap(
            0,
            P,
            Prot::READ,
            MapFlags::PRIVATE | MapFlags::ANONYMOUS,
            None,
            6,
        )
        .unwrap();
    assert!(a >= 1u64 << 63 && a + P <= base, "{a:#x}");
    assert!(mm.maps().lines().count() >= 2);
}
