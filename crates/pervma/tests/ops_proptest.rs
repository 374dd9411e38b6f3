//! No input panics: random sequences of every operation, with arguments
//! that are often nonsense (unaligned, zero, huge, wrapping), on a small
//! address space with a low `max_map_count`. After each call the VMAs must
//! still be sorted, non-empty and non-overlapping.

mod common;

use common::{len, P};
use pervma::{Advice, File, MapFlags, Mm, MmConfig, Prot};
use proptest::prelude::*;
use std::sync::Arc;

const BASE: u64 = 0x1000_0000;

#[derive(Clone, Debug)]
enum Call {
    Mmap(u64, u64, u32, u32, Option<u64>, u8),
    Munmap(u64, u64),
    Mprotect(u64, u64, u32),
    Madvise(u64, u64, usize),
    Mlock(u64, u64),
    Munlock(u64, u64),
}

fn addr() -> impl Strategy<Value = u64> {
    common::addr(BASE)
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        (
            addr(),
            len(),
            0u32..8,
            0u32..0x10_0000,
            prop::option::of(0u64..8),
            0u8..3
        )
            .prop_map(|(a, l, p, f, off, pay)| Call::Mmap(
                a,
                l,
                p,
                f,
                off.map(|o| o * P),
                pay
            )),
        (addr(), len()).prop_map(|(a, l)| Call::Munmap(a, l)),
        (addr(), len(), prop_oneof![0u32..8, any::<u32>()])
            .prop_map(|(a, l, p)| Call::Mprotect(a, l, p)),
        (addr(), len(), 0usize..Advice::ALL.len()).prop_map(|(a, l, i)| Call::Madvise(a, l, i)),
        (addr(), len()).prop_map(|(a, l)| Call::Mlock(a, l)),
        (addr(), len()).prop_map(|(a, l)| Call::Munlock(a, l)),
    ]
}

fn apply(mm: &Mm<u8>, file: &Arc<File>, call: &Call) {
    // Results are not checked here (other tests compare them with Linux);
    // only that nothing panics and the layout stays sane.
    let _ = match *call {
        Call::Mmap(a, l, p, f, off, pay) => {
            // Keep MAP_FIXED inside the window so as not to hit the
            // default placement far away; hints may go anywhere.
            let flags = MapFlags::from_bits_retain(f & 0x10_c133);
            mm.mmap(
                a,
                l,
                Prot::from_bits_retain(p),
                flags,
                off.map(|o| (Arc::clone(file), o)),
                pay,
            )
            .map(|_| ())
            .map_err(|e| e.errno)
        }
        Call::Munmap(a, l) => mm.munmap(a, l),
        Call::Mprotect(a, l, p) => mm.mprotect(a, l, Prot::from_bits_retain(p)),
        Call::Madvise(a, l, i) => mm.madvise(a, l, Advice::ALL[i]),
        Call::Mlock(a, l) => mm.mlock(a, l),
        Call::Munlock(a, l) => mm.munlock(a, l),
    };
}

fn check_layout(mm: &Mm<u8>) {
    let g = mm.mmap_read_lock();
    let mut last_end = 0;
    for v in g.vmas() {
        assert!(v.start() < v.end(), "empty VMA");
        assert!(v.start() >= last_end, "VMAs overlap or go backwards");
        assert_eq!(v.start() % P, 0);
        assert_eq!(v.end() % P, 0);
        last_end = v.end();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_input_panics(calls in prop::collection::vec(call(), 1..40)) {
        let d = MmConfig::default();
        let mm: Mm<u8> = Mm::with_config(MmConfig::new(d.task_size, d.mmap_min_addr, d.mmap_base, 6));
        let file = File::new("data", 16 * P);
        for call in &calls {
            apply(&mm, &file, call);
            check_layout(&mm);
        }
    }
}
