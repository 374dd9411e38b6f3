//! Firecracker's EAGAIN deadlock, as a regression test.
//!
//! With `UFFD_FEATURE_EVENT_REMOVE` (a balloon), `madvise(MADV_DONTNEED)`
//! of registered memory queues a `REMOVE` event and waits until a handler
//! has read it; while it is queued, `UFFDIO_COPY` fails with `EAGAIN`.
//! Firecracker's example handler, single-threaded, retried the copy in a
//! loop without reading the queue: the copy never succeeded, the madvise
//! never returned, and the faulting vCPU never got its page. pervma's
//! `Pager` puts the fault aside on `EAGAIN`, reads the events, and retries.
//!
//! A vCPU thread touches every page of a region over and over while a
//! balloon thread discards pages of the same region with the real
//! `madvise`, one handler thread serving both. Both must finish; a
//! deadlock fails the test by a timeout instead of hanging it. Whether
//! `EAGAIN` happened in a run depends on timing: the test prints how often
//! (`again`), and checks that the balloon's events were read.

use pervma::{MapFlags, Mm, Prot};
use pervma_uffd::{
    features, FileContents, OpenOptions, OwnMemory, Pager, PagerConfig, Uffd, Unmapped, Wait, PAGE,
};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const PAGES: u64 = 64;

#[test]
fn eagain_while_a_remove_event_is_pending_never_deadlocks() {
    let options = OpenOptions {
        user_mode_only: true,
        features: OpenOptions::default().features | features::EVENT_REMOVE,
    };
    let uffd = match Uffd::open(options) {
        Ok(u) => Arc::new(u),
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    };
    if uffd.features() & features::EVENT_REMOVE == 0 {
        eprintln!("skipped: the kernel offers no UFFD_FEATURE_EVENT_REMOVE");
        return;
    }
    let contents = Arc::new(FileContents::new());
    let (memory, config) = OwnMemory::reserve(16 << 20, uffd.clone(), contents.clone()).unwrap();
    let base = memory.base();
    let mm: Arc<Mm<()>> = Arc::new(Mm::with_backend(config, memory));
    let config = PagerConfig {
        threads: 1,
        wait: Wait::Block,
        unmapped: Unmapped::Wake,
        apply_events: true,
    };
    let pager = Pager::start(mm.clone(), uffd, contents, config).unwrap();
    let rw = Prot::READ | Prot::WRITE;
    let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    let region = mm.mmap(base, PAGES * PAGE, rw, flags, None, ()).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::channel();
    let vcpu = {
        let (stop, done) = (stop.clone(), done_tx.clone());
        std::thread::spawn(move || {
            let mut touched = 0u64;
            while !stop.load(Relaxed) {
                for i in 0..PAGES {
                    let p = (region + i * PAGE) as *mut u8;
                    // SAFETY: the region is mapped read-write through the
                    // Mm and stays mapped; a missing page is served by the
                    // pager (zeroes), a discarded one again.
                    unsafe { std::ptr::write_volatile(p, 1) };
                    touched += 1;
                }
            }
            done.send(("vcpu", touched)).unwrap();
        })
    };
    let balloon = {
        let (stop, done) = (stop.clone(), done_tx);
        std::thread::spawn(move || {
            let mut discarded = 0u64;
            let mut i = 0;
            while !stop.load(Relaxed) {
                let p = (region + (i % PAGES) * PAGE) as *mut libc::c_void;
                // SAFETY: madvise of a page of the region, which stays
                // mapped; its contents may go (the vCPU stores only).
                let r = unsafe { libc::madvise(p, PAGE as usize, libc::MADV_DONTNEED) };
                assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
                discarded += 1;
                i += 7;
            }
            done.send(("balloon", discarded)).unwrap();
        })
    };
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Relaxed);
    let until = Instant::now() + Duration::from_secs(30);
    for _ in 0..2 {
        let left = until.saturating_duration_since(Instant::now());
        let (who, n) = done_rx
            .recv_timeout(left)
            .expect("a vCPU or the balloon is stuck: the handler deadlocked on EAGAIN");
        assert!(n > 0, "{who} did nothing");
    }
    vcpu.join().unwrap();
    balloon.join().unwrap();
    let stats = pager.shutdown(Duration::from_secs(5)).unwrap();
    eprintln!("{stats:?}");
    assert!(stats.events > 0, "no REMOVE event was read: {stats:?}");
    assert_eq!(stats.errors, 0, "{stats:?}");
}
