//! The pager on this process's own memory ([`OwnMemory`]): bytes served
//! right under churn, every fault served once, no handler left hanging.
//! Needs userfaultfd (CI runs as root); each test is bounded in time.

use pervma::{Advice, File, MapFlags, Mm, MremapFlags, Prot};
use pervma_uffd::{
    FileContents, OpenOptions, OwnMemory, Pager, PagerConfig, Uffd, Unmapped, Wait, PAGE,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The byte at offset `o` of the test file.
fn pattern(o: u64) -> u8 {
    ((o / PAGE) * 7 + (o % 251)) as u8
}

const FILE_PAGES: u64 = 4096;

struct Setup {
    mm: Arc<Mm<()>>,
    file: Arc<File>,
    base: u64,
    uffd: Arc<Uffd>,
    contents: Arc<FileContents>,
}

fn setup(user_mode_only: bool) -> Option<Setup> {
    let uffd = match Uffd::open(OpenOptions {
        user_mode_only,
        ..OpenOptions::default()
    }) {
        Ok(u) => Arc::new(u),
        Err(e) => {
            eprintln!("skipped: {e}");
            return None;
        }
    };
    let file = File::new("data", FILE_PAGES * PAGE);
    let bytes: Arc<[u8]> = (0..FILE_PAGES * PAGE).map(pattern).collect();
    let contents = Arc::new(FileContents::new().with_bytes(&file, bytes));
    let (memory, config) = OwnMemory::reserve(64 << 20, uffd.clone(), contents.clone()).unwrap();
    let base = memory.base();
    let mm = Arc::new(Mm::with_backend(config, memory));
    Some(Setup {
        mm,
        file,
        base,
        uffd,
        contents,
    })
}

/// Reads the page at `addr` of this process (faulting it in) and checks
/// it against the file's page `pgoff`.
fn check_page(addr: u64, pgoff: u64) {
    let mut buf = [0u8; PAGE as usize];
    // SAFETY: the test mapped `addr` readable through the Mm, and no
    // thread unmaps it while this runs.
    unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), buf.len()) };
    for (i, b) in buf.iter().enumerate() {
        let o = pgoff * PAGE + i as u64;
        assert_eq!(
            *b,
            pattern(o),
            "addr {addr:#x} (file page {pgoff}) byte {i}"
        );
    }
}

fn pager(s: &Setup, threads: usize, wait: Wait) -> Pager<()> {
    let config = PagerConfig {
        threads,
        wait,
        unmapped: Unmapped::Wake,
        apply_events: false,
    };
    Pager::start(s.mm.clone(), s.uffd.clone(), s.contents.clone(), config).unwrap()
}

#[test]
fn anonymous_and_file_pages_and_sigbus_past_the_end() {
    let Some(s) = setup(false) else { return };
    let p = pager(&s, 1, Wait::Block);
    let rw = Prot::READ | Prot::WRITE;
    let fixed = MapFlags::PRIVATE | MapFlags::FIXED;
    let anon =
        s.mm.mmap(s.base, 4 * PAGE, rw, fixed | MapFlags::ANONYMOUS, None, ())
            .unwrap();
    let file =
        s.mm.mmap(
            s.base + (1 << 20),
            8 * PAGE,
            Prot::READ,
            fixed,
            Some((s.file.clone(), 10 * PAGE)),
            (),
        )
        .unwrap();
    for i in 0..4 {
        // SAFETY: mapped readable and writable through the Mm just above.
        unsafe {
            assert_eq!(std::ptr::read_volatile((anon + i * PAGE) as *const u8), 0);
            std::ptr::write_volatile((anon + i * PAGE + 1) as *mut u8, 9);
        }
    }
    for i in 0..8 {
        check_page(file + i * PAGE, 10 + i);
    }
    // A user copy through pervma: the pages are there, it reads them.
    let mut b = [0u8; 2];
    s.mm.access_read(anon, &mut b).unwrap();
    assert_eq!(b, [0, 9]);
    // Past the end of the file: SIGBUS, here EFAULT for write(2) from it.
    let past =
        s.mm.mmap(
            s.base + (2 << 20),
            PAGE,
            Prot::READ,
            fixed,
            Some((s.file.clone(), FILE_PAGES * PAGE)),
            (),
        )
        .unwrap();
    let sink = std::env::temp_dir().join(format!("pervma-uffd-sink-{}", std::process::id()));
    let sink_file = std::fs::File::create(&sink).unwrap();
    // SAFETY: write(2) from an address of the region: the kernel reports
    // EFAULT for a page it cannot read; no Rust reference points there.
    let n = unsafe {
        libc::write(
            std::os::fd::AsRawFd::as_raw_fd(&sink_file),
            past as *const _,
            16,
        )
    };
    let _ = std::fs::remove_file(&sink);
    assert_eq!(n, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EFAULT)
    );
    let stats = p.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(
        (stats.zeroed, stats.copied, stats.poisoned),
        (4, 8, 1),
        "{stats:?}"
    );
    assert_eq!((stats.exists, stats.errors), (0, 0), "{stats:?}");
}

/// Two readers on a fixed file mapping, a third thread remapping,
/// protecting, discarding and moving a slot of its own through the Mm
/// and checking what it reads after each change; every page served once.
#[test]
fn bytes_right_under_munmap_mprotect_mremap_churn() {
    let Some(s) = setup(true) else { return };
    for wait in [Wait::Block, Wait::Spin(Duration::from_micros(50))] {
        let p = pager(&s, 2, wait);
        let fixed = MapFlags::PRIVATE | MapFlags::FIXED;
        const READ_PAGES: u64 = 1024;
        let region = s.base + (8 << 20);
        s.mm.mmap(
            region,
            READ_PAGES * PAGE,
            Prot::READ,
            fixed,
            Some((s.file.clone(), 0)),
            (),
        )
        .unwrap();
        const SLOT: u64 = 16;
        let (slot, slot2) = (s.base + (32 << 20), s.base + (40 << 20));
        let rounds = 40;
        let started = Instant::now();
        std::thread::scope(|scope| {
            for half in 0..2 {
                scope.spawn(move || {
                    for i in (half * READ_PAGES / 2)..((half + 1) * READ_PAGES / 2) {
                        check_page(region + i * PAGE, i);
                    }
                });
            }
            let mm = &s.mm;
            let file = &s.file;
            scope.spawn(move || {
                for r in 0..rounds {
                    let pgoff = (r * 37) % (FILE_PAGES - SLOT);
                    let rw = Prot::READ | Prot::WRITE;
                    mm.mmap(
                        slot,
                        SLOT * PAGE,
                        rw,
                        fixed,
                        Some((file.clone(), pgoff * PAGE)),
                        (),
                    )
                    .unwrap();
                    (0..SLOT).for_each(|i| check_page(slot + i * PAGE, pgoff + i));
                    mm.mprotect(slot, SLOT * PAGE, Prot::READ).unwrap();
                    (0..SLOT).for_each(|i| check_page(slot + i * PAGE, pgoff + i));
                    mm.madvise(slot, SLOT * PAGE, Advice::DontNeed).unwrap();
                    (0..SLOT).for_each(|i| check_page(slot + i * PAGE, pgoff + i));
                    // The pages move with the mapping: no new faults.
                    let flags = MremapFlags::MAYMOVE | MremapFlags::FIXED;
                    mm.mremap(slot, SLOT * PAGE, SLOT * PAGE, flags, slot2)
                        .unwrap();
                    (0..SLOT).for_each(|i| check_page(slot2 + i * PAGE, pgoff + i));
                    mm.munmap(slot2, SLOT * PAGE).unwrap();
                }
            });
        });
        assert!(started.elapsed() < Duration::from_secs(20));
        s.mm.munmap(region, READ_PAGES * PAGE).unwrap();
        let stats = p.shutdown(Duration::from_secs(5)).unwrap();
        // Each page faulted once: the readers' pages, and per round the
        // slot twice (mapped, then discarded).
        let expected = READ_PAGES + rounds * 2 * SLOT;
        assert_eq!(stats.copied, expected, "{wait:?}: {stats:?}");
        assert_eq!(stats.faults, expected, "{wait:?}: {stats:?}");
        assert_eq!(
            (stats.exists, stats.errors, stats.unmapped),
            (0, 0, 0),
            "{wait:?}: {stats:?}"
        );
    }
}

/// Threads write into the region with `read(2)` (kernel-mode faults, which
/// fail with EFAULT instead of a signal once the range is gone) while the
/// region is unmapped through the Mm under them, then the Mm is dropped:
/// every thread, handlers included, ends within the bound.
#[test]
fn no_handler_hangs_when_the_region_goes_away() {
    let Some(s) = setup(false) else { return };
    let p = pager(&s, 2, Wait::Block);
    let region = s.base;
    const PAGES: u64 = 2048;
    let rw = Prot::READ | Prot::WRITE;
    let flags = MapFlags::PRIVATE | MapFlags::FIXED | MapFlags::ANONYMOUS;
    s.mm.mmap(region, PAGES * PAGE, rw, flags, None, ())
        .unwrap();
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        for t in 0..3u64 {
            let (zero, done, tx) = (&zero, &done, tx.clone());
            scope.spawn(move || {
                use std::os::fd::AsRawFd;
                let mut efault = 0;
                for i in (t..PAGES).step_by(3) {
                    // SAFETY: read(2) into an address of the region: the
                    // kernel checks the range and fails with EFAULT where it
                    // is not mapped; no Rust reference points there.
                    let n =
                        unsafe { libc::read(zero.as_raw_fd(), (region + i * PAGE) as *mut _, 64) };
                    if n < 0 {
                        efault += 1;
                    }
                    if done.load(std::sync::atomic::Ordering::Relaxed) && efault > 0 {
                        break;
                    }
                }
                tx.send(efault).unwrap();
            });
        }
        std::thread::sleep(Duration::from_millis(5));
        s.mm.munmap(region, PAGES * PAGE).unwrap();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        for _ in 0..3 {
            rx.recv_timeout(Duration::from_secs(10))
                .expect("a faulting thread hung");
        }
    });
    let stats = p
        .shutdown(Duration::from_secs(5))
        .expect("a handler thread hung");
    assert_eq!(stats.errors, 0, "{stats:?}");
    assert_eq!(
        stats.served() + stats.woken + stats.exists + stats.gone,
        stats.faults,
        "{stats:?}"
    );
}

/// `write(2)` of one byte from `addr` to a scratch file: `Ok` if the kernel
/// could read it (faulting it in through the pager if needed), the errno
/// otherwise (`EFAULT` on a guard region).
fn kernel_reads(addr: u64) -> Result<(), i32> {
    let sink = std::env::temp_dir().join(format!("pervma-uffd-guard-{}", std::process::id()));
    let f = std::fs::File::create(&sink).unwrap();
    // SAFETY: write(2) from an address of the region: the kernel reports
    // EFAULT for a page it cannot read; no Rust reference points there.
    let n = unsafe { libc::write(std::os::fd::AsRawFd::as_raw_fd(&f), addr as *const _, 1) };
    let r = if n == 1 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    };
    let _ = std::fs::remove_file(&sink);
    r
}

/// `MADV_GUARD_INSTALL` through the `Mm` reaches the real memory: a real
/// access there faults (before, the real page stayed and was read), and
/// `MADV_GUARD_REMOVE` makes it an empty page again.
#[test]
fn guard_regions_reach_the_real_memory() {
    // Faults from the kernel (write(2) reading the range) reach the pager.
    let Some(s) = setup(false) else { return };
    let p = pager(&s, 1, Wait::Block);
    let rw = Prot::READ | Prot::WRITE;
    let flags = MapFlags::PRIVATE | MapFlags::FIXED | MapFlags::ANONYMOUS;
    let anon = s.mm.mmap(s.base, 4 * PAGE, rw, flags, None, ()).unwrap();
    let guarded = anon + PAGE;
    // SAFETY: mapped readable and writable through the Mm just above.
    unsafe { std::ptr::write_volatile(guarded as *mut u8, 7) };
    assert_eq!(kernel_reads(guarded), Ok(()));
    s.mm.madvise(guarded, PAGE, Advice::GuardInstall).unwrap();
    assert_eq!(
        kernel_reads(guarded),
        Err(libc::EFAULT),
        "the guard is real"
    );
    assert_eq!(kernel_reads(anon), Ok(()), "its neighbour is not guarded");
    s.mm.madvise(guarded, PAGE, Advice::GuardRemove).unwrap();
    assert_eq!(kernel_reads(guarded), Ok(()));
    // SAFETY: as above; the page is an empty one again (served zeroes).
    assert_eq!(unsafe { std::ptr::read_volatile(guarded as *const u8) }, 0);
    let stats = p.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(stats.errors, 0, "{stats:?}");
}

/// A user copy racing `MADV_GUARD_INSTALL` of its page through the `Mm`:
/// the real page becomes a guard marker while pervma's record still shows
/// it mapped, and a raw copy there would take a real `SIGSEGV` (the
/// process would die). The copy must end as the kernel's would: copied,
/// or `EFAULT` (here: a `SIGSEGV` fault in the error).
#[test]
fn user_copy_racing_guard_install_never_touches_the_guard() {
    let Some(s) = setup(true) else { return };
    let p = pager(&s, 1, Wait::Block);
    let rw = Prot::READ | Prot::WRITE;
    let flags = MapFlags::PRIVATE | MapFlags::FIXED | MapFlags::ANONYMOUS;
    let anon = s.mm.mmap(s.base, 4 * PAGE, rw, flags, None, ()).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (copied, faulted, guards) = (
        std::sync::atomic::AtomicU64::new(0),
        std::sync::atomic::AtomicU64::new(0),
        std::sync::atomic::AtomicU64::new(0),
    );
    use std::sync::atomic::Ordering::Relaxed;
    std::thread::scope(|t| {
        t.spawn(|| {
            let mut buf = [0u8; 64];
            while !stop.load(Relaxed) {
                let r = if copied.load(Relaxed) % 2 == 0 {
                    s.mm.access_write(anon + PAGE + 8, &[1; 64])
                } else {
                    s.mm.access_read(anon + PAGE + 8, &mut buf)
                };
                match r {
                    Ok(()) => copied.fetch_add(1, Relaxed),
                    Err(e) => {
                        use pervma::FaultError::{AccErr, MapErr};
                        assert!(matches!(e.fault, MapErr | AccErr), "{e}");
                        faulted.fetch_add(1, Relaxed)
                    }
                };
            }
        });
        t.spawn(|| {
            while !stop.load(Relaxed) {
                s.mm.madvise(anon + PAGE, PAGE, Advice::GuardInstall)
                    .unwrap();
                s.mm.madvise(anon + PAGE, PAGE, Advice::GuardRemove)
                    .unwrap();
                guards.fetch_add(1, Relaxed);
            }
        });
        std::thread::sleep(Duration::from_millis(1500));
        stop.store(true, Relaxed);
    });
    let stats = p.shutdown(Duration::from_secs(5)).unwrap();
    eprintln!(
        "{} copies, {} faulted on the guard, {} guard cycles",
        copied.load(Relaxed),
        faulted.load(Relaxed),
        guards.load(Relaxed)
    );
    assert!(copied.load(Relaxed) > 0 && guards.load(Relaxed) > 0);
    assert_eq!(stats.errors, 0, "{stats:?}");
}
