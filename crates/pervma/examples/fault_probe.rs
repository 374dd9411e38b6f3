//! Where does a second faulting thread's cost come from? Each thread
//! stores a byte to each page of a 256-page private mapping of its own
//! (`Mm::access_write`, a fault that allocates the page) and drops them
//! with `MADV_DONTNEED` after the last, as the bench's `fault` workload
//! does. Prints the per-thread on-CPU ns per fault with 1 and 2 threads
//! (pinned, thread `t` on CPU `t`) and the ratio, median of the rounds.
//!
//! `cargo run --release -p pervma --example fault_probe [-- rounds]`

use pervma::{Advice, MapFlags, Mm, Prot};
use std::sync::Barrier;

#[path = "common/clock.rs"]
mod clock;
#[path = "common/pin.rs"]
mod pin;
use clock::thread_cpu_ns;
use pin::pin_to_cpu;

const P: u64 = 4096;
const PAGES: u64 = 256;
const AREA: u64 = 0x4000_0000;
const FAULTS: u64 = 400_000;

fn run(mm: &Mm<u64>, threads: usize) -> f64 {
    let barrier = Barrier::new(threads);
    let per: Vec<f64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    pin_to_cpu(t);
                    let area = AREA + t as u64 * 2 * PAGES * P;
                    barrier.wait();
                    let t0 = thread_cpu_ns();
                    let mut page = 0;
                    for _ in 0..FAULTS {
                        mm.access_write(area + page * P, &[1]).unwrap();
                        page += 1;
                        if page == PAGES {
                            mm.madvise(area, PAGES * P, Advice::DontNeed).unwrap();
                            page = 0;
                        }
                    }
                    (thread_cpu_ns() - t0) as f64 / FAULTS as f64
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    per.iter().sum::<f64>() / per.len() as f64
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
        .max(1);
    let mm: Mm<u64> = Mm::new();
    let rw = Prot::READ | Prot::WRITE;
    for t in 0..2 {
        let area = AREA + t * 2 * PAGES * P;
        mm.mmap(
            area,
            PAGES * P,
            rw,
            MapFlags::PRIVATE | MapFlags::FIXED,
            None,
            t,
        )
        .unwrap();
    }
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        one.push(run(&mm, 1));
        two.push(run(&mm, 2));
    }
    one.sort_by(f64::total_cmp);
    two.sort_by(f64::total_cmp);
    let (one, two) = (one[rounds / 2], two[rounds / 2]);
    println!(
        "fault+store, per-thread on-CPU ns: 1 thread {one:.0}, 2 threads {two:.0}, {:.2}x",
        two / one
    );
}
