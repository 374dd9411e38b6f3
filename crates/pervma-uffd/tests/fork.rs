//! `UFFD_EVENT_FORK`: a process whose registered memory a pager serves
//! forks; the child's missing pages are served by a pager of its own over
//! `Mm::fork` of the parent's, the parent's own pages stay the parent's,
//! and the child's pager stops once the child exits. Real memory and a
//! real `fork(2)` (CI runs as root); bounded in time.

use pervma::{File, MapFlags, Mm, Prot};
use pervma_uffd::{
    features, FileContents, Mode, OpenOptions, Pager, PagerConfig, Uffd, Unmapped, Wait, PAGE,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PAGES: u64 = 64;
/// Pages the parent touches before the fork.
const BEFORE: u64 = 16;

/// The byte at offset `o` of the file.
fn pattern(o: u64) -> u8 {
    ((o / PAGE) * 13 + o % 239) as u8
}

/// Whether the page at `addr` holds the file's page `page` (no
/// allocation: the child of a multi-threaded process runs this).
fn page_ok(addr: u64, page: u64) -> bool {
    (0..PAGE).all(|i| {
        // SAFETY: `addr` is a page of the test's mapping, which stays
        // mapped (and registered) while the test runs.
        let b = unsafe { std::ptr::read_volatile((addr + i) as *const u8) };
        b == pattern(page * PAGE + i)
    })
}

/// A fresh real mapping of `PAGES` pages, registered (MISSING) with
/// `uffd`.
fn mapping(uffd: &Uffd) -> u64 {
    let len = (PAGES * PAGE) as usize;
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    let prot = libc::PROT_READ | libc::PROT_WRITE;
    // SAFETY: a new anonymous mapping where the kernel chooses.
    let addr = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, -1, 0) };
    assert_ne!(addr, libc::MAP_FAILED);
    let addr = addr as u64;
    // SAFETY: the range is the test's fresh mapping: its missing pages are
    // the pager's to fill.
    unsafe { uffd.register(addr, PAGES * PAGE, Mode::MISSING) }.unwrap();
    addr
}

/// Waits up to 20 s for `pid`; its exit code, or it is killed and the
/// test fails.
fn wait_child(pid: libc::pid_t) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut status = 0;
        // SAFETY: waitpid on our own child, with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
            return libc::WEXITSTATUS(status);
        }
        if Instant::now() > deadline {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the child hung: its faults were not served");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn fork_child_is_served_with(wait: Wait) {
    let opts = OpenOptions {
        features: features::EVENT_FORK | features::THREAD_ID,
        ..OpenOptions::default()
    };
    let uffd = match Uffd::open(opts) {
        Ok(u) if u.features() & features::EVENT_FORK != 0 => Arc::new(u),
        Ok(_) => return eprintln!("skipped: no UFFD_FEATURE_EVENT_FORK"),
        Err(e) => return eprintln!("skipped: {e}"),
    };
    let addr = mapping(&uffd);
    let file = File::new("image", PAGES * PAGE);
    let bytes: Arc<[u8]> = (0..PAGES * PAGE).map(pattern).collect();
    let contents = Arc::new(FileContents::new().with_bytes(&file, bytes));
    // The Mm describes the real mapping: the file's pages at `addr`.
    let mm: Mm<()> = Mm::new();
    let rw = Prot::READ | Prot::WRITE;
    let flags = MapFlags::PRIVATE | MapFlags::FIXED;
    mm.mmap(addr, PAGES * PAGE, rw, flags, Some((file, 0)), ())
        .unwrap();
    let config = PagerConfig {
        threads: 2,
        wait,
        unmapped: Unmapped::Poison,
        apply_events: true,
    };
    let pager = Pager::start(Arc::new(mm), uffd, contents, config).unwrap();

    for p in 0..BEFORE {
        assert!(page_ok(addr + p * PAGE, p), "parent, page {p}");
    }
    // The parent stores into page 0 (its own copy from now on).
    // SAFETY: page 0 of the test's mapping, mapped writable.
    unsafe { std::ptr::write_volatile(addr as *mut u8, !pattern(0)) };

    // SAFETY: the child only loads and stores into the test's mapping and
    // calls _exit: no allocation, no lock another thread may hold.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // The child: page 0 is the parent's copy (present at the fork),
        // pages 1..BEFORE were present too, the rest fault to the child's
        // userfaultfd.
        // SAFETY: page 0 of the mapping, inherited.
        let first = unsafe { std::ptr::read_volatile(addr as *const u8) };
        let mut code = if first == !pattern(0) { 0 } else { 1 };
        for p in 1..PAGES {
            if !page_ok(addr + p * PAGE, p) {
                code = 2;
            }
        }
        // A store of the child's own: the parent must not see it.
        // SAFETY: as above; the child's private copy.
        unsafe { std::ptr::write_volatile((addr + (PAGES - 1) * PAGE) as *mut u8, 0x5a) };
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    assert!(pid > 0, "fork: {}", std::io::Error::last_os_error());
    let code = wait_child(pid);
    assert_eq!(
        code, 0,
        "the child read wrong bytes (1: page 0, 2: a served page)"
    );

    // The parent's missing pages are still the parent pager's to serve.
    for p in BEFORE..PAGES {
        assert!(
            page_ok(addr + p * PAGE, p),
            "parent after the fork, page {p}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while pager.live_children() > 0 {
        assert!(
            Instant::now() < deadline,
            "the child's pager still runs 10 s after the child exited"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = pager
        .shutdown(Duration::from_secs(5))
        .expect("no stuck thread");
    assert_eq!(stats.forks, 1);
    // Parent: BEFORE pages, then the rest; child: the pages past BEFORE.
    let missing = PAGES - BEFORE;
    assert_eq!(stats.copied, BEFORE + missing + missing, "{stats:?}");
    assert_eq!((stats.errors, stats.exists), (0, 0), "{stats:?}");
    // SAFETY: the test's mapping, which no thread touches any more.
    unsafe { libc::munmap(addr as *mut _, (PAGES * PAGE) as usize) };
}

/// One test for both modes: a `fork` copies every registered range of
/// the process, so two tests forking at once would each get the other's
/// `FORK` event too (and wait for a pager that may be gone).
#[test]
fn fork_child_is_served() {
    fork_child_is_served_with(Wait::Block);
    fork_child_is_served_with(Wait::Spin(Duration::from_micros(50)));
}
