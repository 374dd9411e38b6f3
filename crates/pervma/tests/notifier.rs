//! MMU notifiers: each operation reports what it changed, with the right
//! event, including the part of an operation that failed half-way; and a
//! secondary TLB that forgets what it is told to never holds a stale
//! translation, whatever the operations (a proptest).

use pervma::{
    Access, Advice, Arch, Errno, MapFlags, Mm, MmConfig, MmuNotifier, MmuNotifierEvent,
    MmuNotifierRange, MremapFlags, PkeyRights, Prot,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const A: u64 = 0x10_0000_0000;
const P: u64 = 4096;
const RW: Prot = Prot::READ.union(Prot::WRITE);
const FIXED: MapFlags = MapFlags::PRIVATE.union(MapFlags::FIXED);

/// What a notifier was told, in order: `Start`/`End` of each range, and
/// `Release`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Told {
    Start(u64, u64, MmuNotifierEvent),
    End(u64, u64, MmuNotifierEvent),
    Release,
}

#[derive(Default)]
struct Log(Mutex<Vec<Told>>);

impl MmuNotifier for Log {
    fn invalidate_range_start(&self, r: &MmuNotifierRange) {
        self.0
            .lock()
            .unwrap()
            .push(Told::Start(r.start, r.end, r.event));
    }
    fn invalidate_range_end(&self, r: &MmuNotifierRange) {
        self.0
            .lock()
            .unwrap()
            .push(Told::End(r.start, r.end, r.event));
    }
    fn release(&self) {
        self.0.lock().unwrap().push(Told::Release);
    }
}

impl Log {
    /// The ranges told since the last call, checking that each start is
    /// followed by its end.
    fn take(&self) -> Vec<(u64, u64, MmuNotifierEvent)> {
        let told = std::mem::take(&mut *self.0.lock().unwrap());
        let mut ranges = Vec::new();
        let mut open = Vec::new();
        for t in told {
            match t {
                Told::Start(s, e, ev) => {
                    open.push((s, e, ev));
                    ranges.push((s, e, ev));
                }
                Told::End(s, e, ev) => {
                    let i = open.iter().rposition(|r| *r == (s, e, ev));
                    assert!(i.is_some(), "end without start: {:?}", (s, e, ev));
                    open.remove(i.unwrap());
                }
                Told::Release => panic!("unexpected release"),
            }
        }
        assert!(open.is_empty(), "starts without ends: {open:?}");
        ranges
    }
}

fn registered(arch: Arch) -> (Mm<()>, Arc<Log>) {
    let mm = Mm::with_config(MmConfig::default().with_arch(arch));
    let log = Arc::new(Log::default());
    mm.mmu_notifier_register(log.clone());
    (mm, log)
}

use MmuNotifierEvent::*;

#[test]
fn new_mappings_tell_nothing_replacing_ones_unmaps() {
    let (mm, log) = registered(Arch::X86_64);
    mm.mmap(A, 4 * P, RW, FIXED, None, ()).unwrap();
    assert_eq!(log.take(), []);
    mm.mmap(A + P, 2 * P, Prot::READ, FIXED, None, ()).unwrap();
    assert_eq!(log.take(), [(A + P, A + 3 * P, Unmap)]);
    mm.munmap(A, 8 * P).unwrap();
    assert_eq!(log.take(), [(A, A + 8 * P, Unmap)]);
    // Nothing there: nothing to tell.
    mm.munmap(A, 8 * P).unwrap();
    assert_eq!(log.take(), []);
}

#[test]
fn mprotect_tells_each_changed_part_even_when_it_fails_later() {
    let (mm, log) = registered(Arch::X86_64);
    mm.mmap(A, 2 * P, RW, FIXED, None, ()).unwrap();
    mm.mmap(A + 3 * P, P, RW, FIXED, None, ()).unwrap();
    // Up to the hole at A + 2P: the first VMA changes, then ENOMEM.
    assert_eq!(mm.mprotect(A + P, 3 * P, Prot::READ), Err(Errno::ENOMEM));
    let read = Protection {
        prot: Prot::READ,
        pkey: 0,
    };
    assert_eq!(log.take(), [(A + P, A + 2 * P, read)]);
    // No change, nothing told.
    mm.mprotect(A, P, RW).unwrap();
    assert_eq!(log.take(), []);
    // mlock changes no access: only its populating is told.
    mm.mlock(A, P).unwrap();
    assert_eq!(log.take(), [(A, A + P, Populate)]);
}

#[test]
fn pkey_mprotect_tells_the_new_key() {
    let (mm, log) = registered(Arch::X86_64_PKU);
    let key = mm.pkey_alloc(0, PkeyRights::DISABLE_WRITE).unwrap();
    mm.mmap(A, 2 * P, RW, FIXED, None, ()).unwrap();
    mm.pkey_mprotect(A, P, RW, key as i32).unwrap();
    let keyed = Protection {
        prot: RW,
        pkey: key,
    };
    assert_eq!(log.take(), [(A, A + P, keyed)]);
    // Execute-only memory takes the execute-only key.
    mm.mprotect(A + P, P, Prot::EXEC).unwrap();
    let exec_only = Protection {
        prot: Prot::EXEC,
        pkey: key + 1,
    };
    assert_eq!(log.take(), [(A + P, A + 2 * P, exec_only)]);
}

#[test]
fn mremap_tells_the_move_and_the_unmapped_source() {
    let (mm, log) = registered(Arch::X86_64);
    mm.mmap(A, 2 * P, RW, FIXED, None, ()).unwrap();
    mm.mmap(A + 8 * P, P, RW, FIXED, None, ()).unwrap();
    let fixed = MremapFlags::MAYMOVE | MremapFlags::FIXED;
    mm.mremap(A, 2 * P, 2 * P, fixed, A + 7 * P).unwrap();
    let told = log.take();
    // The target's old mapping goes first, then the pages move.
    assert_eq!(told[0], (A + 7 * P, A + 9 * P, Unmap));
    assert!(told.contains(&(A, A + 2 * P, MoveFrom { to: A + 7 * P })));
    assert!(told.contains(&(A + 7 * P, A + 9 * P, MoveTo { from: A })));
    // Shrinking unmaps the tail.
    mm.mremap(A + 7 * P, 2 * P, P, MremapFlags::empty(), 0)
        .unwrap();
    assert_eq!(log.take(), [(A + 8 * P, A + 9 * P, Unmap)]);
}

#[test]
fn madvise_discard_under_the_vma_lock_and_over_vmas() {
    let (mm, log) = registered(Arch::X86_64);
    mm.mmap(A, 2 * P, RW, FIXED, None, ()).unwrap();
    mm.mmap(A + 2 * P, 2 * P, Prot::READ, FIXED, None, ())
        .unwrap();
    mm.madvise(A, P, Advice::DontNeed).unwrap();
    assert_eq!(log.take(), [(A, A + P, Discard)]);
    mm.madvise(A + P, 2 * P, Advice::Free).unwrap();
    assert_eq!(
        log.take(),
        [(A + P, A + 2 * P, Discard), (A + 2 * P, A + 3 * P, Discard)]
    );
}

#[test]
fn release_on_drop_and_on_unregister() {
    let mm: Mm<()> = Mm::new();
    let (a, b) = (Arc::new(Log::default()), Arc::new(Log::default()));
    let id_a = mm.mmu_notifier_register(a.clone());
    mm.mmu_notifier_register(b.clone());
    assert!(mm.mmu_notifier_unregister(id_a).is_some());
    assert!(mm.mmu_notifier_unregister(id_a).is_none());
    assert_eq!(*a.0.lock().unwrap(), [Told::Release]);
    mm.mmap(A, P, RW, FIXED, None, ()).unwrap();
    mm.munmap(A, P).unwrap();
    assert_eq!(
        *a.0.lock().unwrap(),
        [Told::Release],
        "told after unregistering"
    );
    assert_eq!(b.take(), [(A, A + P, Unmap)]);
    drop(mm);
    assert_eq!(*b.0.lock().unwrap(), [Told::Release]);
}

/// A secondary MMU: translations of pages it read, each with the byte it
/// read and the access the VMA allowed then; forgets a range when told
/// (but for `Populate`, which invalidates nothing).
#[derive(Default)]
struct Tlb(Mutex<BTreeMap<u64, (u8, Prot)>>);

impl MmuNotifier for Tlb {
    fn invalidate_range_start(&self, r: &MmuNotifierRange) {
        if r.event != Populate {
            let mut tlb = self.0.lock().unwrap();
            let gone: Vec<u64> = tlb.range(r.start..r.end).map(|(&a, _)| a).collect();
            for a in gone {
                tlb.remove(&a);
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// Private anonymous memory only: no two addresses share a page, so
    /// the byte a translation reads identifies its page.
    Mmap(u64, u64, bool),
    Munmap(u64, u64),
    Mprotect(u64, u64, u8),
    /// `MREMAP_FIXED`, with `MREMAP_DONTUNMAP` (and equal lengths) or not.
    Mremap(u64, u64, u64, u64, bool),
    Madvise(u64, u64, bool),
    Mlock(u64, u64),
    /// The secondary MMU reads (and maybe writes) a page through pervma.
    Access(u64, bool),
}

fn page() -> impl Strategy<Value = u64> {
    (0u64..24).prop_map(|p| A + p * P)
}

fn pages() -> impl Strategy<Value = u64> {
    (1u64..6).prop_map(|n| n * P)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (page(), pages(), any::<bool>()).prop_map(|(a, l, w)| Op::Mmap(a, l, w)),
        (page(), pages()).prop_map(|(a, l)| Op::Munmap(a, l)),
        (page(), pages(), 0u8..8).prop_map(|(a, l, p)| Op::Mprotect(a, l, p)),
        (page(), pages(), pages(), page(), any::<bool>()).prop_map(|(a, o, n, t, d)| Op::Mremap(
            a,
            o,
            if d { o } else { n },
            t,
            d
        )),
        (page(), pages(), any::<bool>()).prop_map(|(a, l, d)| Op::Madvise(a, l, d)),
        (page(), pages()).prop_map(|(a, l)| Op::Mlock(a, l)),
        (page(), any::<bool>()).prop_map(|(a, w)| Op::Access(a, w)),
        (page(), any::<bool>()).prop_map(|(a, w)| Op::Access(a, w)),
    ]
}

/// Every translation the TLB still holds is still true: pervma allows
/// that access there and reads the same byte.
fn check_tlb(mm: &Mm<()>, tlb: &Tlb, after: &Op) -> Result<(), TestCaseError> {
    let entries: Vec<_> = tlb
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(&a, &e)| (a, e))
        .collect();
    for (addr, (byte, prot)) in entries {
        {
            let mmap = mm.mmap_read_lock();
            let vma = mmap.vma_lookup(addr);
            prop_assert!(
                vma.is_some(),
                "after {after:?}: {addr:#x} unmapped, TLB not told"
            );
            let allowed = vma.unwrap().flags().prot();
            prop_assert!(
                allowed.contains(prot),
                "after {after:?}: {addr:#x} allows {allowed:?}, the TLB still {prot:?}"
            );
        }
        let mut now = [0u8];
        prop_assert!(mm.access_read(addr, &mut now).is_ok());
        prop_assert_eq!(
            now[0],
            byte,
            "after {:?}: {:#x} changed under the TLB",
            after,
            addr
        );
    }
    Ok(())
}

fn apply(mm: &Mm<()>, tlb: &Tlb, op: &Op, stamp: &mut u8) {
    match *op {
        Op::Mmap(a, l, w) => {
            let prot = if w { RW } else { Prot::READ };
            let _ = mm.mmap(a, l, prot, FIXED, None, ());
        }
        Op::Munmap(a, l) => {
            let _ = mm.munmap(a, l);
        }
        Op::Mprotect(a, l, p) => {
            let _ = mm.mprotect(a, l, Prot::from_bits_truncate(u32::from(p)));
        }
        Op::Mremap(a, o, n, t, dontunmap) => {
            let mut flags = MremapFlags::MAYMOVE | MremapFlags::FIXED;
            flags.set(MremapFlags::DONTUNMAP, dontunmap);
            let _ = mm.mremap(a, o, n, flags, t);
        }
        Op::Madvise(a, l, dontneed) => {
            let advice = if dontneed {
                Advice::DontNeed
            } else {
                Advice::Free
            };
            let _ = mm.madvise(a, l, advice);
        }
        Op::Mlock(a, l) => {
            let _ = mm.mlock(a, l);
        }
        Op::Access(a, write) => {
            // A secondary fault: through pervma, then into the TLB.
            let Some(prot) = mm.lock_vma(a).map(|v| v.flags().prot()) else {
                return;
            };
            if write && prot.contains(Prot::WRITE) {
                *stamp = stamp.wrapping_add(1).max(1);
                if mm.access_write(a, &[*stamp]).is_err() {
                    return;
                }
                // The TLB's own translation (if it has one) now reads it.
                if let Some(entry) = tlb.0.lock().unwrap().get_mut(&a) {
                    entry.0 = *stamp;
                }
            }
            let mut byte = [0u8];
            if prot.contains(Prot::READ) && mm.access_read(a, &mut byte).is_ok() {
                tlb.0.lock().unwrap().insert(a, (byte[0], prot));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_secondary_tlb_that_forgets_what_it_is_told_is_never_stale(
        ops in proptest::collection::vec(op(), 1..60)
    ) {
        let mm: Mm<()> = Mm::new();
        let tlb = Arc::new(Tlb::default());
        mm.mmu_notifier_register(tlb.clone());
        let mut stamp = 0;
        for op in &ops {
            apply(&mm, &tlb, op, &mut stamp);
            check_tlb(&mm, &tlb, op)?;
        }
    }
}

/// With nothing registered, the operations still work (and pay one load
/// per change): a fault and a write fault through the whole API.
#[test]
fn nothing_registered() {
    let mm: Mm<()> = Mm::new();
    mm.mmap(A, P, RW, FIXED, None, ()).unwrap();
    assert_eq!(mm.handle_fault(A, Access::Write), Ok(()));
    mm.madvise(A, P, Advice::DontNeed).unwrap();
    mm.munmap(A, P).unwrap();
}

/// Notifiers come and go while other threads discard pages under VMA
/// locks and unmap under `mmap_lock` (the list is read without the lock
/// that changes it, `RcuArc`): every start gets its end, nothing is told
/// after it is unregistered, and nothing is freed under a reader (run
/// under Miri or a sanitizer for the last). Bounded in time.
#[test]
fn registering_while_operations_run() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    /// Counts starts and ends; fails if told anything once released.
    #[derive(Default)]
    struct Balance {
        starts: std::sync::atomic::AtomicU64,
        ends: std::sync::atomic::AtomicU64,
        released: AtomicBool,
    }
    impl MmuNotifier for Balance {
        fn invalidate_range_start(&self, _: &MmuNotifierRange) {
            assert!(!self.released.load(Ordering::SeqCst), "told after release");
            self.starts.fetch_add(1, Ordering::SeqCst);
        }
        fn invalidate_range_end(&self, _: &MmuNotifierRange) {
            self.ends.fetch_add(1, Ordering::SeqCst);
        }
        fn release(&self) {
            self.released.store(true, Ordering::SeqCst);
        }
    }

    let mm: Mm<()> = Mm::new();
    mm.mmap(A, 64 * P, RW, FIXED, None, ()).unwrap();
    let stop = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_millis(700);
    let mut told = 0;
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let page = A + (i % 64) * P;
                let _ = mm.access_write(page, &[1]);
                mm.madvise(page, P, Advice::DontNeed).unwrap();
                i += 1;
            }
        });
        s.spawn(|| {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let page = A + 64 * P + (i % 8) * P;
                mm.mmap(page, P, RW, FIXED, None, ()).unwrap();
                mm.munmap(page, P).unwrap();
                i += 1;
            }
        });
        while Instant::now() < deadline {
            let n = Arc::new(Balance::default());
            let id = mm.mmu_notifier_register(n.clone());
            std::thread::sleep(Duration::from_micros(200));
            mm.mmu_notifier_unregister(id).unwrap();
            let (starts, ends) = (
                n.starts.load(Ordering::SeqCst),
                n.ends.load(Ordering::SeqCst),
            );
            assert_eq!(starts, ends, "a start without its end");
            told += starts;
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(told > 0, "the notifiers were never told anything");
}

/// `MADV_FREE` of part of a transparent huge page splits the whole folio,
/// wherever `mremap` moved pieces of it: those mappings change too, and
/// are told (Linux: `try_to_migrate_one` invalidates each mapping).
#[test]
fn madv_free_tells_every_mapping_of_the_huge_page_it_splits() {
    let (mm, log) = registered(Arch::X86_64);
    let huge = 2 << 20;
    mm.mmap(A, huge, RW, FIXED, None, ()).unwrap();
    mm.madvise(A, huge, Advice::HugePage).unwrap();
    assert_eq!(mm.handle_fault(A + 0x49754, Access::Write), Ok(()));
    let fixed = MremapFlags::MAYMOVE | MremapFlags::FIXED;
    let moved = A + 0xe65000;
    mm.mremap(A + 0x174000, 0x3c000, 0x3c000, fixed, moved)
        .unwrap();
    log.take();
    mm.madvise(A + 0x48000, P, Advice::Free).unwrap();
    let told = log.take();
    assert!(
        told.contains(&(A + 0x48000, A + 0x49000, Discard)),
        "{told:x?}"
    );
    assert!(
        told.contains(&(moved, moved + 0x3c000, Discard)),
        "the moved part of the folio was not told: {told:x?}"
    );
}
