//! A user-mode emulator's memory on pervma, in one sitting.
//!
//! The guest's address space is a `pervma::Mm` whose memory is one host
//! reservation ([`HostMemory`]): guest address `a` is host address
//! `base + a`. Three threads share it, as in QEMU's linux-user:
//!
//! - two **vCPUs** run a guest "program" of loads and stores. Each keeps
//!   a software TLB (guest page -> writable?) and, on a hit, touches host
//!   memory directly; on a miss it asks pervma (`Mm::handle_fault`), which
//!   either maps the page in the host (through the backend) or says which
//!   signal the guest gets;
//! - a **monitor** makes guest syscalls meanwhile (`mmap`, `mprotect`,
//!   `munmap` over the vCPUs' memory), which pervma applies to the host
//!   reservation itself.
//!
//! The TLBs stay true through an MMU notifier, with KVM's protocol
//! (`mmu_invalidate_seq`, `mmu_invalidate_in_progress`): an invalidation
//! flushes the range before the host memory changes, and a refill that
//! raced with one is thrown away and retried. So a vCPU never touches a
//! host page that the guest no longer maps as the TLB says: if it did,
//! the host would kill this process with `SIGSEGV`.
//!
//! ```text
//! cargo run --release -p pervma-host --example emulator [SECONDS]
//! ```

use pervma::{Access, FaultError, MapFlags, Mm, MmConfig, MmuNotifier, MmuNotifierRange, Prot};
use pervma_host::HostMemory;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const PAGE: u64 = 4096;
/// The guest's address space: 4 GiB, its memory at the reservation.
const GUEST_SIZE: u64 = 1 << 32;
/// The guest memory the vCPUs use and the monitor remaps: 64 pages.
const HEAP: u64 = 0x1000_0000;
const HEAP_PAGES: u64 = 64;

/// A vCPU's software TLB: guest page -> writable, and KVM's invalidation
/// state.
#[derive(Default)]
struct Tlb {
    entries: HashMap<u64, bool>,
    /// Bumped by every invalidation: a refill that read an older value
    /// may have raced with one.
    seq: u64,
    /// Invalidations between their start and end: no refill meanwhile.
    in_progress: u32,
}

#[derive(Default)]
struct Vcpu {
    tlb: Mutex<Tlb>,
    flushes: AtomicU64,
}

/// The MMU notifier: every vCPU forgets the range before the host memory
/// under it changes.
struct TlbShootdown(Vec<Arc<Vcpu>>);

impl MmuNotifier for TlbShootdown {
    fn invalidate_range_start(&self, range: &MmuNotifierRange) {
        for vcpu in &self.0 {
            let mut tlb = vcpu.tlb.lock().unwrap();
            tlb.in_progress += 1;
            tlb.seq += 1;
            tlb.entries
                .retain(|&page, _| page < range.start || page >= range.end);
            vcpu.flushes.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn invalidate_range_end(&self, _range: &MmuNotifierRange) {
        for vcpu in &self.0 {
            vcpu.tlb.lock().unwrap().in_progress -= 1;
        }
    }
}

/// What one vCPU did.
#[derive(Debug, Default)]
struct Counts {
    /// Accesses served by the TLB: host memory touched directly.
    hits: u64,
    /// TLB entries filled after pervma's fault path said yes.
    refills: u64,
    /// Refills thrown away because an invalidation ran meanwhile (the
    /// vCPU goes round again until it ends, as KVM's vCPUs do).
    retries: u64,
    /// Accesses the guest got `SIGSEGV` for (unmapped, or a store to
    /// read-only memory).
    segv: u64,
}

/// One guest access at `addr`: through the TLB, or by a fault and a
/// refill. `Err` is the signal the guest gets.
fn access(
    mm: &Mm<()>,
    host: &HostMemory,
    vcpu: &Vcpu,
    addr: u64,
    store: Option<u64>,
    counts: &mut Counts,
) -> Result<u64, FaultError> {
    let page = addr & !(PAGE - 1);
    let write = store.is_some();
    loop {
        let seq = {
            let tlb = vcpu.tlb.lock().unwrap();
            if tlb.entries.get(&page).is_some_and(|&w| w || !write) {
                counts.hits += 1;
                // The TLB lock is held: no invalidation of this page can
                // start (and change the host memory) before we are done.
                let word = host.host_ptr(addr).cast::<u64>();
                // SAFETY: the TLB says the guest maps `page` (readable,
                // and writable for a store) and the lock keeps that true;
                // the host mapping at `base + addr` follows the guest's.
                // `addr` is 8-aligned; other vCPUs access it atomically too.
                let word = unsafe { AtomicU64::from_ptr(word) };
                return Ok(match store {
                    Some(value) => {
                        word.store(value, Ordering::Relaxed);
                        value
                    }
                    None => word.load(Ordering::Relaxed),
                });
            }
            tlb.seq
        };
        // A miss: the guest's fault, decided by pervma (which maps the
        // page in the host through the backend, or gives the signal).
        let kind = if write { Access::Write } else { Access::Read };
        mm.handle_fault(addr, kind)?;
        let mut tlb = vcpu.tlb.lock().unwrap();
        if tlb.in_progress == 0 && tlb.seq == seq {
            counts.refills += 1;
            tlb.entries.insert(page, write);
        } else {
            counts.retries += 1; // an invalidation raced with the fault
        }
    }
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .map_or(1.0, |s| s.parse().expect("SECONDS"));
    let host = HostMemory::new(GUEST_SIZE).expect("reserve the guest's address space");
    let mut config = MmConfig::default();
    config.task_size = GUEST_SIZE;
    config.mmap_base = GUEST_SIZE / 2;
    let mm: Arc<Mm<()>> = Arc::new(Mm::with_backend(config, host.clone()));
    let vcpus: Vec<Arc<Vcpu>> = (0..2).map(|_| Arc::new(Vcpu::default())).collect();
    mm.mmu_notifier_register(Arc::new(TlbShootdown(vcpus.clone())));

    let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    let rw = Prot::READ | Prot::WRITE;
    mm.mmap(HEAP, HEAP_PAGES * PAGE, rw, anon, None, ())
        .expect("the guest heap");

    let stop = Arc::new(AtomicBool::new(false));
    let runners: Vec<_> = vcpus
        .iter()
        .enumerate()
        .map(|(id, vcpu)| {
            let (mm, host, vcpu, stop) = (mm.clone(), host.clone(), vcpu.clone(), stop.clone());
            thread::spawn(move || {
                let mut counts = Counts::default();
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ id as u64;
                while !stop.load(Ordering::Relaxed) {
                    // The guest program: store a word, load it back.
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let slot = (x % (HEAP_PAGES * PAGE / 16)) * 16 + 8 * id as u64;
                    let addr = HEAP + slot;
                    let stored = access(&mm, &host, &vcpu, addr, Some(x), &mut counts);
                    match stored.and_then(|_| access(&mm, &host, &vcpu, addr, None, &mut counts)) {
                        // The monitor may have replaced the page in between
                        // (fresh zeroes), never anything else.
                        Ok(v) => assert!(v == x || v == 0, "vCPU {id} read {v:#x} at {addr:#x}"),
                        // The guest's SIGSEGV handler: count and go on.
                        Err(_) => counts.segv += 1,
                    }
                }
                counts
            })
        })
        .collect();

    // The monitor: guest syscalls over the vCPUs' memory.
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let mut syscalls = 0u64;
    let mut r = 1u64;
    while Instant::now() < until {
        r = r
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let page = (r >> 33) % HEAP_PAGES;
        let pages = 1 + (r >> 20) % 4.min(HEAP_PAGES - page);
        let (start, len) = (HEAP + page * PAGE, pages * PAGE);
        let _ = match (r >> 8) % 3 {
            0 => mm.mprotect(start, len, Prot::READ),
            1 => mm.munmap(start, len),
            _ => mm
                .mmap(start, len, rw, anon, None, ())
                .map(|_| ())
                .map_err(|e| e.errno),
        };
        syscalls += 1;
        thread::sleep(Duration::from_micros(50));
    }
    stop.store(true, Ordering::Relaxed);
    for (id, runner) in runners.into_iter().enumerate() {
        let counts = runner.join().expect("a vCPU panicked");
        let flushes = vcpus[id].flushes.load(Ordering::Relaxed);
        println!("vCPU {id}: {counts:?}, {flushes} TLB flushes");
        assert!(
            counts.hits > 0 && counts.refills > 0,
            "vCPU {id} made no progress"
        );
    }
    println!("monitor: {syscalls} guest syscalls; final guest maps:");
    print!("{}", mm.maps());
}
