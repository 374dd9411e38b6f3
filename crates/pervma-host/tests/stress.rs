//! Two "vCPU" threads run guest loads and stores through host pointers
//! while a third thread maps, protects, moves and unmaps other ranges,
//! some of them right next to the vCPUs' VMA (so it splits and merges
//! under them).
//!
//! Each guest access is made the way an emulator makes it: under the
//! VMA read lock of the address ([`Mm::lock_vma`]), after checking
//! [`Mm::access_permitted`], and faulting through [`Mm::handle_fault`]
//! (with no lock held) the first time a page is touched. The host kernel
//! is the MMU: an access the backend did not map would be a SIGSEGV,
//! which kills the test. Every value stored is read back, through the
//! host pointer at once and through [`Mm::access_read`] now and then.

use pervma::{Access, MapFlags, Mm, MmConfig, MremapFlags, Prot};
use pervma_host::HostMemory;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const GUEST_SIZE: u64 = 1 << 30;
const PAGE: u64 = 4096;
/// The vCPUs' memory: one VMA of 64 pages; vCPU `i` owns the pages `p`
/// with `p % 2 == i`.
const VCPU_AREA: u64 = 0x1000_0000;
const VCPU_PAGES: u64 = 64;
/// Where the third thread plays, away from the vCPUs' pages.
const OTHER_AREA: u64 = 0x2000_0000;
/// How long the threads run (the whole test stays under 3 s).
const RUN_FOR: Duration = Duration::from_millis(1500);

fn rw() -> Prot {
    Prot::READ | Prot::WRITE
}

fn fixed() -> MapFlags {
    MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED
}

/// SplitMix64 step.
fn next(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One vCPU: stores and loads on its own pages until `deadline`; returns
/// the number of accesses.
fn vcpu(mm: &Mm<()>, host: &HostMemory, id: u64, deadline: Instant) -> u64 {
    let pages: Vec<u64> = (0..VCPU_PAGES)
        .filter(|p| p % 2 == id)
        .map(|p| VCPU_AREA + p * PAGE)
        .collect();
    // The last value stored at each page's first word (0: none yet).
    let mut last = vec![0u64; pages.len()];
    let mut faulted = vec![false; pages.len()];
    let mut rng = id + 1;
    let mut accesses = 0;
    while Instant::now() < deadline {
        let i = (next(&mut rng) % pages.len() as u64) as usize;
        let addr = pages[i];
        if !faulted[i] {
            mm.handle_fault(addr, Access::Write)
                .expect("a write fault on the vCPU area");
            faulted[i] = true;
        }
        let vma = mm.lock_vma(addr).expect("the vCPU area stays mapped");
        assert!(
            mm.access_permitted(&vma, Access::Write),
            "the vCPU area stays writable"
        );
        // SAFETY: the page is mapped writable on the host (pervma served a
        // write fault on it, and the VMA read lock keeps its mapping and
        // protection); the word is 8-aligned, and only this thread and
        // pervma's atomic copies touch it.
        let word = unsafe { AtomicU64::from_ptr(host.host_ptr(addr).cast()) };
        assert_eq!(
            word.load(Ordering::Relaxed),
            last[i],
            "vCPU {id}: page {addr:#x} lost a store"
        );
        let value = next(&mut rng) | 1;
        word.store(value, Ordering::Relaxed);
        assert_eq!(word.load(Ordering::Relaxed), value);
        last[i] = value;
        drop(vma);
        if accesses % 64 == 0 {
            let mut buf = [0; 8];
            mm.access_read(addr, &mut buf).expect("access_read");
            assert_eq!(
                u64::from_ne_bytes(buf),
                value,
                "vCPU {id}: access_read of {addr:#x} misses a host store"
            );
        }
        accesses += 1;
    }
    accesses
}

/// The third thread: changes the address space around the vCPUs until
/// `deadline`; returns the number of operations.
fn mutator(mm: &Mm<()>, deadline: Instant) -> u64 {
    let end = VCPU_AREA + VCPU_PAGES * PAGE;
    let mut rng = 99;
    let mut ops: u64 = 0;
    while Instant::now() < deadline {
        let slot = OTHER_AREA + (next(&mut rng) % 64) * 16 * PAGE;
        let len = (1 + next(&mut rng) % 8) * PAGE;
        match next(&mut rng) % 6 {
            // Right after the vCPU area: merges with its VMA, then splits
            // off again, then goes.
            0 => {
                mm.mmap(end, len, rw(), fixed(), None, ())
                    .expect("mmap next to the vCPUs");
                mm.mprotect(end, len, Prot::READ).expect("mprotect it");
                mm.mprotect(end, len, rw()).expect("and back");
                mm.munmap(end, len).expect("munmap it");
            }
            // Right before it.
            1 => {
                let start = VCPU_AREA - len;
                mm.mmap(start, len, rw(), fixed(), None, ())
                    .expect("mmap before the vCPUs");
                mm.handle_fault(start, Access::Write).expect("fault it");
                mm.mprotect(start, PAGE, Prot::NONE).expect("mprotect it");
                mm.munmap(start, len).expect("munmap it");
            }
            // Elsewhere: a mapping with data, protected, moved, dropped.
            2 => {
                mm.mmap(slot, len, rw(), fixed(), None, ()).expect("mmap");
                mm.access_write(slot, &ops.to_ne_bytes())
                    .expect("access_write");
                mm.mprotect(slot, len, Prot::READ).expect("mprotect");
                let to = OTHER_AREA + 0x100_0000 + (next(&mut rng) % 64) * 16 * PAGE;
                let flags = MremapFlags::MAYMOVE | MremapFlags::FIXED;
                mm.mremap(slot, len, len, flags, to).expect("mremap");
                let mut back = [0; 8];
                mm.access_read(to, &mut back)
                    .expect("access_read after the move");
                assert_eq!(back, ops.to_ne_bytes(), "mremap moved the data");
                mm.munmap(to, len).expect("munmap");
            }
            3 => {
                mm.mmap(slot, len, rw(), fixed(), None, ()).expect("mmap");
                mm.handle_fault(slot, Access::Write).expect("fault");
                mm.madvise(slot, len, pervma::Advice::DontNeed)
                    .expect("madvise");
            }
            4 => {
                let _ = mm.munmap(slot, len);
            }
            _ => {
                let _ = mm.mprotect(slot, len, Prot::NONE);
            }
        }
        ops += 1;
    }
    ops
}

#[test]
fn vcpus_touch_guest_memory_while_a_third_thread_remaps_around_them() {
    let host = HostMemory::new(GUEST_SIZE).expect("reserve the guest space");
    let config = MmConfig::new(GUEST_SIZE, 0x10000, GUEST_SIZE, 65530);
    let mm: Arc<Mm<()>> = Arc::new(Mm::with_backend(config, host.clone()));
    mm.mmap(VCPU_AREA, VCPU_PAGES * PAGE, rw(), fixed(), None, ())
        .expect("the vCPU area");
    let deadline = Instant::now() + RUN_FOR;
    let (accesses, ops) = std::thread::scope(|s| {
        let vcpus: Vec<_> = (0..2)
            .map(|id| {
                let (mm, host) = (&mm, &host);
                s.spawn(move || vcpu(mm, host, id, deadline))
            })
            .collect();
        let ops = s.spawn(|| mutator(&mm, deadline)).join().expect("mutator");
        let accesses: Vec<u64> = vcpus.into_iter().map(|v| v.join().expect("vCPU")).collect();
        (accesses, ops)
    });
    eprintln!("vCPU accesses {accesses:?}, address-space operations {ops}");
    assert!(accesses.iter().all(|&n| n > 0) && ops > 0);
    assert_eq!(host.lost_calls(), 0);
}
