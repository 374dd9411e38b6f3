//! Read-lock protocols for a per-VMA lock, side by side (issue "reads that
//! scale"). A stand-alone model: 1,000 objects, each `#[repr(align(64))]`
//! and 128 bytes like a `Vma<u64>`, with the lock words of pervma's
//! `RawVmaLock` (`vm_refcnt`, `vm_lock_seq`) rebuilt from std atomics, one
//! shared `mm_lock_seq` word, and a `Mutex` for `mmap_lock`. Every read
//! runs inside a `crossbeam_epoch::pin()` as pervma's `lock_vma` does.
//!
//! ```text
//! cargo run --release -p pervma --example read_protocols [-- bench [ROUNDS]]
//! cargo run --release -p pervma --example read_protocols -- check [SECONDS]
//! ```
//!
//! # The protocols
//!
//! **refcount** (pervma today, Linux 6.15+ `vma_start_read`). The reader
//! compares `vm_lock_seq` with `mm_lock_seq` (equal: write-locked, give
//! up), CAS-increments `vm_refcnt` unless it is 0 (detached) or
//! `>= VMA_REF_LIMIT` (a writer added `VMA_LOCK_OFFSET`), with Acquire,
//! then compares the sequence numbers again and backs out if they became
//! equal. Unlock is `fetch_sub(1, Release)` (the real one then wakes a
//! writer waiting for the last reader; here writers spin). The writer
//! (`vma_start_write`, under `mmap_lock`, in the odd write cycle `seq`)
//! does `fetch_add(VMA_LOCK_OFFSET)`, waits until the count is
//! `VMA_LOCK_OFFSET + 1` (its own and the tree's), stores
//! `vm_lock_seq = seq` and subtracts the offset. All write locks end
//! together when `mmap_write_unlock` makes `mm_lock_seq` even (Release).
//! Cost: every read is two locked RMWs on the object's line, so two threads
//! reading the same object (or objects whose lines they alternately own)
//! move the line between cores on every read.
//!
//! **bravo-global** (Dice & Kogan, "BRAVO: Biased Locking for
//! Reader-Writer Locks", USENIX ATC 2019). Each object gets an `rbias`
//! word. A reader that sees `rbias` set CASes `null -> object address`
//! into the slot `hash(thread, object)` of one global 4,096-entry
//! visible-readers table, then (SeqCst) re-reads `rbias` and, here, the
//! write-locked and detached state; if all is well it holds the read lock
//! without having written the object's line. Unlock stores null into the
//! slot (Release). A taken slot or a clear `rbias` sends the reader to the
//! refcount path; a reader that got the refcount path on an object whose
//! bias is off turns it back on (Release) once `inhibit_until` has passed.
//! The writer, after the refcount part has drained the slow readers,
//! clears `rbias` with an RMW (a full fence on x86), scans the whole table
//! until no slot holds this object, and sets `inhibit_until = now + 9 x
//! scan time` (BRAVO's N = 9), then stores `vm_lock_seq` as before.
//! Cost: a reader does one locked CAS on a table line, which is not the
//! object's but is shared with 7 other slots that any thread may hash to:
//! with many objects, two threads still take each other's table lines. A
//! revoking writer reads 4,096 slots (512 lines).
//!
//! **bravo-thread**: the same, but the visible-readers slots are 8 per
//! thread, one cache line per thread, in a global registry of up to 64
//! threads (claimed on a thread's first read, released when it exits, as
//! crossbeam-epoch participants are). A reader takes its first free slot
//! with a plain `store(SeqCst)` (an `xchg`, which is the store and the full
//! fence at once; only its owner ever writes a non-null value into a slot).
//! Cost: one locked instruction on a line only this thread writes: no line
//! moves between readers. A revoking writer reads 8 slots per registered
//! thread (one line each) and moves each reader's slot line to shared, so
//! that reader's next store has to take it back.
//!
//! **asym** (asymmetric fences): bravo-thread whose reader publishes with a
//! Relaxed store and only a `compiler_fence(SeqCst)` before re-reading
//! `rbias`, so its fast path has no locked instruction at all. The writer
//! pays: after clearing `rbias` it calls
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` (registered once with
//! `..._REGISTER_PRIVATE_EXPEDITED`), which runs a full barrier on every
//! CPU currently running a thread of this process (an IPI per such CPU)
//! before it scans the slots.
//!
//! **pin-only** (`crossbeam_epoch::pin()` and the payload read) and
//! **plain** (the payload read alone) are floors, not locks.
//!
//! # Why a writer never misses a fast reader
//!
//! It is Dekker's pattern. The reader does *store slot; fence; load rbias*,
//! the writer *RMW rbias := 0; load slots*. In bravo-global and
//! bravo-thread all four are SeqCst (an RMW or an `xchg` store on the
//! reader's side, plain loads after them), so they lie in one total order:
//! if the reader's load of `rbias` comes before the writer's RMW in that
//! order, its slot store comes before it too and the writer's scan, later
//! still, sees the slot and waits; otherwise the reader reads 0 (or a later
//! value) and takes the refcount path, which the writer's
//! `VMA_LOCK_OFFSET` excludes. In asym the reader has no fence instruction;
//! `membarrier` supplies one on the reader's CPU between the writer's RMW
//! and its scan: if the reader's store had not become visible by then, the
//! barrier drains it before the scan; if the reader's `rbias` load runs
//! after the barrier, it sees the RMW (and the compiler fence keeps the
//! compiler from moving the load above the store). This argument is the
//! Linux memory model's (`sys_membarrier`), not the C++ one.
//!
//! `rbias` is only turned on by a reader that holds a refcount read lock
//! and saw the object not write-locked, so no writer is between its
//! `VMA_LOCK_OFFSET` and its `vm_lock_seq` store then; the writer revokes
//! after draining refcount readers, so `rbias` stays 0 from the revocation
//! to the end of the write cycle, and a fast reader that saw it set also
//! saw (through that Release store) the last write cycle's payload. Unlock
//! stores null with Release and the writer's scan loads it, so the reader's
//! payload loads happen before the writer's next payload stores.
//!
//! # Cost model, and what is measured
//!
//! Reader: on-CPU ns per pin+lock+read+unlock (`CLOCK_THREAD_CPUTIME_ID`,
//! so other tenants' time is set aside) over 100 ms windows, 1 thread and
//! 2 threads at once (pinned to CPUs 0 and 1: left alone, the scheduler
//! often keeps two new threads on one CPU, where they take turns and never
//! contend), for objects random among 1,000, neighbours (thread 0 even,
//! thread 1 odd), the same object, and far apart; rounds interleave
//! protocols and thread counts and we print median and min, and `par`, how
//! many threads were on a CPU at once (a 2-thread run under 1.8 is retried
//! up to 3 times: another tenant had a CPU). The floors' own 2/1 ratio is
//! the machine's (shared core or cache, host noise), not a lock's.
//! Writer: ns per write cycle (`mmap_lock`, `mm_lock_seq` odd,
//! `vma_start_write` of one object, payload store, `mm_lock_seq` even)
//! with no reader holding it and two registered reader threads idle
//! (blocked): "bias off" is a writer on an object readers have not
//! re-biased since the last write (no revocation), "bias on" pays the
//! revocation (and, in asym, `membarrier`). Mixed: one reader on objects
//! 0..500 (CPU 0) while a writer (CPU 1) write-locks objects 500..1000
//! about every 1 us, each found biased (as if readers had re-enabled it
//! since), spinning on the clock in between; the reader's kept fraction is
//! its solo ns over its ns under the writer (the floors' rows show what a
//! busy neighbour CPU costs a reader that takes no lock).
//!
//! `check` runs two readers (holding 1-10 read locks at once, so past the 8
//! per-thread slots, then reading a payload pair that writers update with
//! two Relaxed stores) against two writers, per protocol, and counts torn
//! pairs. `plain` (no lock) and `asym-nobarrier` (asym without the
//! `membarrier`: unsound) are controls: a torn pair there shows the check
//! can see one.

use std::hint::{black_box, spin_loop};
use std::sync::atomic::{
    compiler_fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::*,
};
use std::sync::{Barrier, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const OBJECTS: usize = 1000;
/// How long each measurement runs.
const WINDOW: Duration = Duration::from_millis(100);
/// A 2-thread run counts if both threads were on a CPU this much of the time.
const MIN_PAR: f64 = 1.8;
const VMA_LOCK_OFFSET: u32 = 0x4000_0000;
const VMA_REF_LIMIT: u32 = VMA_LOCK_OFFSET - 1;
/// Visible-reader slots per thread (bravo-thread, asym).
const SLOTS: usize = 8;
const MAX_THREADS: usize = 64;
/// Entries of bravo-global's table.
const TABLE: usize = 4096;
/// BRAVO's N: the bias stays off for N times the revocation's duration.
const INHIBIT_N: u64 = 9;

const REFCOUNT: u8 = 0;
const BRAVO_GLOBAL: u8 = 1;
const BRAVO_THREAD: u8 = 2;
const ASYM: u8 = 3;
const ASYM_NOBARRIER: u8 = 4;
const PIN_ONLY: u8 = 5;
const PLAIN: u8 = 6;

fn name(k: u8) -> &'static str {
    [
        "refcount",
        "bravo-global",
        "bravo-thread",
        "asym",
        "asym-nobarrier",
        "pin-only",
        "plain",
    ][k as usize]
}

const fn biased(k: u8) -> bool {
    matches!(k, BRAVO_GLOBAL | BRAVO_THREAD | ASYM | ASYM_NOBARRIER)
}

/// Calls `$f::<K>($args)` with the protocol `$k` as a const parameter.
macro_rules! dispatch {
    ($k:expr, $f:ident ( $($arg:expr),* )) => {
        match $k {
            REFCOUNT => $f::<REFCOUNT>($($arg),*),
            BRAVO_GLOBAL => $f::<BRAVO_GLOBAL>($($arg),*),
            BRAVO_THREAD => $f::<BRAVO_THREAD>($($arg),*),
            ASYM => $f::<ASYM>($($arg),*),
            ASYM_NOBARRIER => $f::<ASYM_NOBARRIER>($($arg),*),
            PIN_ONLY => $f::<PIN_ONLY>($($arg),*),
            _ => $f::<PLAIN>($($arg),*),
        }
    };
}

/// One object: the lock words first, the payload on the same line (as a
/// VMA's `vm_start`/`vm_end` are), 128 bytes in all.
#[repr(C, align(64))]
struct Obj {
    vm_refcnt: AtomicU32,
    vm_lock_seq: AtomicU32,
    rbias: AtomicU32,
    _pad: u32,
    inhibit_until: AtomicU64,
    a: AtomicU64,
    /// `a`'s twin, for the torn-pair check.
    b: AtomicU64,
    _rest: [u64; 11],
}
const _: () = assert!(std::mem::size_of::<Obj>() == 128);

impl Obj {
    fn new(i: u64) -> Obj {
        Obj {
            vm_refcnt: AtomicU32::new(1),
            vm_lock_seq: AtomicU32::new(u32::MAX),
            rbias: AtomicU32::new(1),
            _pad: 0,
            inhibit_until: AtomicU64::new(0),
            a: AtomicU64::new(i),
            b: AtomicU64::new(i),
            _rest: [0; 11],
        }
    }
}

#[repr(align(128))]
struct Line<T>(T);

/// The address space: `mm_lock_seq` on a line of its own, `mmap_lock`, and
/// the objects.
struct Space {
    mm_lock_seq: Line<AtomicU32>,
    mmap_lock: Mutex<()>,
    objs: Vec<Obj>,
}

impl Space {
    fn new(n: usize) -> Space {
        Space {
            mm_lock_seq: Line(AtomicU32::new(0)),
            mmap_lock: Mutex::new(()),
            objs: (0..n as u64).map(Obj::new).collect(),
        }
    }
}

// ---- visible readers -----------------------------------------------------

/// One thread's slots, on a line of their own.
#[repr(align(64))]
struct Slots([AtomicUsize; SLOTS]);
static PARTS: [Slots; MAX_THREADS] =
    [const { Slots([const { AtomicUsize::new(0) }; SLOTS]) }; MAX_THREADS];
static IN_USE: [AtomicBool; MAX_THREADS] = [const { AtomicBool::new(false) }; MAX_THREADS];
/// High-water mark of registered threads: what a writer scans.
static REGISTERED: AtomicUsize = AtomicUsize::new(0);
static TOKENS: AtomicU64 = AtomicU64::new(1);

#[repr(align(64))]
struct Table([AtomicUsize; TABLE]);
static GLOBAL: Table = Table([const { AtomicUsize::new(0) }; TABLE]);

/// This thread's registration (per-thread slots) and hash token (global
/// table).
struct Me {
    idx: usize,
    token: u64,
}

impl Me {
    fn register() -> Me {
        let idx = (0..MAX_THREADS)
            .find(|&i| {
                IN_USE[i]
                    .compare_exchange(false, true, SeqCst, Relaxed)
                    .is_ok()
            })
            .expect("more than MAX_THREADS threads");
        REGISTERED.fetch_max(idx + 1, SeqCst);
        let token = TOKENS
            .fetch_add(1, Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Me { idx, token }
    }
}

impl Drop for Me {
    fn drop(&mut self) {
        debug_assert!(PARTS[self.idx].0.iter().all(|s| s.load(Relaxed) == 0));
        IN_USE[self.idx].store(false, Release);
    }
}

std::thread_local! {
    static ME: Me = Me::register();
}

// ---- the read side -----------------------------------------------------------

/// A held read lock.
enum Held<'a> {
    /// A visible-reader slot (fast path).
    Slot(&'static AtomicUsize),
    /// A `vm_refcnt` reference.
    Ref(&'a Obj),
    /// Nothing (the floors).
    Free,
}

/// `vma_start_read`: `None` if write-locked or detached.
#[inline(always)]
fn read_lock<'a, const K: u8>(sp: &Space, o: &'a Obj) -> Option<Held<'a>> {
    if K == PIN_ONLY || K == PLAIN {
        return Some(Held::Free);
    }
    let mm = &sp.mm_lock_seq.0;
    if o.vm_lock_seq.load(Relaxed) == mm.load(Acquire) {
        return None;
    }
    if biased(K) && o.rbias.load(Relaxed) != 0 {
        if let Some(slot) = fast_read::<K>(sp, o) {
            return Some(Held::Slot(slot));
        }
    }
    let mut c = o.vm_refcnt.load(Relaxed);
    loop {
        if c == 0 || c >= VMA_REF_LIMIT {
            return None;
        }
        match o.vm_refcnt.compare_exchange(c, c + 1, Acquire, Relaxed) {
            Ok(_) => break,
            Err(now) => c = now,
        }
    }
    if o.vm_lock_seq.load(Relaxed) == mm.load(Acquire) {
        o.vm_refcnt.fetch_sub(1, Release);
        return None;
    }
    if biased(K) && o.rbias.load(Relaxed) == 0 && mono_ns() >= o.inhibit_until.load(Relaxed) {
        // Re-bias, while holding the refcount (so no writer is between
        // its VMA_LOCK_OFFSET and its vm_lock_seq store).
        o.rbias.store(1, Release);
    }
    Some(Held::Ref(o))
}

/// Publish in a visible-reader slot, fence, re-check: the slot if the read
/// lock is held through it.
#[inline(always)]
fn fast_read<const K: u8>(sp: &Space, o: &Obj) -> Option<&'static AtomicUsize> {
    let addr = o as *const Obj as usize;
    let slot: &'static AtomicUsize = if K == BRAVO_GLOBAL {
        let h = ME.with(|me| (me.token ^ addr as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let s = &GLOBAL.0[(h >> 52) as usize];
        // A SeqCst RMW: the publication and the fence.
        s.compare_exchange(0, addr, SeqCst, Relaxed).ok()?;
        s
    } else {
        let slots = &PARTS[ME.with(|me| me.idx)].0;
        let s = slots.iter().find(|s| s.load(Relaxed) == 0)?;
        if K == BRAVO_THREAD {
            // An xchg: the publication and the fence.
            s.store(addr, SeqCst);
        } else {
            // The writer's membarrier is the fence.
            s.store(addr, Relaxed);
            compiler_fence(SeqCst);
        }
        s
    };
    let bias = if K == BRAVO_GLOBAL || K == BRAVO_THREAD {
        o.rbias.load(SeqCst)
    } else {
        o.rbias.load(Acquire)
    };
    if bias != 0
        && o.vm_lock_seq.load(Relaxed) != sp.mm_lock_seq.0.load(Acquire)
        && o.vm_refcnt.load(Relaxed) != 0
    {
        return Some(slot);
    }
    slot.store(0, Release);
    None
}

/// `vma_end_read`.
#[inline(always)]
fn unlock(h: Held<'_>) {
    match h {
        Held::Slot(s) => s.store(0, Release),
        // Linux then wakes a writer if it left only the writer's part.
        Held::Ref(o) => {
            o.vm_refcnt.fetch_sub(1, Release);
        }
        Held::Free => {}
    }
}

// ---- the write side ----------------------------------------------------------

/// `mmap_write_lock`: `mm_lock_seq` becomes odd, the cycle's number.
fn write_begin(sp: &Space) -> (MutexGuard<'_, ()>, u32) {
    let g = sp.mmap_lock.lock().unwrap();
    let seq = sp.mm_lock_seq.0.load(Relaxed).wrapping_add(1);
    sp.mm_lock_seq.0.store(seq, Relaxed);
    (g, seq)
}

/// `mmap_write_unlock`: all of the cycle's write locks end.
fn write_end(sp: &Space, g: MutexGuard<'_, ()>, seq: u32) {
    sp.mm_lock_seq.0.store(seq.wrapping_add(1), Release);
    drop(g);
}

/// `vma_start_write` in write cycle `seq`.
fn start_write<const K: u8>(o: &Obj, seq: u32) {
    if o.vm_lock_seq.load(Relaxed) == seq {
        return;
    }
    o.vm_refcnt.fetch_add(VMA_LOCK_OFFSET, Acquire);
    let mut b = Backoff(0);
    while o.vm_refcnt.load(Acquire) != VMA_LOCK_OFFSET + 1 {
        b.snooze();
    }
    if biased(K) {
        revoke::<K>(o);
    }
    o.vm_lock_seq.store(seq, Relaxed);
    o.vm_refcnt.fetch_sub(VMA_LOCK_OFFSET, Release);
}

/// BRAVO's revocation: bias off, (membarrier,) wait for the fast readers.
fn revoke<const K: u8>(o: &Obj) {
    if o.rbias.load(Relaxed) == 0 {
        return;
    }
    o.rbias.swap(0, SeqCst);
    if K == ASYM {
        membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    }
    let t0 = mono_ns();
    let addr = o as *const Obj as usize;
    let wait = |s: &AtomicUsize| {
        let mut b = Backoff(0);
        while s.load(SeqCst) == addr {
            b.snooze();
        }
    };
    if K == BRAVO_GLOBAL {
        GLOBAL.0.iter().for_each(wait);
    } else {
        PARTS[..REGISTERED.load(SeqCst)]
            .iter()
            .flat_map(|p| p.0.iter())
            .for_each(wait);
    }
    let t1 = mono_ns();
    o.inhibit_until.store(t1 + INHIBIT_N * (t1 - t0), Relaxed);
}

struct Backoff(u32);
impl Backoff {
    fn snooze(&mut self) {
        if self.0 < 64 {
            self.0 += 1;
            spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

fn membarrier(cmd: libc::c_int) -> libc::c_long {
    // SAFETY: membarrier(cmd, flags = 0, cpu_id = 0) takes no pointers.
    unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            cmd,
            0 as libc::c_uint,
            0 as libc::c_int,
        )
    }
}

// ---- clocks and the harness ------------------------------------------------

#[path = "common/clock.rs"]
mod clock;
use clock::{mono_ns, thread_cpu_ns};

/// Runs the calling thread on CPU `cpu` only (modulo the CPUs there are):
/// left to itself, the scheduler often keeps two just-spawned threads on
/// one CPU (wake-affine), which then take turns instead of contending.
#[path = "common/pin.rs"]
mod pin;
use pin::pin_to_cpu;

const RANDOM: u8 = 0;
const NEIGHBOURS: u8 = 1;
const SAME: u8 = 2;
const APART: u8 = 3;
const PATTERNS: [(u8, &str); 4] = [
    (RANDOM, "random"),
    (NEIGHBOURS, "neighbours"),
    (SAME, "same"),
    (APART, "apart"),
];

#[inline(always)]
fn index(pattern: u8, t: usize, i: u64) -> usize {
    let r = ((i ^ ((t as u64) << 40)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize;
    match pattern {
        RANDOM => r % OBJECTS,
        NEIGHBOURS => (r % (OBJECTS / 2)) * 2 + t,
        SAME => 0,
        APART => t * (OBJECTS / 2),
        _ => r % (OBJECTS / 2),
    }
}

/// One pin+lock+read+unlock of object `objs[idx]`.
#[inline(always)]
fn read_once<const K: u8>(sp: &Space, idx: usize) {
    let o = &sp.objs[idx];
    if K == PLAIN {
        black_box(o.a.load(Relaxed));
        return;
    }
    let g = crossbeam_epoch::pin();
    let h = read_lock::<K>(sp, o).expect("readers' objects are never write-locked");
    black_box(o.a.load(Relaxed));
    unlock(h);
    drop(g);
}

/// Runs `body(t, stop)` on `threads` threads (thread `t` pinned to CPU
/// `t`) from a common start until `stop` is set `WINDOW` later; returns
/// their results and the window's wall ns.
fn window<R: Send>(threads: usize, body: impl Fn(usize, &AtomicBool) -> R + Sync) -> (Vec<R>, u64) {
    let barrier = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, stop, body) = (&barrier, &stop, &body);
                s.spawn(move || {
                    pin_to_cpu(t);
                    barrier.wait();
                    body(t, stop)
                })
            })
            .collect();
        barrier.wait();
        let w0 = mono_ns();
        std::thread::sleep(WINDOW);
        stop.store(true, Relaxed);
        let r = hs.into_iter().map(|h| h.join().unwrap()).collect();
        (r, mono_ns() - w0)
    })
}

/// Reads with `pattern` as thread `t` until `stop`: (on-CPU ns, reads).
fn read_loop<const K: u8>(sp: &Space, pattern: u8, t: usize, stop: &AtomicBool) -> (u64, u64) {
    read_once::<K>(sp, index(pattern, t, 0)); // registers
    let c0 = thread_cpu_ns();
    let mut i = 0;
    while !stop.load(Relaxed) {
        for _ in 0..1024 {
            read_once::<K>(sp, index(pattern, t, i));
            i += 1;
        }
    }
    (thread_cpu_ns() - c0, i)
}

/// Per-thread on-CPU ns/read (mean of the threads) of `threads` threads
/// reading with `pattern` for `WINDOW`, and how many of them were on a CPU
/// at once on average (2.00: both all along).
fn readers<const K: u8>(sp: &Space, threads: usize, pattern: u8) -> (f64, f64) {
    let (r, wall) = window(threads, |t, stop| read_loop::<K>(sp, pattern, t, stop));
    let ns = r.iter().map(|&(c, n)| c as f64 / n as f64).sum::<f64>() / threads as f64;
    let cpu: u64 = r.iter().map(|x| x.0).sum();
    (ns, cpu as f64 / wall as f64)
}

/// One write cycle on `o`, biased first if `bias` (as if readers had
/// re-enabled it since the last one).
#[inline(always)]
fn write_once<const K: u8>(sp: &Space, o: &Obj, bias: bool) {
    if bias {
        o.rbias.store(1, Release);
    }
    let (g, seq) = write_begin(sp);
    start_write::<K>(o, seq);
    let v = o.a.load(Relaxed) + 1;
    o.a.store(v, Relaxed);
    o.b.store(v, Relaxed);
    write_end(sp, g, seq);
}

/// Writer (wall ns, on-CPU ns) per write cycle on one object nobody reads,
/// with two registered reader threads blocked, for ~100 ms.
fn writer_cost<const K: u8>(sp: &Space, bias: bool) -> (f64, f64) {
    let ready = Barrier::new(3);
    let done = Barrier::new(3);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                read_once::<K>(sp, 1); // register its slots
                ready.wait();
                done.wait();
            });
        }
        ready.wait();
        let o = &sp.objs[0];
        let (w0, c0) = (mono_ns(), thread_cpu_ns());
        let mut n = 0u64;
        while n % 64 != 0 || mono_ns() - w0 < 100_000_000 {
            write_once::<K>(sp, o, bias);
            n += 1;
        }
        let (w, c) = (mono_ns() - w0, thread_cpu_ns() - c0);
        done.wait();
        (w as f64 / n as f64, c as f64 / n as f64)
    })
}

struct Mixed {
    solo_cpu: f64,
    with_cpu: f64,
    with_wall: f64,
    solo_wall: f64,
    /// Writer's wall ns inside a write cycle.
    writer_cycle: f64,
    /// Writer's wall ns between cycle starts.
    writer_period: f64,
    /// Reader and writer on a CPU at once (2.00 = always both).
    par: f64,
}

/// One reader (objects 0..500 at random, on CPU 0) alone, then with a
/// writer (on CPU 1) that write-locks objects 500..1000 every ~1 us.
fn mixed<const K: u8>(sp: &Space) -> Mixed {
    const HALF: u8 = 4; // random among 0..500
    let (solo, solo_wall) = window(1, |t, stop| read_loop::<K>(sp, HALF, t, stop));
    let (r, wall) = window(2, |t, stop| {
        if t == 0 {
            let (c, n) = read_loop::<K>(sp, HALF, t, stop);
            return (c, n, 0);
        }
        let (mut n, mut inside) = (0u64, 0u64);
        let c0 = thread_cpu_ns();
        while !stop.load(Relaxed) {
            let t0 = mono_ns();
            let o = &sp.objs[OBJECTS / 2 + n as usize % (OBJECTS / 2)];
            write_once::<K>(sp, o, true);
            let t1 = mono_ns();
            inside += t1 - t0;
            n += 1;
            while mono_ns() - t0 < 1000 {
                spin_loop();
            }
        }
        (thread_cpu_ns() - c0, n, inside)
    });
    let (rc, rn, _) = r[0];
    let (wc, wn, inside) = r[1];
    Mixed {
        solo_cpu: solo[0].0 as f64 / solo[0].1 as f64,
        solo_wall: solo_wall as f64 / solo[0].1 as f64,
        with_cpu: rc as f64 / rn as f64,
        with_wall: wall as f64 / rn as f64,
        writer_cycle: inside as f64 / wn.max(1) as f64,
        writer_period: wall as f64 / wn.max(1) as f64,
        par: (rc + wc) as f64 / wall as f64,
    }
}

fn med_min(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0])
}

fn bench(rounds: usize, asym: bool) {
    let readers_k: Vec<u8> = [REFCOUNT, BRAVO_GLOBAL, BRAVO_THREAD, ASYM, PIN_ONLY, PLAIN]
        .into_iter()
        .filter(|&k| asym || k != ASYM)
        .collect();
    let locks_k: Vec<u8> = readers_k.iter().copied().filter(|&k| k <= ASYM).collect();
    let sp = Space::new(OBJECTS);
    let started = Instant::now();
    // [protocol][pattern][threads - 1] -> samples
    let mut rd = vec![vec![[Vec::new(), Vec::new()]; 4]; 7];
    let mut overlap = vec![vec![Vec::new(); 4]; 7];
    let mut wr = vec![[Vec::new(), Vec::new(), Vec::new(), Vec::new()]; 7];
    let mut mx: Vec<Vec<Mixed>> = (0..7).map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for &(p, _) in &PATTERNS {
            for &k in &readers_k {
                for threads in [1, 2] {
                    // Two threads that took turns on one CPU (another
                    // tenant had the other) measure nothing: retry a few
                    // times, and print how parallel the kept run was.
                    let mut tries = 0;
                    let (ns, par) = loop {
                        let r = dispatch!(k, readers(&sp, threads, p));
                        tries += 1;
                        if threads == 1 || r.1 >= MIN_PAR || tries == 4 {
                            break r;
                        }
                    };
                    rd[k as usize][p as usize][threads - 1].push(ns);
                    if threads == 2 {
                        overlap[k as usize][p as usize].push(par);
                    }
                }
            }
        }
        for &k in &locks_k {
            for (j, bias) in [false, true].into_iter().enumerate() {
                let (w, c) = dispatch!(k, writer_cost(&sp, bias));
                wr[k as usize][2 * j].push(w);
                wr[k as usize][2 * j + 1].push(c);
            }
        }
        for &k in &readers_k {
            mx[k as usize].push(dispatch!(k, mixed(&sp)));
        }
        eprintln!(
            "round {} done at {:.1} s",
            round + 1,
            started.elapsed().as_secs_f64()
        );
    }

    println!(
        "\nREADERS: per-thread on-CPU ns per pin+lock+read+unlock, {} ms windows, median (min) of {rounds} rounds;\npar: threads on a CPU at once in the 2-thread runs (median; 2.00 = always both)",
        WINDOW.as_millis()
    );
    println!(
        "{:<14} {:<11} {:>15} {:>15} {:>15} {:>5}",
        "protocol", "pattern", "1 thread", "2 threads", "ratio 2/1", "par"
    );
    for &(p, pname) in &PATTERNS {
        for &k in &readers_k {
            let (m1, n1) = med_min(&mut rd[k as usize][p as usize][0]);
            let (m2, n2) = med_min(&mut rd[k as usize][p as usize][1]);
            println!(
                "{:<14} {:<11} {:>6.1} ({:>6.1}) {:>6.1} ({:>6.1}) {:>6.2}x ({:>5.2}x) {:>5.2}",
                name(k),
                pname,
                m1,
                n1,
                m2,
                n2,
                m2 / m1,
                n2 / n1,
                med_min(&mut overlap[k as usize][p as usize]).0
            );
        }
    }

    println!(
        "\nWRITER: ns per write cycle (mmap_lock, start_write, payload, unlock) of one unread object, 2 registered readers idle; median (min)"
    );
    println!(
        "{:<14} {:>15} {:>15} {:>15} {:>15} {:>9}",
        "protocol", "bias off wall", "bias off cpu", "bias on wall", "bias on cpu", "on/refc"
    );
    let refc_on = med_min(&mut wr[REFCOUNT as usize][2]).0;
    for &k in &locks_k {
        let v: Vec<(f64, f64)> = (0..4).map(|j| med_min(&mut wr[k as usize][j])).collect();
        println!(
            "{:<14} {:>6.0} ({:>6.0}) {:>6.0} ({:>6.0}) {:>6.0} ({:>6.0}) {:>6.0} ({:>6.0}) {:>8.1}x",
            name(k),
            v[0].0,
            v[0].1,
            v[1].0,
            v[1].1,
            v[2].0,
            v[2].1,
            v[3].0,
            v[3].1,
            v[2].0 / refc_on
        );
    }

    println!(
        "\nMIXED: 1 reader (random among 0..500, CPU 0) alone / with a writer (CPU 1) write-locking 500..1000 (each found biased) every ~1 us;\nmedians; kept = solo cpu / w/ wr cpu; pin-only and plain: the same writer (refcount) next to a reader that takes no lock"
    );
    println!(
        "{:<14} {:>9} {:>9} {:>7} {:>10} {:>10} {:>10} {:>10} {:>5}",
        "protocol",
        "solo cpu",
        "w/ wr cpu",
        "kept",
        "solo wall",
        "w/wr wall",
        "wr cycle",
        "wr period",
        "par"
    );
    for &k in &readers_k {
        let m = &mx[k as usize];
        let f = |g: &dyn Fn(&Mixed) -> f64| med_min(&mut m.iter().map(g).collect::<Vec<_>>()).0;
        let kept = f(&|x| x.solo_cpu) / f(&|x| x.with_cpu);
        println!(
            "{:<14} {:>9.1} {:>9.1} {:>6.0}% {:>10.1} {:>10.1} {:>10.0} {:>10.0} {:>5.2}",
            name(k),
            f(&|x| x.solo_cpu),
            f(&|x| x.with_cpu),
            kept * 100.0,
            f(&|x| x.solo_wall),
            f(&|x| x.with_wall),
            f(&|x| x.writer_cycle),
            f(&|x| x.writer_period),
            f(&|x| x.par)
        );
    }
    println!("\ntotal {:.1} s", started.elapsed().as_secs_f64());
}

// ---- check -------------------------------------------------------------------

#[derive(Default, Debug)]
struct Counts {
    pairs: u64,
    torn: u64,
    fast: u64,
    slow: u64,
    failed: u64,
    cycles: u64,
}

fn rng(x: &mut u64) -> usize {
    *x = x
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*x >> 33) as usize
}

/// A short delay without `pause` (which a VM may turn into an exit).
fn spin(n: usize) {
    for i in 0..n {
        black_box(i);
    }
}

/// Two readers holding 1-10 read locks on 16 objects, two writers updating
/// pairs, for `dur`.
fn check<const K: u8>(dur: Duration) -> Counts {
    const OBJS: usize = 16;
    let sp = Space::new(OBJS);
    let stop = AtomicBool::new(false);
    let total = Mutex::new(Counts::default());
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (sp, stop, total) = (&sp, &stop, &total);
            s.spawn(move || {
                let mut x = t + 1;
                let mut c = Counts::default();
                let mut held = Vec::with_capacity(10);
                while !stop.load(Relaxed) {
                    let g = crossbeam_epoch::pin();
                    for _ in 0..1 + rng(&mut x) % 10 {
                        let o = &sp.objs[rng(&mut x) % OBJS];
                        match read_lock::<K>(sp, o) {
                            Some(h) => {
                                match h {
                                    Held::Slot(_) => c.fast += 1,
                                    _ => c.slow += 1,
                                }
                                held.push((h, o));
                            }
                            None => c.failed += 1,
                        }
                    }
                    for (_, o) in &held {
                        let a = o.a.load(Relaxed);
                        spin(rng(&mut x) % 32);
                        let b = o.b.load(Relaxed);
                        c.pairs += 1;
                        c.torn += (a != b) as u64;
                    }
                    while let Some((h, _)) = held.pop() {
                        unlock(h);
                    }
                    drop(g);
                    // Holding nothing for a moment lets writers in.
                    spin(rng(&mut x) % 256);
                }
                let mut tot = total.lock().unwrap();
                tot.pairs += c.pairs;
                tot.torn += c.torn;
                tot.fast += c.fast;
                tot.slow += c.slow;
                tot.failed += c.failed;
            });
        }
        for t in 0..2u64 {
            let (sp, stop, total) = (&sp, &stop, &total);
            s.spawn(move || {
                let mut x = t + 100;
                let mut cycles = 0;
                while !stop.load(Relaxed) {
                    let (g, seq) = write_begin(sp);
                    for _ in 0..1 + rng(&mut x) % 3 {
                        let o = &sp.objs[rng(&mut x) % OBJS];
                        start_write::<K>(o, seq);
                        let v = o.a.load(Relaxed) + 1;
                        o.a.store(v, Relaxed);
                        spin(rng(&mut x) % 64);
                        o.b.store(v, Relaxed);
                    }
                    write_end(sp, g, seq);
                    cycles += 1;
                    spin(rng(&mut x) % 512);
                }
                total.lock().unwrap().cycles += cycles;
            });
        }
        std::thread::sleep(dur);
        stop.store(true, Relaxed);
    });
    total.into_inner().unwrap()
}

fn check_all(secs: f64, asym: bool) -> bool {
    let dur = Duration::from_secs_f64(secs);
    println!(
        "CHECK: 2 readers (1-10 read locks held at once, 16 objects) vs 2 writers, {secs} s each"
    );
    println!(
        "{:<16} {:>11} {:>9} {:>11} {:>11} {:>10} {:>9}  verdict",
        "protocol", "pairs read", "torn", "fast locks", "slow locks", "failed", "wr cycles"
    );
    let mut ok = true;
    for k in [
        REFCOUNT,
        BRAVO_GLOBAL,
        BRAVO_THREAD,
        ASYM,
        ASYM_NOBARRIER,
        PLAIN,
    ] {
        if !asym && (k == ASYM || k == ASYM_NOBARRIER) {
            println!("{:<16} membarrier unavailable: not run", name(k));
            continue;
        }
        let c = dispatch!(k, check(dur));
        let control = k == PLAIN || k == ASYM_NOBARRIER;
        let verdict = match (c.torn, control) {
            (0, false) => "PASS",
            (_, false) => {
                ok = false;
                "FAIL: torn reads under a read lock"
            }
            (0, true) => "no tear seen (control)",
            (_, true) => "torn, as expected (control)",
        };
        println!(
            "{:<16} {:>11} {:>9} {:>11} {:>11} {:>10} {:>9}  {verdict}",
            name(k),
            c.pairs,
            c.torn,
            c.fast,
            c.slow,
            c.failed,
            c.cycles
        );
    }
    ok
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let asym = membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find(|l| l.starts_with("model name"))
        .unwrap_or("model name: ?");
    let pku = cpu
        .lines()
        .find(|l| l.starts_with("flags"))
        .is_some_and(|l| l.split_whitespace().any(|f| f == "pku"));
    println!(
        "{model}; pku: {pku}; cpus: {}; loadavg: {}; membarrier private expedited: {asym}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    match args.first().map(String::as_str) {
        Some("check") => {
            let secs = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0.7);
            if !check_all(secs, asym) {
                std::process::exit(1);
            }
        }
        None | Some("bench") => {
            let rounds = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(7);
            bench(rounds, asym);
        }
        Some(other) => {
            eprintln!("usage: read_protocols [bench [ROUNDS] | check [SECONDS]] (got {other})");
            std::process::exit(2);
        }
    }
}
