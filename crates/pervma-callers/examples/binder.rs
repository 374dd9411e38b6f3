//! Binder's page installer and shrinker, in the kernel's old form and
//! converted to the helper (drivers/android/binder_alloc.c).
//!
//! `cargo run -p pervma-callers --example binder`
//!
//! 1. `binder_install_single_page` fills the buffer space with pages, half
//!    with the old `binder_page_insert` (fast path, else `mmap_lock`),
//!    half with the converted one (`lock_vma`).
//! 2. After `munmap` and a new mapping at the same address, both refuse
//!    with `ESRCH`: the VMA is no longer the allocator's.
//! 3. The shrinker (`binder_alloc_free_page`) reclaims pages while a
//!    writer keeps write-locking the binder VMA: it never blocks, it skips.

use pervma::{Advice, Errno, MapFlags, Mm, MmConfig, Prot};
use pervma_callers::{BinderAlloc, Form, Frames, LruStatus, Vm, PAGE};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

fn main() {
    let frames = Frames::new();
    let mm: Mm<Vm> = Mm::with_backend(MmConfig::default(), frames.clone());
    let alloc = BinderAlloc::mmap(&mm, frames.clone(), 1, 64 * PAGE).expect("binder_mmap");
    let start = alloc.vm_start();

    // 1. The installer, both forms.
    for index in 0..alloc.pages() {
        let form = if index % 2 == 0 {
            Form::Old
        } else {
            Form::Helper
        };
        alloc
            .binder_install_single_page(index, form)
            .expect("install");
    }
    // The driver writes a transaction into its page; the process sees it
    // through the PTE the installer set.
    alloc.installed(3).unwrap().lock().unwrap()[..5].copy_from_slice(b"hello");
    assert_eq!(
        &frames.frame_at(start + 3 * PAGE).unwrap().lock().unwrap()[..5],
        b"hello"
    );
    println!(
        "installed {} pages at {start:#x} (old form took mmap_lock {} times, the helper {})",
        frames.mapped(start, start + 64 * PAGE),
        alloc.counts.get().0,
        mm.stats().wait
    );

    // 3. The shrinker while a writer write-locks the binder VMA over and
    // over (madvise of a flag that Linux keeps in vm_flags).
    let stop = AtomicBool::new(false);
    let fallbacks_before = alloc.counts.get().0;
    let (mut removed, mut skipped) = ([0; 2], [0; 2]);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Relaxed) {
                mm.madvise(start, 64 * PAGE, Advice::NoHugePage).unwrap();
                mm.madvise(start, 64 * PAGE, Advice::HugePage).unwrap();
            }
        });
        for round in 0..20_000 {
            let index = round % alloc.pages();
            if alloc.installed(index).is_none() {
                alloc
                    .binder_install_single_page(index, Form::Helper)
                    .unwrap();
            }
            let (form, status) = if round % 2 == 0 {
                (0, alloc.binder_alloc_free_page_old(index))
            } else {
                (1, alloc.binder_alloc_free_page(index))
            };
            match status {
                LruStatus::Removed => removed[form] += 1,
                LruStatus::Skip => skipped[form] += 1,
            }
        }
        stop.store(true, Relaxed);
    });
    for (form, name) in [
        (0, "old (trylock fallback)"),
        (1, "converted (fast path only)"),
    ] {
        let tries = removed[form] + skipped[form];
        println!(
            "shrinker, {name}: {} of {tries} pages freed, {:.1}% skipped",
            removed[form],
            100.0 * skipped[form] as f64 / tries as f64
        );
    }
    println!(
        "the old form's trylock fallback succeeded {} times",
        alloc.counts.get().0 - fallbacks_before
    );

    // 2. Unmapped and replaced by someone else's mapping: ESRCH.
    mm.munmap(start, 64 * PAGE).unwrap();
    let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    mm.mmap(start, 64 * PAGE, Prot::READ, flags, None, Vm::Anon)
        .unwrap();
    let page = pervma_callers::alloc_page();
    assert_eq!(
        alloc.binder_page_insert_old(start, page.clone()),
        Err(Errno::ESRCH)
    );
    assert_eq!(alloc.binder_page_insert(start, page), Err(Errno::ESRCH));
    println!("after munmap + mmap by someone else: both forms give ESRCH");
}
