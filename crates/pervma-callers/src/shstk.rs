//! x86 shadow stacks: reading the signal frame's token at `sigreturn`.
//!
//! Linux: arch/x86/kernel/shstk.c (`shstk_pop_sigframe`,
//! `get_shstk_data`, `shstk_push_sigframe`, `alloc_shstk`).
//!
//! At `sigreturn` the kernel pops the token it pushed on the shadow stack
//! when it delivered the signal. It must be sure the token comes from
//! shadow-stack memory (an SSP just past the end of a shadow stack points
//! at ordinary readable memory), so it checks the VMA's `VM_SHADOW_STACK`
//! (here the payload [`Vm::ShadowStack`]). The first version
//! (7fad2a432cd3, "x86/shstk: Check that signal frame is shadow stack
//! mem") held `mmap_lock` for read across the user read: a read that
//! faults takes `mmap_lock` for read again, and if a writer queued in
//! between, that second acquisition waits for the writer, which waits for
//! the first: a deadlock. [`shstk_pop_sigframe_mmap_locked`] is that code.
//!
//! The two fixes never touch user memory while holding a lock a fault
//! could need:
//!
//! - [`shstk_pop_sigframe`] is upstream's (9874b2917b9f, "x86/shstk:
//!   Prevent deadlock during shstk sigreturn"): check the VMA under
//!   `mmap_lock`, note `mm_lock_seq` (`mmap_lock_speculate_try_begin`),
//!   drop the lock, read, and start over if a writer ran in between
//!   (`mmap_lock_speculate_retry`).
//! - [`shstk_pop_sigframe_vma_locked`] uses the series' helper: the VMA
//!   read lock ([`Mm::lock_vma`]) keeps the VMA what it was checked to be
//!   while the token is read with the no-fault copy
//!   ([`VmaReadGuard::read_nofault`](pervma::VmaReadGuard::read_nofault));
//!   if the page is not mapped, drop the lock, fault it in, and retry
//!   ([`Mm::access_vma`] is this loop, packaged).

use crate::memory::PAGE;
use crate::Vm;
use pervma::{Access, Errno, MapFlags, Mm, Prot};

/// `SHSTK_DATA_BIT`: set in data the kernel pushes, so that it cannot be
/// taken for a return address.
pub const SHSTK_DATA_BIT: u64 = 1 << 63;

/// `SS_FRAME_SIZE`.
const SS_FRAME_SIZE: u64 = 8;

/// `TASK_SIZE_MAX` on x86-64 with 4-level page tables.
const TASK_SIZE_MAX: u64 = (1 << 47) - PAGE;

/// `alloc_shstk`: a shadow stack of `size` bytes (`VM_SHADOW_STACK`).
/// pervma has no shadow-stack permission, so the mapping is read-write
/// and the kernel's `WRSS` stores are ordinary stores.
///
/// # Errors
///
/// `mmap`'s.
pub fn alloc_shstk(mm: &Mm<Vm>, size: u64) -> Result<u64, Errno> {
    let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
    Ok(mm.mmap(
        0,
        size,
        Prot::READ | Prot::WRITE,
        flags,
        None,
        Vm::ShadowStack,
    )?)
}

/// `shstk_push_sigframe`: pushes `*ssp` (marked as data) and moves `ssp`
/// below it; what signal delivery does.
///
/// # Errors
///
/// `EINVAL` for an unaligned SSP, `EFAULT` if the store faults.
pub fn shstk_push_sigframe(mm: &Mm<Vm>, ssp: &mut u64) -> Result<(), Errno> {
    let target_ssp = *ssp;
    if target_ssp % 8 != 0 {
        return Err(Errno::EINVAL);
    }
    *ssp -= SS_FRAME_SIZE;
    // put_shstk_data -> write_user_shstk_64
    mm.access_write(*ssp, &(target_ssp | SHSTK_DATA_BIT).to_le_bytes())
        .map_err(|_| Errno::EFAULT)
}

/// `get_shstk_data`: `get_user` of the token at `addr` (it may fault),
/// and its check.
fn get_shstk_data(mm: &Mm<Vm>, addr: u64) -> Result<u64, Errno> {
    let mut buf = [0; 8];
    mm.access_read(addr, &mut buf).map_err(|_| Errno::EFAULT)?;
    check_token(u64::from_le_bytes(buf))
}

/// The token's checks: marked as data; then the SSP it restores aligned
/// and in user space.
fn check_token(ldata: u64) -> Result<u64, Errno> {
    if ldata & SHSTK_DATA_BIT == 0 {
        return Err(Errno::EINVAL);
    }
    let token_addr = ldata & !SHSTK_DATA_BIT;
    if token_addr % 8 != 0 || token_addr >= TASK_SIZE_MAX {
        return Err(Errno::EINVAL);
    }
    Ok(token_addr)
}

/// `shstk_pop_sigframe` as 7fad2a432cd3 wrote it: **deadlocks**. When the
/// SSP is page-aligned (it might be just past a shadow stack), it holds
/// `mmap_lock` for read across `get_shstk_data`, whose fault may take
/// `mmap_lock` again behind a queued writer. Debug builds of pervma
/// refuse the nested wait with a panic ("deadlock: access_vma called
/// while this thread holds mmap_lock for read"); see the test
/// `shstk_mmap_lock_recursion`.
///
/// # Errors
///
/// `EINVAL` for a bad SSP or token, `EFAULT` for a read that failed or a
/// VMA that is not a shadow stack.
pub fn shstk_pop_sigframe_mmap_locked(mm: &Mm<Vm>, ssp: &mut u64) -> Result<(), Errno> {
    if *ssp % 8 != 0 {
        return Err(Errno::EINVAL);
    }
    let need_to_check_vma = *ssp % PAGE == 0;
    let mmap = need_to_check_vma.then(|| mm.mmap_read_lock());
    // The bug: a user read (which may fault) under mmap_lock.
    let token_addr = get_shstk_data(mm, *ssp)?;
    if let Some(mmap) = &mmap {
        let vma = mmap.find_vma(*ssp);
        if !vma.is_some_and(|v| v.start() <= *ssp && *v.payload() == Vm::ShadowStack) {
            return Err(Errno::EFAULT);
        }
    }
    drop(mmap); // mmap_read_unlock
    *ssp = token_addr;
    Ok(())
}

/// `shstk_pop_sigframe` as upstream fixed it: check the VMA under
/// `mmap_lock`, remember `mm_lock_seq`, drop the lock, then read; retry
/// if a writer may have changed the VMA in between.
///
/// # Errors
///
/// `EINVAL` for a bad SSP or token or a VMA that is not a shadow stack,
/// `EFAULT` for a read that failed.
pub fn shstk_pop_sigframe(mm: &Mm<Vm>, ssp: &mut u64) -> Result<(), Errno> {
    if *ssp % 8 != 0 {
        return Err(Errno::EINVAL);
    }
    let token_addr = loop {
        let mmap = mm.mmap_read_lock();
        let vma = mmap.find_vma(*ssp);
        let valid_vma = vma.is_some_and(|v| v.start() <= *ssp && *v.payload() == Vm::ShadowStack);
        // VMAs can change between get_shstk_data() and find_vma(): note
        // the sequence so that the token provably comes from this VMA.
        // Under mmap_lock no writer runs, so try_begin cannot fail.
        let seq = mm
            .mmap_lock_speculate_try_begin()
            .expect("no write cycle under mmap_lock for read");
        drop(mmap);
        if !valid_vma {
            return Err(Errno::EINVAL);
        }
        let token = get_shstk_data(mm, *ssp)?;
        if !mm.mmap_lock_speculate_retry(seq) {
            break token;
        }
    };
    *ssp = token_addr;
    Ok(())
}

/// `shstk_pop_sigframe` with the series' helper: the VMA read-locked,
/// the token read without faulting; on a miss, drop the lock, fault the
/// page in, and try again.
///
/// # Errors
///
/// As [`shstk_pop_sigframe`].
pub fn shstk_pop_sigframe_vma_locked(mm: &Mm<Vm>, ssp: &mut u64) -> Result<(), Errno> {
    if *ssp % 8 != 0 {
        return Err(Errno::EINVAL);
    }
    let mut buf = [0; 8];
    loop {
        let vma = mm.lock_vma(*ssp).ok_or(Errno::EINVAL)?;
        if *vma.payload() != Vm::ShadowStack {
            return Err(Errno::EINVAL);
        }
        // copy_from_user_nofault: under a VMA lock, never fault or wait.
        let Err(miss) = vma.read_nofault(*ssp, &mut buf) else {
            break;
        };
        drop(vma); // vma_end_read before the fault, which may need mmap_lock
        mm.handle_fault(miss.addr, Access::Read)
            .map_err(|_| Errno::EFAULT)?;
    }
    *ssp = check_token(u64::from_le_bytes(buf))?;
    Ok(())
}
