//! Binder's installer and shrinker, both forms: a page is never mapped
//! into a VMA that is not the allocator's (or not there), the shrinker
//! never waits, and both forms agree. Every wait is bounded.

use pervma::{Advice, Errno, MapFlags, Mm, MmConfig, Prot};
use pervma_callers::{alloc_page, BinderAlloc, Form, Frames, LruStatus, Vm, PAGE};
use std::sync::mpsc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(20);
const FORMS: [Form; 2] = [Form::Old, Form::Helper];

/// `munmap` racing the installer: once it returns, no page of the range
/// is mapped (the installer held the VMA, so the unmap's zap came after
/// its insert, or the installer found no VMA and gave ESRCH).
#[test]
fn no_page_outlives_its_mapping_when_munmap_races_the_installer() {
    for form in FORMS {
        for round in 0..20 {
            let frames = Frames::new();
            let mm: Mm<Vm> = Mm::with_backend(MmConfig::default(), frames.clone());
            let alloc = BinderAlloc::mmap(&mm, frames.clone(), 1, 32 * PAGE).unwrap();
            let start = alloc.vm_start();
            let (tx, rx) = mpsc::channel();
            std::thread::scope(|s| {
                let alloc = &alloc;
                s.spawn(move || {
                    let results: Vec<_> = (0..alloc.pages())
                        .map(|i| alloc.binder_install_single_page(i, form))
                        .collect();
                    tx.send(results).unwrap();
                });
                if round % 2 == 1 {
                    std::thread::yield_now();
                }
                mm.munmap(start, 32 * PAGE).unwrap();
                let results = rx.recv_timeout(TIMEOUT).expect("the installer hung");
                assert!(results.iter().all(|r| r.is_ok() || *r == Err(Errno::ESRCH)));
                // Once an install failed, every later one did.
                let first_err = results.iter().position(|r| r.is_err());
                if let Some(i) = first_err {
                    assert!(results[i..].iter().all(|r| r.is_err()), "{form:?}");
                }
            });
            assert_eq!(frames.mapped(start, start + 32 * PAGE), 0, "{form:?}");
        }
    }
}

/// After `munmap` and a new mapping at the same address (someone else's
/// memory), both installers give `ESRCH` and the shrinker leaves the
/// foreign VMA alone.
#[test]
fn a_vma_that_is_not_the_allocators_gets_esrch() {
    let frames = Frames::new();
    let mm: Mm<Vm> = Mm::with_backend(MmConfig::default(), frames.clone());
    let alloc = BinderAlloc::mmap(&mm, frames.clone(), 1, 8 * PAGE).unwrap();
    let start = alloc.vm_start();
    alloc.binder_install_single_page(0, Form::Helper).unwrap();
    alloc.binder_install_single_page(1, Form::Old).unwrap();
    mm.munmap(start, 8 * PAGE).unwrap();
    let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    mm.mmap(start, 8 * PAGE, Prot::READ, fixed, None, Vm::Binder(2))
        .unwrap();
    for form in FORMS {
        assert_eq!(alloc.binder_install_single_page(2, form), Err(Errno::ESRCH));
    }
    assert_eq!(alloc.binder_alloc_free_page_old(0), LruStatus::Skip);
    assert_eq!(alloc.binder_alloc_free_page(1), LruStatus::Skip);
    assert_eq!(frames.mapped(start, start + 8 * PAGE), 0);
}

/// The shrinker under a writer that holds the binder VMA write-locked:
/// both forms skip at once (the old form's trylock fails too: the writer
/// holds mmap_lock), and neither ever waits; the installer's converted
/// form waits for the writer and then succeeds.
#[test]
fn the_shrinker_skips_instead_of_waiting_for_a_writer() {
    let frames = Frames::new();
    let mm: Mm<Vm> = Mm::with_backend(MmConfig::default(), frames.clone());
    let alloc = BinderAlloc::mmap(&mm, frames.clone(), 1, 8 * PAGE).unwrap();
    let start = alloc.vm_start();
    for i in 0..4 {
        alloc.binder_install_single_page(i, Form::Helper).unwrap();
    }
    let (tx, rx) = mpsc::channel();
    let (installed_tx, installed_rx) = mpsc::channel();
    std::thread::scope(|s| {
        // A write cycle that write-locks the binder VMA and keeps it
        // locked until the guard drops (vma_end_write_all).
        let mut writer = mm.mmap_write_lock();
        writer.madvise(start, 8 * PAGE, Advice::NoHugePage).unwrap();
        let alloc = &alloc;
        s.spawn(move || {
            let old = alloc.binder_alloc_free_page_old(0);
            let new = alloc.binder_alloc_free_page(1);
            tx.send((old, new)).unwrap();
            // The installer may wait: it completes once the writer is done.
            installed_tx
                .send(alloc.binder_install_single_page(5, Form::Helper))
                .unwrap();
        });
        let skipped = rx.recv_timeout(TIMEOUT).expect("the shrinker waited");
        assert_eq!(skipped, (LruStatus::Skip, LruStatus::Skip));
        assert!(installed_rx
            .recv_timeout(Duration::from_millis(50))
            .is_err());
        drop(writer);
        let installed = installed_rx.recv_timeout(TIMEOUT).expect("installer hung");
        assert_eq!(installed, Ok(()));
    });
    // No writer: both forms free their page and zap its PTE.
    assert_eq!(alloc.binder_alloc_free_page_old(0), LruStatus::Removed);
    assert_eq!(alloc.binder_alloc_free_page(1), LruStatus::Removed);
    assert!(alloc.installed(0).is_none() && frames.frame_at(start).is_none());
    assert!(frames.frame_at(start + PAGE).is_none());
    assert!(frames.frame_at(start + 2 * PAGE).is_some());
    // A page a racing installer mapped first is kept (EBUSY is ok).
    let page = alloc_page();
    assert_eq!(
        alloc.binder_page_insert(start + 2 * PAGE, page),
        Err(Errno::EBUSY)
    );
    alloc.binder_install_single_page(2, Form::Old).unwrap();
}
