//! `pervma uffd-handler` against a client that plays Firecracker's part
//! exactly: it maps the guest memory (private anonymous), registers it
//! with a userfaultfd (MISSING, `UFFD_FEATURE_EVENT_REMOVE` for the
//! balloon), connects to the handler's socket and sends the regions
//! (JSON) with the descriptor (`SCM_RIGHTS`); then guest threads touch
//! every page, checking each byte against the memory file, and a balloon
//! deflate (`MADV_DONTNEED`) must read back as zeroes.
//! Needs userfaultfd (CI runs as root); bounded in time.

use pervma_uffd::firecracker::{self, GuestRegion};
use pervma_uffd::{features, Mode, OpenOptions, Uffd, PAGE};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn pattern(o: u64) -> u8 {
    ((o / PAGE) * 13 + (o % 241)) as u8
}

/// The first byte of every 64 of the page at `addr`, and all of them for
/// one page in 16, checked against file offset `off`.
fn check(addr: u64, off: u64, zero: bool) {
    let mut buf = [0u8; PAGE as usize];
    // SAFETY: the guest memory is mapped for the whole test and only this
    // thread reads this page.
    unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), buf.len()) };
    for (i, b) in buf.iter().enumerate() {
        let want = if zero { 0 } else { pattern(off + i as u64) };
        assert_eq!(*b, want, "guest {addr:#x} byte {i}");
    }
}

#[test]
fn serves_a_vmm_from_its_memory_file() {
    let uffd = match Uffd::open(OpenOptions {
        user_mode_only: true,
        features: features::EVENT_REMOVE,
    }) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    };
    assert_ne!(uffd.features() & features::EVENT_REMOVE, 0);
    let dir = std::env::temp_dir().join(format!("pervma-uffd-handler-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (socket, mem) = (dir.join("uffd.sock"), dir.join("memory"));
    const PAGES: u64 = 2048; // 8 MiB, two regions of 4 MiB
    let bytes: Vec<u8> = (0..PAGES * PAGE).map(pattern).collect();
    std::fs::write(&mem, &bytes).unwrap();

    let mut handler = Command::new(env!("CARGO_BIN_EXE_pervma"));
    handler
        .args(["uffd-handler", "--socket"])
        .arg(&socket)
        .arg("--mem-file")
        .arg(&mem)
        .stderr(Stdio::piped());
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // As root (CI), serve with idle CPUs polling too.
        handler.args(["--cpu-latency-us", "0"]);
    }
    let mut handler = handler.spawn().unwrap();

    // The guest memory: one reservation, two regions with a gap between,
    // mapped in the file's order reversed (offsets matter).
    let len = PAGES * PAGE;
    // SAFETY: a new private anonymous mapping the kernel places.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            (len + (1 << 20)) as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED);
    let base = base as u64;
    let half = len / 2;
    let regions = [
        GuestRegion {
            base_host_virt_addr: base,
            size: half,
            offset: half,
            page_size: PAGE,
        },
        GuestRegion {
            base_host_virt_addr: base + half + (1 << 20),
            size: half,
            offset: 0,
            page_size: PAGE,
        },
    ];
    for r in &regions {
        // SAFETY: fresh memory of this test that nothing has read.
        unsafe { uffd.register(r.base_host_virt_addr, r.size, Mode::MISSING) }.unwrap();
    }
    let started = Instant::now();
    let stream = loop {
        match UnixStream::connect(&socket) {
            Ok(s) => break s,
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("the handler never listened: {e}"),
        }
    };
    firecracker::send(&stream, &regions, uffd.as_fd()).unwrap();

    // Four guest threads, interleaved pages of both regions.
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let regions = &regions;
            s.spawn(move || {
                for r in regions {
                    for p in (t..r.size / PAGE).step_by(4) {
                        check(r.base_host_virt_addr + p * PAGE, r.offset + p * PAGE, false);
                    }
                }
            });
        }
    });
    // A balloon deflate: the guest gave 64 pages back; the VMM drops them
    // (UFFD_EVENT_REMOVE), and they read as zeroes from now on.
    let balloon = regions[1].base_host_virt_addr + 100 * PAGE;
    // SAFETY: guest memory of this test; nothing holds references to it.
    let dropped =
        unsafe { libc::madvise(balloon as *mut _, (64 * PAGE) as usize, libc::MADV_DONTNEED) };
    assert_eq!(dropped, 0);
    for p in 0..64 {
        check(balloon + p * PAGE, 0, true);
    }
    // Pages around it still hold the file's bytes.
    check(balloon - PAGE, 99 * PAGE, false);
    check(balloon + 64 * PAGE, 164 * PAGE, false);

    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = handler.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            handler.kill().unwrap();
            panic!("the handler did not exit after the VMM hung up");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut log = String::new();
    std::io::Read::read_to_string(handler.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(status.success(), "{log}");
    assert!(
        log.contains(&format!("{} faults: {} copied", PAGES + 64, PAGES)),
        "{log}"
    );
    // SAFETY: the test's own mapping, no longer used.
    unsafe { libc::munmap(base as *mut _, (len + (1 << 20)) as usize) };
    let _ = std::fs::remove_dir_all(&dir);
}
