//! x86 shadow-stack `sigreturn` (`shstk_pop_sigframe`, `get_shstk_data`
//! in arch/x86/kernel/shstk.c): the form that deadlocked and both fixes.
//!
//! `cargo run -p pervma-callers --example shstk`
//!
//! Signal delivery pushes a token on the shadow stack; `sigreturn` pops
//! it, checking that it comes from shadow-stack memory. Each form pops a
//! token here while another thread maps and unmaps elsewhere; the first
//! form is shown only with no writer, since with a writer queued it
//! deadlocks (debug builds of pervma panic instead: see the test
//! `shstk_mmap_lock_recursion`).

use pervma::{MapFlags, Mm, MmConfig, Prot};
use pervma_callers::shstk::{
    alloc_shstk, shstk_pop_sigframe, shstk_pop_sigframe_mmap_locked, shstk_pop_sigframe_vma_locked,
    shstk_push_sigframe,
};
use pervma_callers::{Frames, Vm, PAGE};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

type Pop = fn(&Mm<Vm>, &mut u64) -> Result<(), pervma::Errno>;

fn main() {
    let mm: Mm<Vm> = Mm::with_backend(MmConfig::default(), Frames::new());
    let base = alloc_shstk(&mm, 16 * PAGE).expect("alloc_shstk");
    let top = base + 16 * PAGE;
    let forms: [(&str, Pop); 3] = [
        (
            "mmap_lock held across the read (7fad2a432cd3)",
            shstk_pop_sigframe_mmap_locked,
        ),
        ("speculate/retry (upstream fix)", shstk_pop_sigframe),
        (
            "lock_vma + read_nofault, retry",
            shstk_pop_sigframe_vma_locked,
        ),
    ];
    for (i, (name, pop)) in forms.into_iter().enumerate() {
        let stop = AtomicBool::new(false);
        let writer = i > 0; // the first form only alone: it would deadlock
        let pops = std::thread::scope(|s| {
            if writer {
                s.spawn(|| {
                    while !stop.load(Relaxed) {
                        let a = mm
                            .mmap(
                                0,
                                PAGE,
                                Prot::READ,
                                MapFlags::PRIVATE | MapFlags::ANONYMOUS,
                                None,
                                Vm::Anon,
                            )
                            .unwrap();
                        mm.munmap(a, PAGE).unwrap();
                    }
                });
            }
            let mut pops = 0;
            for _ in 0..2000 {
                // setup_signal_shadow_stack, then restore_signal_shadow_stack.
                let mut ssp = top - 8 * PAGE;
                let before = ssp;
                shstk_push_sigframe(&mm, &mut ssp).unwrap();
                pop(&mm, &mut ssp).unwrap();
                assert_eq!(ssp, before);
                pops += 1;
            }
            stop.store(true, Relaxed);
            pops
        });
        println!(
            "{name}: {pops} sigreturns{}",
            if writer { " beside a writer" } else { "" }
        );
    }
    // An SSP just past the shadow stack points at ordinary memory: refused.
    let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    mm.mmap(top, PAGE, Prot::READ | Prot::WRITE, flags, None, Vm::Anon)
        .unwrap();
    let mut ssp = top + 8;
    shstk_push_sigframe(&mm, &mut ssp).unwrap(); // a forged token in normal memory
    assert!(shstk_pop_sigframe(&mm, &mut ssp.clone()).is_err());
    assert!(shstk_pop_sigframe_vma_locked(&mm, &mut ssp).is_err());
    println!("a token outside the shadow stack: refused by both fixes");
}
