//! Data integrity under concurrency: threads write and read distinct
//! patterns through `access_write`/`access_read` while another thread
//! `mprotect`s, `mremap`s away and back, `madvise(DONTNEED)`s, and
//! `munmap`s/`mmap`s neighbouring and overlapping ranges of the same `Mm`.
//!
//! Every 8-byte word a thread writes at address `a` holds `a` in its low
//! seven bytes and the writer's id in the top byte. So every byte read
//! must be the byte of a word written to that very address, or zero (a
//! dropped or fresh page): a byte from another address, or from a page
//! that moved without its mapping, fails. A stable region that no one
//! changes must read back exactly what its owner wrote. Bounded in time;
//! no timing assertions.
#![cfg(feature = "std")]

use pervma::{Advice, FaultError, MapFlags, Mm, MremapFlags, Prot};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const P: u64 = 4096;
const RW: Prot = Prot::READ.union(Prot::WRITE);
const FIXED: MapFlags = MapFlags::PRIVATE.union(MapFlags::FIXED);
/// The stable region: 8 pages per accessor, changed by no one else.
const S: u64 = 0x1000_0000;
/// The volatile region, 32 pages, which the modifier keeps changing.
const V: u64 = 0x2000_0000;
const V_PAGES: u64 = 32;
/// Where the middle of the volatile region is moved to and back from.
const AWAY: u64 = 0x3000_0000;
const ACCESSORS: u64 = 2;
const RUN: Duration = Duration::from_millis(1500);

/// A tiny xorshift generator: reproducible, and no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn word(addr: u64, id: u64) -> u64 {
    addr | (id + 1) << 56
}

/// Checks the bytes of `buf`, read from `addr`, against the word rule.
fn check(addr: u64, buf: &[u8]) {
    for (i, &b) in buf.iter().enumerate() {
        let a = addr + i as u64;
        let word_addr = a & !7;
        let k = a & 7;
        let ok = if k == 7 {
            b as u64 <= ACCESSORS
        } else {
            b == 0 || b as u64 == (word_addr >> (8 * k)) & 0xff
        };
        assert!(ok, "byte {b:#x} at {a:#x} was never written there");
    }
}

#[test]
fn accesses_see_only_their_own_addresses_bytes_under_churn() {
    let mm: Mm<()> = Mm::new();
    mm.mmap(S, ACCESSORS * 8 * P, RW, FIXED, None, ()).unwrap();
    mm.mmap(V, V_PAGES * P, RW, FIXED, None, ()).unwrap();
    let stop = AtomicBool::new(false);
    let volatile_ok = AtomicU64::new(0);
    let changes = AtomicU64::new(0);
    let deadline = Instant::now() + RUN;
    std::thread::scope(|s| {
        for id in 0..ACCESSORS {
            let (mm, stop, volatile_ok) = (&mm, &stop, &volatile_ok);
            s.spawn(move || {
                let mut rng = Rng(0x9e37_79b9 + id);
                let mine = S + id * 8 * P;
                let mut stable = vec![0u64; (8 * P / 8) as usize];
                while !stop.load(Ordering::Relaxed) {
                    // The stable region reads back exactly.
                    let slot = rng.below(stable.len() as u64);
                    let value = rng.next();
                    let at = mine + slot * 8;
                    mm.access_write(at, &value.to_le_bytes()).unwrap();
                    stable[slot as usize] = value;
                    let mut back = [0u8; 8];
                    mm.access_read(at, &mut back).unwrap();
                    assert_eq!(u64::from_le_bytes(back), value, "stable word at {at:#x}");
                    // The volatile region: write a few words, read a range.
                    let at = V + rng.below(V_PAGES * P / 8) * 8;
                    let n = 1 + rng.below(64);
                    let end = (at + 8 * n).min(V + V_PAGES * P);
                    let data: Vec<u8> = (at..end)
                        .step_by(8)
                        .flat_map(|a| word(a, id).to_le_bytes())
                        .collect();
                    match mm.access_write(at, &data) {
                        Ok(()) => {
                            volatile_ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            assert_ne!(e.fault, FaultError::Bus, "{e}");
                            // What was copied before the stop is valid too.
                            assert!(e.copied <= data.len());
                        }
                    }
                    let at = V + rng.below(V_PAGES * P);
                    let mut buf = vec![0u8; 1 + rng.below(2 * P) as usize];
                    match mm.access_read(at, &mut buf) {
                        Ok(()) => check(at, &buf),
                        Err(e) => check(at, &buf[..e.copied]),
                    }
                }
                // At the end the whole stable area matches the model.
                let mut all = vec![0u8; 8 * P as usize];
                mm.access_read(mine, &mut all).unwrap();
                for (i, v) in stable.iter().enumerate() {
                    let got = u64::from_le_bytes(all[i * 8..i * 8 + 8].try_into().unwrap());
                    assert_eq!(got, *v, "stable word {i} of accessor {id}");
                }
            });
        }
        let (mm, stop, changes) = (&mm, &stop, &changes);
        s.spawn(move || {
            let mut rng = Rng(0x5eed);
            let mv = MremapFlags::MAYMOVE | MremapFlags::FIXED;
            while Instant::now() < deadline {
                let page = V + rng.below(V_PAGES) * P;
                match rng.below(6) {
                    // Split off a read-only page and merge it back.
                    0 => {
                        mm.mprotect(page, P, Prot::READ).unwrap();
                        mm.mprotect(page, P, RW).unwrap();
                    }
                    // Move the middle away and back: the data goes along.
                    1 => {
                        if mm.mremap(V + 8 * P, 8 * P, 8 * P, mv, AWAY).is_ok() {
                            mm.mremap(AWAY, 8 * P, 8 * P, mv, V + 8 * P).unwrap();
                        }
                    }
                    2 => mm.madvise(page, P, Advice::DontNeed).unwrap(),
                    // Unmap part and map it again: fresh zeroes.
                    3 => {
                        mm.munmap(V + 24 * P, 4 * P).unwrap();
                        mm.mmap(V + 24 * P, 4 * P, RW, FIXED, None, ()).unwrap();
                    }
                    // Neighbours appear and go.
                    4 => {
                        mm.mmap(V - 2 * P, 2 * P, RW, FIXED, None, ()).unwrap();
                        mm.munmap(V - 2 * P, 2 * P).unwrap();
                    }
                    // A new mapping over the last pages replaces them.
                    _ => {
                        mm.mmap(V + (V_PAGES - 2) * P, 2 * P, RW, FIXED, None, ())
                            .unwrap();
                    }
                }
                changes.fetch_add(1, Ordering::Relaxed);
            }
            stop.store(true, Ordering::Relaxed);
        });
    });
    let (ok, changes) = (volatile_ok.into_inner(), changes.into_inner());
    println!("{ok} volatile writes completed during {changes} changes");
    assert!(ok > 0 && changes > 0, "the test did nothing");
}
