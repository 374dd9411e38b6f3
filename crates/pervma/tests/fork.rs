//! `Mm::fork`: the child is a snapshot of one instant, and private memory
//! is shared copy-on-write afterwards.
//!
//! The stress test forks an address space again and again while reader
//! threads fault and store into pages of their own (through
//! `access_write`, which takes VMA read locks) and a writer maps and
//! unmaps elsewhere under `mmap_lock`. Checked on every child:
//!
//! - its VMAs are a set the parent had at one instant: the writer's
//!   mappings are numbered and each step maps one and unmaps the fifth
//!   last, so any instant shows a run of 4 or 5 consecutive numbers, each
//!   at its own address (a child made while the writer was half-way would
//!   show a gap or the wrong count);
//! - its bytes are the parent's at that instant: each reader stores an
//!   increasing counter and publishes the last one it stored; the child's
//!   counter lies between what the reader had published before the fork
//!   began and what it published after the fork returned, plus one (a
//!   store done but not yet published); never a torn value;
//! - copy-on-write both ways: later stores in the parent do not reach the
//!   child, and stores in the child do not reach the parent.
//!
//! The rest are single-threaded rules of `dup_mmap`, each stated.

use pervma::{MapFlags, Mm, MmConfig, Overcommit, Prot, VmFlags};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const P: u64 = 4096;
const RW: Prot = Prot::READ.union(Prot::WRITE);
const FIXED: MapFlags = MapFlags::PRIVATE
    .union(MapFlags::ANONYMOUS)
    .union(MapFlags::FIXED);

/// The readers' pages: one per reader, in one VMA.
const READERS_AT: u64 = 0x1000_0000;
const READERS: usize = 2;
/// The writer's slots: mapping `i` is at `WRITER_AT + (i % SLOTS) * 2P`.
const WRITER_AT: u64 = 0x2000_0000;
const SLOTS: u64 = 16;
/// The writer unmaps mapping `i - KEEP` after mapping `i`.
const KEEP: u64 = 4;

fn read_u64(mm: &Mm<u64>, addr: u64) -> u64 {
    let mut buf = [0; 8];
    mm.access_read(addr, &mut buf).expect("mapped");
    u64::from_le_bytes(buf)
}

#[test]
fn fork_is_a_snapshot_while_readers_fault_and_a_writer_maps() {
    let mm: Arc<Mm<u64>> = Arc::new(Mm::new());
    mm.mmap(READERS_AT, READERS as u64 * P, RW, FIXED, None, u64::MAX)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let published: Arc<Vec<AtomicU64>> =
        Arc::new((0..READERS).map(|_| AtomicU64::new(0)).collect());
    let mut threads = Vec::new();
    for r in 0..READERS {
        let (mm, stop, published) = (mm.clone(), stop.clone(), published.clone());
        threads.push(thread::spawn(move || {
            let addr = READERS_AT + r as u64 * P;
            let mut counter = 0u64;
            while !stop.load(Relaxed) {
                counter += 1;
                mm.access_write(addr, &counter.to_le_bytes()).unwrap();
                published[r].store(counter, SeqCst);
                // A read fault elsewhere in the same VMA's neighbourhood.
                let _ = mm.lock_vma(WRITER_AT + (counter % SLOTS) * 2 * P);
            }
        }));
    }
    let writer_step = Arc::new(AtomicU64::new(0));
    {
        let (mm, stop, step) = (mm.clone(), stop.clone(), writer_step.clone());
        threads.push(thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Relaxed) {
                let at = |i: u64| WRITER_AT + (i % SLOTS) * 2 * P;
                mm.mmap(at(i), P, RW, FIXED, None, i).unwrap();
                if i >= KEEP {
                    mm.munmap(at(i - KEEP), P).unwrap();
                }
                i += 1;
                step.store(i, SeqCst);
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut forks = 0;
    while Instant::now() < deadline || forks < 20 {
        let before: Vec<u64> = published.iter().map(|p| p.load(SeqCst)).collect();
        let child = mm.fork().unwrap();
        let after: Vec<u64> = published.iter().map(|p| p.load(SeqCst)).collect();
        forks += 1;
        // The writer's VMAs: a run of consecutive numbers, each in its slot.
        let mut numbers = Vec::new();
        {
            let mmap = child.mmap_read_lock();
            for v in mmap.vmas() {
                if v.start() >= WRITER_AT {
                    let i = *v.payload();
                    assert_eq!(v.start(), WRITER_AT + (i % SLOTS) * 2 * P, "mapping {i}");
                    assert_eq!(v.len(), P);
                    numbers.push(i);
                }
            }
        }
        numbers.sort_unstable();
        if let (Some(&first), Some(&last)) = (numbers.first(), numbers.last()) {
            assert_eq!(last - first + 1, numbers.len() as u64, "a gap: {numbers:?}");
            let n = numbers.len() as u64;
            assert!(
                n == KEEP || n == KEEP + 1 || last < KEEP,
                "not an instant of the writer: {numbers:?}"
            );
        }
        // The readers' bytes: what the parent held while the fork ran.
        let mut seen = Vec::new();
        for r in 0..READERS {
            let v = read_u64(&child, READERS_AT + r as u64 * P);
            assert!(
                before[r] <= v && v <= after[r] + 1,
                "reader {r}: the child has {v}, the parent went from {} to {} during the fork",
                before[r],
                after[r]
            );
            seen.push(v);
        }
        // Copy-on-write: the readers go on storing in the parent, the
        // child keeps its snapshot; a store in the child stays there.
        child
            .access_write(READERS_AT, &u64::MAX.to_le_bytes())
            .unwrap();
        thread::sleep(Duration::from_millis(2));
        assert_eq!(read_u64(&child, READERS_AT), u64::MAX);
        for (r, &v) in seen.iter().enumerate().skip(1) {
            assert_eq!(read_u64(&child, READERS_AT + r as u64 * P), v);
        }
        assert_ne!(read_u64(&mm, READERS_AT), u64::MAX);
    }
    stop.store(true, Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    assert!(writer_step.load(SeqCst) > 0);
}

/// `dup_mmap`'s rules one by one, each on its own.
#[test]
fn dontfork_wipeonfork_locks_shared_and_anon_vmas() {
    let mm: Mm<()> = Mm::new();
    let a = 0x10_0000;
    mm.mmap(a, 8 * P, RW, FIXED, None, ()).unwrap();
    mm.access_write(a, b"private").unwrap();
    // MADV_DONTFORK: not copied.
    mm.madvise(a + P, P, pervma::Advice::DontFork).unwrap();
    // MADV_WIPEONFORK: copied empty.
    mm.madvise(a + 3 * P, P, pervma::Advice::WipeOnFork)
        .unwrap();
    mm.access_write(a + 3 * P, b"wiped").unwrap();
    // VM_LOCKED: cleared in the child.
    mm.mlock(a + 5 * P, P).unwrap();
    // A shared mapping: the same memory in both.
    let s = 0x20_0000;
    let shared = MapFlags::SHARED | MapFlags::ANONYMOUS | MapFlags::FIXED;
    mm.mmap(s, P, RW, shared, None, ()).unwrap();
    mm.access_write(s, b"shared").unwrap();

    let child = mm.fork().unwrap();
    let lines: Vec<(u64, u64, VmFlags)> = {
        let mmap = child.mmap_read_lock();
        mmap.vmas()
            .map(|v| (v.start(), v.end(), v.flags()))
            .collect()
    };
    assert!(
        lines.iter().all(|l| !(l.0 <= a + P && a + P < l.1)),
        "a DONTCOPY VMA was copied"
    );
    assert!(
        lines.iter().all(|l| !l.2.contains(VmFlags::LOCKED)),
        "VM_LOCKED inherited"
    );
    let mut buf = [0; 7];
    child.access_read(a, &mut buf).unwrap();
    assert_eq!(&buf, b"private");
    let mut buf = [0; 5];
    child.access_read(a + 3 * P, &mut buf).unwrap();
    assert_eq!(buf, [0; 5], "a WIPEONFORK page kept its bytes");
    mm.access_read(a + 3 * P, &mut buf).unwrap();
    assert_eq!(&buf, b"wiped", "the parent lost its WIPEONFORK page");
    // Shared stays shared: a store in the child is seen by the parent.
    child.access_write(s, b"SHARED").unwrap();
    let mut buf = [0; 6];
    mm.access_read(s, &mut buf).unwrap();
    assert_eq!(&buf, b"SHARED");
    // Private is private both ways.
    mm.access_write(a, b"PARENT!").unwrap();
    let mut buf = [0; 7];
    child.access_read(a, &mut buf).unwrap();
    assert_eq!(&buf, b"private");
    // anon_vma_fork: the child's faulted VMA has an anon_vma forked from
    // the parent's; the wipe-on-fork one has none.
    let cm = child.mmap_read_lock();
    let pm = mm.mmap_read_lock();
    let (c, p) = (cm.vma_lookup(a).unwrap(), pm.vma_lookup(a).unwrap());
    let (ca, pa) = (c.anon_vma().unwrap(), p.anon_vma().unwrap());
    assert!(ca.is_fork_child() && !pa.is_fork_child());
    assert!(Arc::ptr_eq(ca.parent().unwrap(), pa));
    assert!(cm.vma_lookup(a + 3 * P).unwrap().anon_vma().is_none());
}

/// Each `VM_ACCOUNT` VMA is charged again for the child
/// (`security_vm_enough_memory_mm` in `dup_mmap`): a charge the policy
/// refuses fails the fork with `ENOMEM`; `MAP_NORESERVE` is not charged.
#[test]
fn fork_charges_accountable_memory() {
    let guess = Overcommit::Guess { total_pages: 16 };
    let mm: Mm<()> = Mm::with_config(MmConfig::default().with_overcommit(guess));
    mm.mmap(0x10_0000, 16 * P, RW, FIXED, None, ()).unwrap();
    assert!(mm.fork().is_ok(), "16 pages fit in 16");
    let big = 0x100_0000;
    mm.mmap(big, 32 * P, RW, FIXED | MapFlags::NORESERVE, None, ())
        .unwrap();
    assert!(mm.fork().is_ok(), "MAP_NORESERVE is not charged");
    mm.munmap(big, 32 * P).unwrap();
    // Two VMAs of 10 pages: each charge fits (OVERCOMMIT_GUESS judges one
    // charge at a time), so the fork does too.
    mm.mmap(big, 10 * P, RW, FIXED, None, ()).unwrap();
    mm.mmap(big + 20 * P, 10 * P, RW, FIXED, None, ()).unwrap();
    assert!(mm.fork().is_ok());
    // One grown to 20 pages by mremap (charged its growth, 10): the
    // child's charge of all 20 is refused.
    mm.mremap(big, 10 * P, 20 * P, pervma::MremapFlags::empty(), 0)
        .unwrap();
    let err = mm.fork().unwrap_err();
    assert_eq!(err, pervma::Errno::ENOMEM);
}

/// Protection keys are inherited (the allocation map and PKRU); MMU
/// notifiers are not.
#[test]
fn pkeys_are_inherited() {
    let mm: Mm<()> = Mm::with_config(MmConfig::default().with_arch(pervma::Arch::X86_64_PKU));
    let key = mm.pkey_alloc(0, pervma::PkeyRights::DISABLE_WRITE).unwrap();
    let child = mm.fork().unwrap();
    assert_eq!(child.pkru(), mm.pkru());
    // The key is allocated in the child: freeing it works once.
    assert!(child.pkey_free(key as i32).is_ok());
    assert!(child.pkey_free(key as i32).is_err());
    // ... and the next allocation in the child hands it out again.
    assert_eq!(
        child.pkey_alloc(0, pervma::PkeyRights::empty()).unwrap(),
        key
    );
}
