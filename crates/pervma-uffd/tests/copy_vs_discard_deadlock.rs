//! A user copy through [`OwnMemory`] racing `MADV_DONTNEED`, as a
//! regression test: "user copy via OwnMemory can race MADV_DONTNEED and
//! wait for a handler holding the VMA lock".
//!
//! pervma's `madvise(MADV_DONTNEED)` does not write-lock the VMA (faults
//! may race with it, as in Linux): it drops the real pages
//! (`Backend::discard`), then zaps its own record. A copy
//! (`Mm::access_read`/`access_write`) that found the page in the record,
//! under the VMA read lock, and touched the real page after the real
//! discard, took a real userfault and waited for a handler thread. The
//! handler resolves under `Mm::lock_vma`; with a writer (`mprotect` of the
//! same VMA) waiting in `vma_start_write` for the copier's read lock, its
//! fast path fails and it waits for `mmap_lock` behind the writer: the
//! writer waits for the copier, the copier for the handler, the handler
//! for the writer. `OwnMemory`'s copies now make the page present
//! themselves and keep discards out while they copy (see its docs).
//!
//! Three threads over the same pages of a private file mapping: a copier
//! (reads and writes through the `Mm`), a discarder (`MADV_DONTNEED`
//! through the `Mm`) and a writer (`mprotect` of the whole VMA, back and
//! forth), one handler thread, for about two seconds. The main thread
//! watches their progress: no progress for 10 s is the deadlock, and the
//! test fails with a message instead of hanging (the stuck threads are
//! left behind, detached). Every page read is the file's page or, for the
//! page the copier writes, entirely the copier's bytes.

use pervma::{Advice, File, MapFlags, Mm, Prot};
use pervma_uffd::{
    FileContents, OpenOptions, OwnMemory, Pager, PagerConfig, Uffd, Unmapped, Wait, PAGE,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Pages of the mapping, all raced over.
const PAGES: u64 = 4;
/// The page the copier writes (the others it only reads).
const WRITTEN: u64 = 1;
/// What it writes there: a byte no page of the file is made of alone.
const MINE: u8 = 0xa5;
const RUN: Duration = Duration::from_secs(2);
const STUCK: Duration = Duration::from_secs(10);

/// The byte at offset `o` of the file (never a whole page of `MINE`).
fn pattern(o: u64) -> u8 {
    ((o / PAGE) * 7 + (o % 251)) as u8
}

fn race(wait: Wait) {
    let uffd = match Uffd::open(OpenOptions::default()) {
        Ok(u) => Arc::new(u),
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    };
    let file = File::new("data", PAGES * PAGE);
    let bytes: Arc<[u8]> = (0..PAGES * PAGE).map(pattern).collect();
    let contents = Arc::new(FileContents::new().with_bytes(&file, bytes));
    let (memory, config) = OwnMemory::reserve(1 << 20, uffd.clone(), contents.clone()).unwrap();
    let base = memory.base();
    let mm: Arc<Mm<()>> = Arc::new(Mm::with_backend(config, memory));
    let config = PagerConfig {
        threads: 1,
        wait,
        unmapped: Unmapped::Wake,
        apply_events: false,
    };
    let pager = Pager::start(mm.clone(), uffd, contents, config).unwrap();
    let rw = Prot::READ | Prot::WRITE;
    let flags = MapFlags::PRIVATE | MapFlags::FIXED;
    let len = PAGES * PAGE;
    let region = mm.mmap(base, len, rw, flags, Some((file, 0)), ()).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    // Iterations of the copier, the discarder and the writer.
    let progress: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
    let copier = {
        let (mm, stop, progress) = (mm.clone(), stop.clone(), progress.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; len as usize];
            let mine = vec![MINE; PAGE as usize];
            while !stop.load(Relaxed) {
                mm.access_write(region + WRITTEN * PAGE, &mine).unwrap();
                mm.access_read(region, &mut buf).unwrap();
                for (i, page) in buf.chunks(PAGE as usize).enumerate() {
                    let i = i as u64;
                    let file = page
                        .iter()
                        .enumerate()
                        .all(|(o, &b)| b == pattern(i * PAGE + o as u64));
                    let written = i == WRITTEN && page == &mine[..];
                    assert!(
                        file || written,
                        "page {i} is neither the file's nor the copier's"
                    );
                }
                progress[0].fetch_add(1, Relaxed);
            }
        })
    };
    let discarder = {
        let (mm, stop, progress) = (mm.clone(), stop.clone(), progress.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Relaxed) {
                let page = region + (i % PAGES) * PAGE;
                mm.madvise(page, PAGE, Advice::DontNeed).unwrap();
                i += 1;
                progress[1].fetch_add(1, Relaxed);
            }
        })
    };
    let writer = {
        let (mm, stop, progress) = (mm.clone(), stop.clone(), progress.clone());
        std::thread::spawn(move || {
            // The protection changes (so the VMA is write-locked) but
            // always allows the copier's reads and writes.
            let prots = [rw | Prot::EXEC, rw];
            let mut i = 0;
            while !stop.load(Relaxed) {
                mm.mprotect(region, len, prots[i % 2]).unwrap();
                i += 1;
                progress[2].fetch_add(1, Relaxed);
            }
        })
    };

    let names = ["copier", "discarder", "writer"];
    let threads = [copier, discarder, writer];
    let started = Instant::now();
    let mut last = [0u64; 3];
    let mut moved = [Instant::now(); 3];
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if started.elapsed() >= RUN {
            stop.store(true, Relaxed);
        }
        for (i, t) in threads.iter().enumerate() {
            assert!(
                !t.is_finished() || stop.load(Relaxed),
                "the {} thread died early (a failed assertion: see its panic above)",
                names[i]
            );
            let now = progress[i].load(Relaxed);
            if now != last[i] || t.is_finished() {
                (last[i], moved[i]) = (now, Instant::now());
            } else if moved[i].elapsed() > STUCK {
                // Leave the stuck threads (and the pager) behind: joining or
                // shutting down would hang too.
                std::mem::forget(pager);
                panic!(
                    "deadlock: the {} thread made no progress for {STUCK:?} \
                     (progress: copier {}, discarder {}, writer {}); a user copy \
                     through OwnMemory waits for the handler, which waits for \
                     mmap_lock behind the mprotect, which waits for the copy's \
                     VMA lock",
                    names[i], last[0], last[1], last[2]
                );
            }
        }
        if threads.iter().all(|t| t.is_finished()) {
            break;
        }
    }
    for (t, name) in threads.into_iter().zip(names) {
        t.join()
            .unwrap_or_else(|_| panic!("the {name} thread panicked"));
    }
    let stats = pager.shutdown(Duration::from_secs(5)).unwrap();
    eprintln!(
        "{wait:?}: copier {}, discarder {}, writer {} iterations; {stats:?}",
        last[0], last[1], last[2]
    );
    assert_eq!(stats.errors, 0, "{stats:?}");
    assert!(last.iter().all(|&n| n > 0), "some thread did nothing");
}

#[test]
fn copy_vs_discard_no_deadlock_blocking_handler() {
    race(Wait::Block);
}

#[test]
fn copy_vs_discard_no_deadlock_spinning_handler() {
    race(Wait::Spin(Duration::from_micros(50)));
}
