//! The read bias's per-thread reader tables at their edges: more threads
//! than tables, and read guards dropped while their thread's locals are
//! torn down. A writer that misses a reader's release would hang, so each
//! writer runs on a thread the test waits for with a deadline.

use pervma::{MapFlags, Mm, Prot, VmaReadGuard};
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Barrier};
use std::time::Duration;

const P: u64 = 4096;
const A: u64 = 0x10_0000;

fn mm() -> &'static Mm<u32> {
    let mm: &'static Mm<u32> = Box::leak(Box::new(Mm::new()));
    mm.mmap(
        A,
        4 * P,
        Prot::READ,
        MapFlags::PRIVATE | MapFlags::FIXED,
        None,
        1,
    )
    .unwrap();
    // The first lookup takes the count and biases the VMA.
    drop(mm.lock_vma(A));
    mm
}

/// Runs `mprotect` of a page of the VMA at `A` (which write-locks it) on
/// another thread, and fails the test if it has not returned within a
/// generous deadline: a slot that stayed held, or a lost wake-up.
fn write_lock_within_deadline(mm: &'static Mm<u32>, prot: Prot) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        mm.mprotect(A + P, P, prot).unwrap();
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(Duration::from_secs(30))
        .expect("the writer still waits for a reader that has gone");
}

/// 300 threads hold a read lock on one biased VMA at once: the first ones
/// in slots of their own tables, those beyond the tables on the count.
/// A writer waits for every one of them, and afterwards the tables are
/// given back and claimed again by the next threads.
#[test]
fn more_threads_than_tables_fall_back_to_the_count() {
    const THREADS: usize = 300;
    let mm = mm();
    for round in 0..2 {
        let all_hold = Barrier::new(THREADS + 1);
        let released = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    let v = mm.lock_vma(A).expect("mapped");
                    all_hold.wait();
                    // Hold it while the writer starts.
                    std::thread::sleep(Duration::from_millis(20));
                    assert_eq!(v.start(), A, "changed under a read lock");
                    released.fetch_add(1, SeqCst);
                    drop(v);
                });
            }
            all_hold.wait();
            let prot = if round == 0 {
                Prot::READ | Prot::WRITE
            } else {
                Prot::READ
            };
            mm.mprotect(A + P, P, prot).unwrap();
            assert_eq!(
                released.load(SeqCst),
                THREADS,
                "the writer got in while readers held the VMA"
            );
        });
    }
    write_lock_within_deadline(mm, Prot::READ | Prot::WRITE);
}

thread_local! {
    static HELD: RefCell<Option<VmaReadGuard<'static, u32>>> = const { RefCell::new(None) };
}

/// A read guard kept in a thread-local is dropped while the thread's
/// locals are torn down, before or after the one that gives the thread's
/// reader table back (the order is the platform's): its slot must still
/// be found and emptied, so that a writer gets in.
#[test]
fn guards_dropped_by_thread_local_destructors_release_their_slots() {
    let mm = mm();
    for guard_first in [true, false] {
        std::thread::spawn(move || {
            if guard_first {
                // Register `HELD`'s destructor before the reader table's.
                HELD.with(|_| ());
            } else {
                // Claim a table (and register its owner) first.
                drop(mm.lock_vma(A + P));
            }
            let v = mm.lock_vma(A).expect("mapped");
            HELD.with(|h| *h.borrow_mut() = Some(v));
        })
        .join()
        .unwrap();
        write_lock_within_deadline(mm, Prot::READ | Prot::WRITE);
        write_lock_within_deadline(mm, Prot::READ);
        // Readers bias it again for the next round.
        std::thread::sleep(Duration::from_millis(1));
        drop(mm.lock_vma(A));
    }
}
