//! WP and MINOR mode on real memory, served by the [`Pager`]: a write to
//! a write-protected page of private anonymous memory waits until the
//! contents saw the page and answered [`Resolve::Unprotect`]; a touch of
//! a shmem page that is in the page cache but not mapped waits until the
//! pager continued it, and reads what another mapping of the file wrote.
//!
//! The `Mm` is a plain one that describes the real mappings (as
//! Firecracker's handler does for a VMM's memory): the test maps and
//! registers the real memory itself. Needs userfaultfd (CI runs as root);
//! a kernel without the mode prints "skipped: ..." and passes. Every wait
//! for a faulting thread is bounded: a fault the pager never resolves
//! fails the test instead of hanging it.

use pervma::{File, MapFlags, Mapping, Mm, Prot};
use pervma_uffd::{
    features, ioctls, Contents, Fault, FileContents, Mode, OpenOptions, Pager, PagerConfig,
    Resolve, Uffd, Unmapped, Wait, PAGE,
};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the faulting threads of one step may take, together.
const BOUND: Duration = Duration::from_secs(20);

/// A real mapping of this process, unmapped on drop.
struct Region {
    addr: u64,
    len: u64,
}

impl Region {
    fn map(len: u64, flags: i32, fd: i32) -> Region {
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        // SAFETY: no MAP_FIXED: the kernel picks a free range, which this
        // value owns from now on.
        let addr = unsafe { libc::mmap(std::ptr::null_mut(), len as usize, prot, flags, fd, 0) };
        assert_ne!(
            addr,
            libc::MAP_FAILED,
            "{}",
            std::io::Error::last_os_error()
        );
        Region {
            addr: addr as u64,
            len,
        }
    }

    /// Private anonymous, read-write.
    fn anonymous(len: u64) -> Region {
        Region::map(len, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1)
    }

    /// A shared read-write mapping of `fd` from offset 0.
    fn shared(fd: &OwnedFd, len: u64) -> Region {
        Region::map(len, libc::MAP_SHARED, fd.as_raw_fd())
    }

    fn at(&self, page: u64, off: u64) -> u64 {
        assert!(page * PAGE + off < self.len);
        self.addr + page * PAGE + off
    }

    /// Loads the byte at `off` of `page` (faulting, maybe).
    fn read(&self, page: u64, off: u64) -> u8 {
        // SAFETY: the address is inside the mapping (checked by `at`),
        // which lives as long as `self`; a volatile load of a byte races
        // with nothing Rust knows about (no reference points there).
        unsafe { std::ptr::read_volatile(self.at(page, off) as *const u8) }
    }

    /// Stores `byte` at `off` of `page` (faulting, maybe).
    fn write(&self, page: u64, off: u64, byte: u8) {
        // SAFETY: as `read`; the mapping is writable.
        unsafe { std::ptr::write_volatile(self.at(page, off) as *mut u8, byte) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and nothing uses it any more (the
        // threads that touched it were joined, or the test is failing).
        unsafe { libc::munmap(self.addr as *mut _, self.len as usize) };
    }
}

/// What page `page` holds at `off` before the test writes to it.
fn before(page: u64, off: u64) -> u8 {
    (page * 13 + off % 241 + 1) as u8
}

/// Where the test stores into `page`, and what.
fn store(page: u64) -> (u64, u8) {
    ((page * 67) % PAGE, !before(page, (page * 67) % PAGE))
}

/// A snapshotter: records every fault the pager hands over, with the
/// byte the page held where the test will store (read before answering,
/// so for a write-protect fault: the page as it was), then answers as
/// [`FileContents`] does.
struct Recorder {
    inner: FileContents,
    seen: Mutex<Vec<(Fault, Option<u8>)>>,
}

impl Recorder {
    fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            inner: FileContents::new(),
            seen: Mutex::new(Vec::new()),
        })
    }

    fn seen(&self) -> Vec<(Fault, Option<u8>)> {
        let mut seen = self.seen.lock().unwrap().clone();
        seen.sort_by_key(|(f, _)| f.page);
        seen
    }
}

impl Contents for Recorder {
    fn resolve<'a>(&'a self, m: &Mapping<'_>, fault: &Fault, buf: &'a mut [u8]) -> Resolve<'a> {
        let old = fault.wp.then(|| {
            let (off, _) = store((fault.page - m.start) / PAGE);
            // SAFETY: a write-protect fault's page is present and readable
            // (only writes to it fault), and the VMA lock the pager holds
            // keeps the test's mapping there.
            unsafe { std::ptr::read_volatile((fault.page + off) as *const u8) }
        });
        let answer = self.inner.resolve(m, fault, buf);
        if fault.wp {
            assert!(matches!(answer, Resolve::Unprotect), "{answer:?}");
        }
        if fault.minor {
            assert!(matches!(answer, Resolve::Continue), "{answer:?}");
        }
        self.seen.lock().unwrap().push((*fault, old));
        answer
    }
}

/// Opens a userfaultfd with `feature` (and the defaults), or says why the
/// test is skipped.
fn open(feature: u64, what: &str) -> Option<Arc<Uffd>> {
    let requested = OpenOptions::default().features | feature;
    let uffd = match Uffd::open(OpenOptions {
        user_mode_only: true,
        features: requested,
    }) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("skipped: {e}");
            return None;
        }
    };
    if uffd.offered() & feature == 0 {
        eprintln!("skipped: the kernel offers no {what}");
        return None;
    }
    // Enabled: what was asked for and is there; offered: all there is.
    assert_eq!(uffd.features(), requested & uffd.offered());
    Some(Arc::new(uffd))
}

fn pager(mm: &Arc<Mm<()>>, uffd: &Arc<Uffd>, contents: &Arc<Recorder>) -> Pager<()> {
    let config = PagerConfig {
        threads: 2,
        wait: Wait::Block,
        unmapped: Unmapped::Wake,
        apply_events: false,
    };
    Pager::start(mm.clone(), uffd.clone(), contents.clone(), config).unwrap()
}

/// Runs `f(0)`, ..., `f(threads - 1)` on threads of their own and waits
/// for all of them at most [`BOUND`]; a thread's panic is the caller's.
fn bounded(what: &str, threads: u64, f: impl Fn(u64) + Send + Sync + 'static) {
    let f = Arc::new(f);
    let (tx, rx) = mpsc::channel();
    for t in 0..threads {
        let (f, tx) = (f.clone(), tx.clone());
        std::thread::spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(t)));
            let _ = tx.send(r);
        });
    }
    let until = Instant::now() + BOUND;
    for _ in 0..threads {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(())) => {}
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => panic!("{what}: a thread is stuck in a fault the pager did not resolve"),
        }
    }
}

/// An `Mm` whose one VMA describes `region` as private anonymous memory.
fn anonymous_mm(region: &Region) -> Arc<Mm<()>> {
    let mm: Mm<()> = Mm::new();
    let rw = Prot::READ | Prot::WRITE;
    let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    mm.mmap(region.addr, region.len, rw, flags, None, ())
        .unwrap();
    Arc::new(mm)
}

/// Registers `region` MISSING + WP, write-protects all of it, and serves
/// it: a pager over an `Mm` that describes it as anonymous memory, with a
/// recording contents.
fn serve_write_protected(uffd: &Arc<Uffd>, region: &Region) -> (Arc<Recorder>, Pager<()>) {
    let mode = Mode {
        missing: true,
        wp: true,
        minor: false,
    };
    // SAFETY: the region is the calling test's alone, and a pager serves
    // the descriptor before any thread touches it.
    unsafe { uffd.register(region.addr, region.len, mode) }.unwrap();
    uffd.write_protect(region.addr, region.len, true).unwrap();
    let mm = anonymous_mm(region);
    let recorder = Recorder::new();
    let pager = pager(&mm, uffd, &recorder);
    (recorder, pager)
}

/// Private anonymous memory, populated, registered MISSING + WP and
/// write-protected: reads do not fault; two threads store into every
/// page (each page by one of them), each store is one write-protect fault
/// that the contents see before the page changes; unprotected, the pages
/// take stores without faulting; protected again, reads still do not.
#[test]
fn write_protect_faults_on_private_anonymous_memory() {
    const PAGES: u64 = 256;
    let Some(uffd) = open(features::PAGEFAULT_FLAG_WP, "WP mode on anonymous memory") else {
        return;
    };
    let started = Instant::now();
    let region = Arc::new(Region::anonymous(PAGES * PAGE));
    for page in 0..PAGES {
        for off in 0..PAGE {
            region.write(page, off, before(page, off));
        }
    }
    let mode = Mode {
        missing: true,
        wp: true,
        minor: false,
    };
    // SAFETY: the region is this test's alone; every page is present, and
    // a pager serves the descriptor before any thread writes there.
    let ranges = unsafe { uffd.register(region.addr, region.len, mode) }.unwrap();
    assert_ne!(ranges & ioctls::WRITEPROTECT, 0, "{ranges:#x}");
    assert_eq!(ranges & ioctls::CONTINUE, 0, "{ranges:#x}");
    uffd.write_protect(region.addr, region.len, true).unwrap();
    let mm = anonymous_mm(&region);
    let recorder = Recorder::new();
    let pager = pager(&mm, &uffd, &recorder);

    // Reads of protected pages go on.
    let r = region.clone();
    bounded("reads", 2, move |t| {
        for page in (t..PAGES).step_by(2) {
            for off in [0, store(page).0, PAGE - 1] {
                assert_eq!(r.read(page, off), before(page, off), "page {page}");
            }
        }
    });
    assert_eq!(pager.stats().faults, 0, "a read faulted");

    // Each store is a write-protect fault; the writer waits for it.
    let r = region.clone();
    bounded("stores", 2, move |t| {
        for page in (t..PAGES).step_by(2) {
            let (off, byte) = store(page);
            r.write(page, off, byte);
        }
    });
    for page in 0..PAGES {
        let (off, byte) = store(page);
        for o in 0..PAGE {
            let want = if o == off { byte } else { before(page, o) };
            assert_eq!(region.read(page, o), want, "page {page} byte {o}");
        }
    }
    let seen = recorder.seen();
    assert_eq!(seen.len() as u64, PAGES, "one fault per page");
    for (page, (fault, old)) in (0..PAGES).zip(&seen) {
        assert_eq!(fault.page, region.addr + page * PAGE, "{seen:?}");
        assert!(fault.wp && fault.write && !fault.minor, "{fault:?}");
        assert_ne!(fault.thread, 0, "UFFD_FEATURE_THREAD_ID: {fault:?}");
        // The contents saw the page before the store changed it.
        let (off, _) = store(page);
        assert_eq!(*old, Some(before(page, off)), "page {page}");
    }
    // (The other counters are final after shutdown: a handler counts a
    // fault resolved after the ioctl that woke its writer.)
    assert_eq!(pager.stats().faults, PAGES);

    // Unprotected: stores go on without faulting.
    let r = region.clone();
    bounded("stores again", 2, move |t| {
        for page in (t..PAGES).step_by(2) {
            r.write(page, 0, 7);
        }
    });
    // Protected again: reads still do not fault.
    uffd.write_protect(region.addr, region.len, true).unwrap();
    let r = region.clone();
    bounded("reads again", 1, move |_| {
        for page in 0..PAGES {
            assert_eq!(r.read(page, 0), 7);
        }
    });

    let stats = pager.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(
        (stats.faults, stats.unprotected),
        (PAGES, PAGES),
        "{stats:?}"
    );
    assert_eq!(
        (
            stats.copied + stats.zeroed + stats.poisoned + stats.continued,
            stats.woken,
            stats.exists,
            stats.again,
            stats.unmapped,
            stats.gone,
            stats.errors
        ),
        (0, 0, 0, 0, 0, 0, 0),
        "{stats:?}"
    );
    uffd.unregister(region.addr, region.len).unwrap();
    eprintln!("{PAGES} pages in {:?}: {stats:?}", started.elapsed());
}

/// MISSING + WP, with some pages never touched: a write-protect of the
/// range protects the present pages only (no `WP_UNPOPULATED`), so a
/// store to a missing page is a MISSING fault (served a zero page, after
/// which the store goes on, copying it, without another fault); a read of
/// a protected page faults not at all; once that page is present and
/// protected, a store to it is a write-protect fault.
#[test]
fn a_store_to_a_missing_page_is_a_missing_fault_first() {
    const PAGES: u64 = 8;
    let Some(uffd) = open(features::PAGEFAULT_FLAG_WP, "WP mode on anonymous memory") else {
        return;
    };
    let region = Arc::new(Region::anonymous(PAGES * PAGE));
    // Pages 0..4 present, 4..8 missing.
    for page in 0..4 {
        region.write(page, 0, before(page, 0));
    }
    let (recorder, pager) = serve_write_protected(&uffd, &region);
    let step = |what: &str, f: fn(&Region)| {
        let r = region.clone();
        bounded(what, 1, move |_| f(&r));
    };

    step("read a protected page", |r| {
        assert_eq!(r.read(1, 0), before(1, 0))
    });
    assert_eq!(pager.stats().faults, 0);
    step("store to a missing page", |r| {
        r.write(4, 9, 44);
        assert_eq!(r.read(4, 9), 44);
        assert_eq!(r.read(4, 10), 0);
    });
    step("read a missing page, then store", |r| {
        assert_eq!(r.read(5, 0), 0);
        r.write(5, 0, 55);
        assert_eq!(r.read(5, 0), 55);
    });
    uffd.write_protect(region.addr + 4 * PAGE, PAGE, true)
        .unwrap();
    step("store to page 4, protected now", |r| {
        r.write(4, 9, 45);
        assert_eq!(r.read(4, 9), 45);
    });
    step("store to a protected page", |r| r.write(0, 0, 1));

    let page = |p: u64| region.addr + p * PAGE;
    let faults: Vec<(u64, bool, bool)> = recorder
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(f, _)| (f.page, f.write, f.wp))
        .collect();
    assert_eq!(
        faults,
        [
            (page(4), true, false), // MISSING, for a store
            (page(5), false, false),
            (page(4), true, true), // WP
            (page(0), true, true),
        ],
        "(page, write, wp)"
    );
    let stats = pager.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(
        (
            stats.faults,
            stats.zeroed,
            stats.unprotected,
            stats.served()
        ),
        (4, 2, 2, 4),
        "{stats:?}"
    );
    assert_eq!(
        (stats.exists, stats.woken, stats.errors),
        (0, 0, 0),
        "{stats:?}"
    );
}

/// A memfd mapped twice: the test writes the file's pages through one
/// mapping (the page cache has them), the other is registered MINOR. Two
/// threads touch every page of it once (one reads its pages, the other
/// stores to its own): each touch is one minor fault, continued, and
/// sees (or changes) the page cache's page. A page the test never wrote
/// is not in the page cache: the kernel fills it without asking.
#[test]
fn minor_faults_on_shmem_are_continued_from_the_page_cache() {
    const PAGES: u64 = 256;
    const HOLE: u64 = PAGES - 1;
    let Some(uffd) = open(features::MINOR_SHMEM, "MINOR mode on shmem") else {
        return;
    };
    let started = Instant::now();
    let len = PAGES * PAGE;
    // SAFETY: memfd_create takes a C string and flags; it returns a new
    // descriptor (or -1), which we then own alone.
    let fd = unsafe { libc::memfd_create(c"pervma-minor".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "{}", std::io::Error::last_os_error());
    // SAFETY: `fd` is new and nobody else's.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ftruncate of our own descriptor.
    let r = unsafe { libc::ftruncate(fd.as_raw_fd(), len as i64) };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    let backing = Arc::new(Region::shared(&fd, len));
    for page in 0..HOLE {
        for off in 0..PAGE {
            backing.write(page, off, before(page, off));
        }
    }
    let region = Arc::new(Region::shared(&fd, len));
    // SAFETY: the region is this test's alone, and a pager serves the
    // descriptor before any thread touches it.
    let ranges = unsafe { uffd.register(region.addr, len, Mode::MINOR) }.unwrap();
    assert_ne!(ranges & ioctls::CONTINUE, 0, "{ranges:#x}");
    assert_eq!(ranges & ioctls::WRITEPROTECT, 0, "{ranges:#x}");
    // The range is not registered in WP mode.
    let e = uffd.write_protect(region.addr, PAGE, true).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");

    let file = File::new("memfd", len);
    let mm: Mm<()> = Mm::new();
    let rw = Prot::READ | Prot::WRITE;
    let flags = MapFlags::SHARED | MapFlags::FIXED;
    mm.mmap(region.addr, len, rw, flags, Some((file, 0)), ())
        .unwrap();
    let mm = Arc::new(mm);
    let recorder = Recorder::new();
    let pager = pager(&mm, &uffd, &recorder);

    let r = region.clone();
    bounded("touches", 2, move |t| {
        for page in (t..HOLE).step_by(2) {
            if t == 0 {
                for off in 0..PAGE {
                    assert_eq!(r.read(page, off), before(page, off), "page {page}");
                }
            } else {
                let (off, byte) = store(page);
                r.write(page, off, byte);
            }
        }
    });
    // The stores went to the page cache: the other mapping sees them.
    for page in 0..HOLE {
        let (off, byte) = store(page);
        let want = if page % 2 == 1 {
            byte
        } else {
            before(page, off)
        };
        assert_eq!(backing.read(page, off), want, "page {page}");
    }
    let seen = recorder.seen();
    assert_eq!(seen.len() as u64, HOLE, "one fault per page");
    for (page, (fault, _)) in (0..HOLE).zip(&seen) {
        assert_eq!(fault.page, region.addr + page * PAGE, "{seen:?}");
        assert!(fault.minor && !fault.wp, "{fault:?}");
        assert_eq!(fault.write, page % 2 == 1, "{fault:?}");
    }
    // The hole: no minor fault (MISSING is not registered).
    let r = region.clone();
    bounded("the hole", 1, move |_| assert_eq!(r.read(HOLE, 0), 0));

    let stats = pager.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(
        (stats.faults, stats.continued, stats.served()),
        (HOLE, HOLE, HOLE),
        "{stats:?}"
    );
    assert_eq!(
        (stats.exists, stats.woken, stats.again, stats.errors),
        (0, 0, 0, 0),
        "{stats:?}"
    );
    uffd.unregister(region.addr, len).unwrap();
    eprintln!("{HOLE} pages in {:?}: {stats:?}", started.elapsed());
}

/// A write-protect fault where the `Mm` describes nothing: the pager
/// unprotects the page (a wake would leave the writer faulting forever)
/// without asking the contents.
#[test]
fn a_write_protect_fault_outside_the_mm_is_unprotected() {
    let Some(uffd) = open(features::PAGEFAULT_FLAG_WP, "WP mode on anonymous memory") else {
        return;
    };
    let region = Arc::new(Region::anonymous(2 * PAGE));
    region.write(0, 0, 1);
    region.write(1, 0, 2);
    let mode = Mode {
        missing: true,
        wp: true,
        minor: false,
    };
    // SAFETY: the region is this test's alone, every page is present, and
    // a pager serves the descriptor before any thread writes there.
    unsafe { uffd.register(region.addr, region.len, mode) }.unwrap();
    uffd.write_protect(region.addr, region.len, true).unwrap();
    // The Mm describes page 0 only.
    let mm: Mm<()> = Mm::new();
    let rw = Prot::READ | Prot::WRITE;
    let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    mm.mmap(region.addr, PAGE, rw, flags, None, ()).unwrap();
    let recorder = Recorder::new();
    let pager = pager(&Arc::new(mm), &uffd, &recorder);
    let r = region.clone();
    bounded("store outside the Mm", 1, move |_| {
        r.write(1, 0, 3);
        assert_eq!(r.read(1, 0), 3);
    });
    assert!(recorder.seen().is_empty());
    let stats = pager.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(
        (stats.faults, stats.unmapped, stats.unprotected, stats.woken),
        (1, 1, 1, 0),
        "{stats:?}"
    );
}

/// MISSING + WP with `WP_UNPOPULATED`: protecting the range marks its
/// missing pages too. A touch of a marked page is a MISSING fault; the
/// kernel refuses a zero page there (`EEXIST`: the marker), and the pager
/// maps a write-protected copy of zeroes instead, so a read goes on and a
/// store faults again, now as a write-protect fault. Without that, the
/// thread would be woken to the same refusal forever.
#[test]
fn unpopulated_pages_protected_by_a_marker_fault_missing_then_wp() {
    let Some(uffd) = open(
        features::PAGEFAULT_FLAG_WP | features::WP_UNPOPULATED,
        "UFFD_FEATURE_WP_UNPOPULATED",
    ) else {
        return;
    };
    let region = Arc::new(Region::anonymous(4 * PAGE));
    let (recorder, pager) = serve_write_protected(&uffd, &region);
    let step = |what: &str, f: fn(&Region)| {
        let r = region.clone();
        bounded(what, 1, move |_| f(&r));
    };
    step("read a marked page", |r| assert_eq!(r.read(0, 0), 0));
    step("store to it", |r| r.write(0, 0, 1));
    step("store to another marked page", |r| {
        r.write(1, 5, 2);
        assert_eq!((r.read(1, 5), r.read(1, 6)), (2, 0));
    });
    let page = |p: u64| region.addr + p * PAGE;
    let faults: Vec<(u64, bool, bool)> = recorder
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(f, _)| (f.page, f.write, f.wp))
        .collect();
    assert_eq!(
        faults,
        [
            (page(0), false, false), // MISSING: a protected zero page
            (page(0), true, true),   // WP
            (page(1), true, false),  // MISSING, for a store
            (page(1), true, true),   // and WP, for the same store
        ],
        "(page, write, wp)"
    );
    let stats = pager.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(
        (stats.faults, stats.zeroed, stats.unprotected),
        (4, 2, 2),
        "{stats:?}"
    );
    assert_eq!(
        (stats.exists, stats.woken, stats.errors),
        (0, 0, 0),
        "{stats:?}"
    );
}
