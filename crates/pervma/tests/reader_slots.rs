//! More maps readers than `no_std` has RCU reader slots (64), racing a
//! writer, must all finish: readers beyond the slots wait for one to come
//! free, and no reader may hold a slot while it waits for another (which
//! `lock_next_vmas_fast` once did for its re-check walk: with every slot
//! held by such a waiter, none would come free). That interleaving is too
//! rare to reproduce on demand (this test passed before the fix too); the
//! test guards the property as a whole, failing instead of hanging. Run
//! `cargo test -p pervma --no-default-features` for the slots; in `std`
//! builds it checks the same readers finish.
#![cfg(not(loom))]

use pervma::{MapFlags, Mm, Prot};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

const P: u64 = 4096;
const BASE: u64 = 0x1000_0000;
const READERS: usize = 96;

#[test]
fn more_maps_readers_than_reader_slots_never_hang() {
    let mm: Arc<Mm<()>> = Arc::new(Mm::new());
    let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    for i in 0..32 {
        // Alternate permissions: no merging, 32 lines.
        let prot = if i % 2 == 0 {
            Prot::READ
        } else {
            Prot::READ | Prot::WRITE
        };
        mm.mmap(BASE + 2 * i * P, P, prot, fixed, None, ()).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::channel();
    for _ in 0..READERS {
        let (mm, stop, done) = (mm.clone(), stop.clone(), done_tx.clone());
        thread::spawn(move || {
            while !stop.load(SeqCst) {
                let maps = mm.maps();
                assert!(maps.lines().count() >= 31, "{maps}");
            }
            done.send(()).unwrap();
        });
    }
    // The writer maps and unmaps in the gaps, so readers' re-checks run.
    let until = Instant::now() + Duration::from_millis(800);
    let mut i = 0u64;
    while Instant::now() < until {
        let gap = BASE + (2 * (i % 31) + 1) * P;
        mm.mmap(gap, P, Prot::NONE, fixed, None, ()).unwrap();
        mm.munmap(gap, P).unwrap();
        i += 1;
    }
    stop.store(true, SeqCst);
    for n in 0..READERS {
        done_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{} of {READERS} maps readers hung", READERS - n));
    }
}
