//! Readers lock VMAs at random addresses while a writer maps, unmaps,
//! replaces and splits in the same region. Bounded in time.
//!
//! Checked: every guard covers its address; what it shows stays put while
//! it is held (no writer changes a read-locked VMA); each VMA lies inside
//! the range its payload was created for; the lock counters balance; and
//! once everything is dropped, every payload (one per VMA) is freed.

use pervma::{MapFlags, Mm, Prot};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const P: u64 = 4096;
const BASE: u64 = 0x1000_0000;
const PAGES: u64 = 512;

/// A payload that counts its live copies (one per VMA).
struct Tracked {
    id: u64,
    live: Arc<AtomicUsize>,
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        self.live.fetch_add(1, Relaxed);
        Tracked {
            id: self.id,
            live: self.live.clone(),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Relaxed);
    }
}

impl PartialEq for Tracked {
    fn eq(&self, o: &Self) -> bool {
        self.id == o.id
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn duration() -> Duration {
    let ms = std::env::var("PERVMA_STRESS_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500);
    Duration::from_millis(ms)
}

#[test]
fn readers_vs_mmap_munmap_split() {
    let live = Arc::new(AtomicUsize::new(0));
    let created: RwLock<HashMap<u64, (u64, u64)>> = RwLock::new(HashMap::new());
    let mm: Mm<Tracked> = Mm::new();
    let stop = AtomicBool::new(false);
    let fast_calls = AtomicU64::new(0);
    let found = AtomicU64::new(0);
    let deadline = Instant::now() + duration();

    std::thread::scope(|s| {
        for r in 0..2u64 {
            let (mm, stop, created, fast_calls, found) =
                (&mm, &stop, &created, &fast_calls, &found);
            s.spawn(move || {
                let mut rng = Rng(0x9E37_79B9 + r);
                while !stop.load(Relaxed) {
                    let addr = BASE + rng.below(PAGES * P);
                    let helper = rng.below(2) == 0;
                    fast_calls.fetch_add(1, Relaxed);
                    let guard = if helper {
                        mm.lock_vma(addr)
                    } else {
                        mm.lock_vma_under_rcu(addr)
                    };
                    let Some(vma) = guard else { continue };
                    found.fetch_add(1, Relaxed);
                    let (start, end, id) = (vma.start(), vma.end(), vma.payload().id);
                    assert!(
                        start <= addr && addr < end,
                        "guard does not cover {addr:#x}"
                    );
                    assert_eq!(
                        vma.pgoff(),
                        start / P,
                        "pgoff of an anonymous VMA follows its start"
                    );
                    let (cs, ce) = created.read().unwrap()[&id];
                    assert!(
                        cs <= start && end <= ce,
                        "VMA outside the range it was created for"
                    );
                    // Hold it a while: a writer must not change it meanwhile.
                    for _ in 0..rng.below(200) {
                        std::hint::spin_loop();
                    }
                    assert_eq!((vma.start(), vma.end(), vma.payload().id), (start, end, id));
                }
            });
        }
        let (mm, stop, created, live) = (&mm, &stop, &created, &live);
        s.spawn(move || {
            let mut rng = Rng(42);
            let mut next_id = 0;
            while Instant::now() < deadline {
                let start = BASE + rng.below(PAGES) * P;
                let len = (1 + rng.below(32)) * P;
                let len = len.min(BASE + PAGES * P - start);
                match rng.below(4) {
                    0 | 1 => {
                        next_id += 1;
                        created
                            .write()
                            .unwrap()
                            .insert(next_id, (start, start + len));
                        live.fetch_add(1, Relaxed);
                        let payload = Tracked {
                            id: next_id,
                            live: live.clone(),
                        };
                        let flags = MapFlags::PRIVATE
                            | if rng.below(2) == 0 {
                                MapFlags::FIXED
                            } else {
                                MapFlags::FIXED_NOREPLACE
                            };
                        let _ = mm.mmap(start, len, Prot::READ | Prot::WRITE, flags, None, payload);
                    }
                    2 => mm.munmap(start, len).unwrap(),
                    _ => {
                        // Several changes in one write cycle.
                        let mut w = mm.mmap_write_lock();
                        w.munmap(start, P).unwrap();
                        next_id += 1;
                        created.write().unwrap().insert(next_id, (start, start + P));
                        live.fetch_add(1, Relaxed);
                        let payload = Tracked {
                            id: next_id,
                            live: live.clone(),
                        };
                        w.mmap(
                            start,
                            P,
                            Prot::READ,
                            MapFlags::PRIVATE | MapFlags::FIXED,
                            None,
                            payload,
                        )
                        .unwrap();
                    }
                }
            }
            stop.store(true, Relaxed);
        });
    });

    let stats = mm.stats();
    assert_eq!(
        stats.success + stats.abort,
        fast_calls.load(Relaxed),
        "every fast-path attempt ends in exactly one of SUCCESS or ABORT: {stats:?}"
    );
    assert!(stats.wait <= stats.abort);
    assert!(found.load(Relaxed) > 0);
    println!("stress: {stats:?}, {} guards", found.load(Relaxed));

    // Everything the Mm still maps is freed with it; what the writer
    // unmapped is freed after RCU grace periods.
    drop(mm);
    for _ in 0..200 {
        pervma::rcu_barrier();
        if live.load(Relaxed) == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(live.load(Relaxed), 0, "payloads (VMAs) leaked");
}

/// Readers hold many read locks at once on a few VMAs that their first
/// lookups biased (more than a thread's reader slots, so some are counts),
/// while a writer keeps write-locking those VMAs: mprotect of a page
/// inside one (a split, then a merge back), and unmapping and mapping one
/// again. Every revocation must find the slot readers, wait for them and
/// be woken by the last (a lost wake-up hangs the test).
///
/// Checked: every guard covers its address and stays inside its VMA's
/// home range; nothing a guard shows changes while any guard is held.
#[test]
fn readers_hold_biased_vmas_while_a_writer_revokes() {
    const HOMES: u64 = 16;
    const HOME: u64 = 4 * P;
    const BASE2: u64 = 0x2000_0000;
    let home_of = |id: u64| BASE2 + id * HOME;
    // Alternate protections so that neighbours never merge.
    let prot_of = |id: u64| {
        if id % 2 == 0 {
            Prot::READ
        } else {
            Prot::READ | Prot::WRITE
        }
    };
    let fixed = MapFlags::PRIVATE | MapFlags::FIXED;
    let mm: Mm<u64> = Mm::new();
    for id in 0..HOMES {
        mm.mmap(home_of(id), HOME, prot_of(id), fixed, None, id)
            .unwrap();
    }
    let stop = AtomicBool::new(false);
    let held_total = AtomicU64::new(0);
    let deadline = Instant::now() + duration();

    std::thread::scope(|s| {
        for r in 0..2u64 {
            let (mm, stop, held_total) = (&mm, &stop, &held_total);
            s.spawn(move || {
                let mut rng = Rng(0x5151_7A7A + r);
                while !stop.load(Relaxed) {
                    // Up to 12 at once: past the 8 slots of a thread.
                    let want = 1 + rng.below(12);
                    let mut held = Vec::new();
                    for _ in 0..want {
                        let addr = BASE2 + rng.below(HOMES * HOME);
                        // The fast path only: `lock_vma` must not be called
                        // while holding read locks of the same Mm.
                        let Some(vma) = mm.lock_vma_under_rcu(addr) else {
                            continue;
                        };
                        let seen = (vma.start(), vma.end(), *vma.payload(), vma.flags());
                        assert!(seen.0 <= addr && addr < seen.1, "guard misses {addr:#x}");
                        let home = home_of(seen.2);
                        assert!(
                            home <= seen.0 && seen.1 <= home + HOME,
                            "VMA {seen:x?} outside its home"
                        );
                        held.push((vma, seen));
                    }
                    held_total.fetch_add(held.len() as u64, Relaxed);
                    for _ in 0..rng.below(400) {
                        std::hint::spin_loop();
                    }
                    for (vma, seen) in &held {
                        let now = (vma.start(), vma.end(), *vma.payload(), vma.flags());
                        assert_eq!(now, *seen, "changed under a read lock");
                    }
                    // Release in a scrambled order.
                    while !held.is_empty() {
                        let i = rng.below(held.len() as u64) as usize;
                        drop(held.swap_remove(i));
                    }
                }
            });
        }
        let (mm, stop) = (&mm, &stop);
        s.spawn(move || {
            let mut rng = Rng(7);
            while Instant::now() < deadline {
                let id = rng.below(HOMES);
                let home = home_of(id);
                if rng.below(4) == 0 {
                    mm.munmap(home, HOME).unwrap();
                    mm.mmap(home, HOME, prot_of(id), fixed, None, id).unwrap();
                } else {
                    let page = home + (1 + rng.below(2)) * P;
                    mm.mprotect(page, P, prot_of(id + 1)).unwrap();
                    mm.mprotect(page, P, prot_of(id)).unwrap();
                }
            }
            stop.store(true, Relaxed);
        });
    });
    assert!(held_total.load(Relaxed) > 0);
    assert_eq!(mm.map_count(), HOMES as usize, "the homes merged back");
}
