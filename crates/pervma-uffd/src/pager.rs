//! The [`Pager`]: handler threads that read one userfaultfd and resolve
//! each fault under the VMA's read lock.
//!
//! Linux: the protocol of Documentation/admin-guide/mm/userfaultfd.rst
//! (races: `EEXIST` then `UFFDIO_WAKE`; `EAGAIN` while a non-cooperative
//! event is pending; faults on ranges that went away).
//!
//! One fault, as a handler thread runs it:
//!
//! 1. Read the message (nonblocking; when none is queued, spin for
//!    [`Wait::Spin`]'s budget, then block in `poll` on the userfaultfd and
//!    the pager's stop eventfd).
//! 2. `Mm::lock_vma(page)`: the VMA, read-locked on the fast path; a
//!    `munmap`/`mprotect`/`mremap` of *this* VMA now waits for step 4,
//!    one of any other range does not delay us.
//!    No VMA: the range was unmapped from the `Mm` ([`Unmapped`]).
//!    The VMA forbids the access: wake the thread (the kernel, whose
//!    protection the `Mm` drives, decides again). Not asked of a
//!    write-protect fault: the kernel checked the VMA's write permission
//!    before the fault reached the userfaultfd, the page is there, and
//!    only unprotecting it (or a wake, to fault again) resolves it.
//! 3. [`Contents::resolve`] says what the page holds: for a missing page
//!    its bytes (or zeroes, or `SIGBUS`); for a minor fault (MINOR mode)
//!    that the page cache has it; for a write-protect fault (WP mode)
//!    that the write may go on, once the contents did what they wanted
//!    with the page as it is (a snapshot's copy, a dirty bit).
//! 4. The ioctl (`UFFDIO_COPY`, `ZEROPAGE`, `POISON`, `CONTINUE`, or
//!    `WRITEPROTECT` without `MODE_WP`: unprotect and wake), then the VMA
//!    lock is dropped. `EEXIST`: another thread mapped the page,
//!    `UFFDIO_WAKE` it (a zero page refused with `EEXIST` may be a
//!    write-protect marker instead, with `WP_UNPOPULATED`: a protected
//!    copy of zeroes goes there first; see [`features::WP_UNPOPULATED`]).
//!    `EAGAIN`: a `REMOVE`/`UNMAP`/`REMAP` event is queued and the kernel
//!    refuses until somebody reads it: the fault is
//!    put aside, the thread goes back to reading (so that it reads the
//!    event itself if it is the only handler: Firecracker's handler
//!    deadlocked here once), and retries it when the queue is empty.
//!    `ENOENT`/`ESRCH`: the range is no longer registered, or the process
//!    is exiting: nothing to do.
//!
//! [`features::WP_UNPOPULATED`]: crate::features::WP_UNPOPULATED

#![deny(unsafe_code)]

use crate::contents::{Contents, Fault, Resolve};
use crate::sys;
use crate::uffd::{Event, Events, Uffd, PAGE};
use pervma::{Access, Advice, MapFlags, Mapping, Mm, MremapFlags, Payload, Prot};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a handler thread waits when no message is queued.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Wait {
    /// Block in `poll` at once: no CPU while idle, a wake-up (tens of
    /// microseconds on a VM) per fault that finds the thread asleep.
    Block,
    /// Read again without sleeping for this long after the last message,
    /// then block: a core per spinning thread while faults come, much
    /// lower latency (see the crate docs for the figures).
    Spin(Duration),
}

/// What to do with a fault where the `Mm` has no VMA (the range was
/// unmapped through the `Mm`, or never described).
///
/// A write-protect fault there is unprotected either way (counted as
/// `unmapped` and `unprotected`; the [`Contents`] are not asked): its
/// page is present, so neither answer would end it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Unmapped {
    /// `UFFDIO_WAKE`: the thread faults again, and gets its `SIGSEGV`
    /// from the kernel if the real range is gone too (what [`OwnMemory`]
    /// makes sure of: its munmap replaces the range).
    ///
    /// [`OwnMemory`]: crate::OwnMemory
    Wake,
    /// `UFFDIO_POISON`: the thread gets `SIGBUS`. For memory of another
    /// process (a VMM's), where a range the `Mm` does not describe is
    /// still registered, and waking would only fault again, forever.
    Poison,
}

/// How a [`Pager`] runs.
#[derive(Clone, Copy, Debug)]
pub struct PagerConfig {
    /// Handler threads reading the same userfaultfd (at least 1).
    pub threads: usize,
    /// How they wait for messages.
    pub wait: Wait,
    /// Faults outside every VMA.
    pub unmapped: Unmapped,
    /// Apply the non-cooperative events (`REMOVE`, `UNMAP`, `REMAP`; the
    /// userfaultfd must have been opened with them) to the `Mm`, so its
    /// view of the other process stays true; see [`Pager`].
    pub apply_events: bool,
}

impl Default for PagerConfig {
    fn default() -> Self {
        PagerConfig {
            threads: 1,
            wait: Wait::Spin(Duration::from_micros(50)),
            unmapped: Unmapped::Wake,
            apply_events: false,
        }
    }
}

/// What the handler threads did, counted.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Stats {
    /// Page-fault messages read.
    pub faults: u64,
    /// Pages mapped with `UFFDIO_COPY`.
    pub copied: u64,
    /// Zero pages mapped.
    pub zeroed: u64,
    /// Pages poisoned (`SIGBUS`).
    pub poisoned: u64,
    /// Minor faults continued.
    pub continued: u64,
    /// Write-protect faults resolved by unprotecting the page
    /// ([`Resolve::Unprotect`]).
    pub unprotected: u64,
    /// Faults answered by a wake alone ([`Resolve::Wake`], a VMA that
    /// forbids the access, [`Unmapped::Wake`]).
    pub woken: u64,
    /// `EEXIST`: the page was there already (woken).
    pub exists: u64,
    /// `EAGAIN` retries (a mapping change in flight).
    pub again: u64,
    /// Faults where the `Mm` had no VMA.
    pub unmapped: u64,
    /// Faults on ranges no longer registered, or of an exiting process
    /// (`ENOENT`, `ESRCH`).
    pub gone: u64,
    /// Other errors (ioctl or read).
    pub errors: u64,
    /// Non-cooperative events read (`REMOVE`, `UNMAP`, `REMAP`, `FORK`).
    pub events: u64,
    /// Forked children served ([`PagerConfig::apply_events`] and
    /// `UFFD_FEATURE_EVENT_FORK`): each got a pager of its own.
    pub forks: u64,
}

impl Stats {
    /// Faults resolved the way the [`Contents`] answered: copied, zero,
    /// poisoned, continued or unprotected. Each missing (or minor) page is
    /// served once; a second message for it (two threads faulting at
    /// once) ends as `exists`. Unprotecting has no `EEXIST`: a second
    /// write-protect fault on a page (two threads storing to it at once)
    /// is unprotected again, and counted again. So
    /// `served() + woken + exists + gone + errors` accounts for every
    /// fault that is not waiting for an `EAGAIN` retry.
    pub fn served(&self) -> u64 {
        self.copied + self.zeroed + self.poisoned + self.continued + self.unprotected
    }
}

#[derive(Default)]
struct Counters {
    faults: AtomicU64,
    copied: AtomicU64,
    zeroed: AtomicU64,
    poisoned: AtomicU64,
    continued: AtomicU64,
    unprotected: AtomicU64,
    woken: AtomicU64,
    exists: AtomicU64,
    again: AtomicU64,
    unmapped: AtomicU64,
    gone: AtomicU64,
    errors: AtomicU64,
    events: AtomicU64,
    forks: AtomicU64,
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    fn snapshot(&self) -> Stats {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            faults: l(&self.faults),
            copied: l(&self.copied),
            zeroed: l(&self.zeroed),
            poisoned: l(&self.poisoned),
            continued: l(&self.continued),
            unprotected: l(&self.unprotected),
            woken: l(&self.woken),
            exists: l(&self.exists),
            again: l(&self.again),
            unmapped: l(&self.unmapped),
            gone: l(&self.gone),
            errors: l(&self.errors),
            events: l(&self.events),
            forks: l(&self.forks),
        }
    }
}

struct Shared<T: Payload> {
    mm: Arc<Mm<T>>,
    uffd: Arc<Uffd>,
    contents: Arc<dyn Contents>,
    config: PagerConfig,
    stop: AtomicBool,
    stop_fd: OwnedFd,
    /// Shared with the pagers of forked children, so that [`Pager::stats`]
    /// counts theirs too.
    counters: Arc<Counters>,
    /// The pagers serving forked children (see [`Shared::forked`]).
    children: Mutex<Vec<Pager<T>>>,
    /// For a child's pager: a page no range of its userfaultfd covers, to
    /// ask the kernel whether the child exited ([`Uffd::process_exited`]).
    probe: Option<u64>,
    /// Serializes the application of non-cooperative events to the `Mm`.
    events: Mutex<()>,
    /// With `apply_events`: held across `read(2)` and the application of
    /// the events it returned (faults are resolved after it is dropped).
    /// The kernel lets the other process go on as soon as an event is
    /// *read*; a fault it makes afterwards is read by some thread only
    /// after this lock is free again, so after the `Mm` shows the event.
    reading: Mutex<()>,
}

/// Serves the page faults of a userfaultfd from the `Mm` that describes
/// its memory: `threads` handler threads, each fault resolved under
/// `Mm::lock_vma` (see the module docs for the steps).
///
/// The `Mm`'s VMAs sit at the memory's real addresses and say what each
/// range is (anonymous, a file at `pgoff`); the [`Contents`] turns that
/// into bytes. Two ways to use it:
///
/// - **This process's memory**: give the `Mm` an [`OwnMemory`] backend,
///   and map, unmap, protect and discard through the `Mm`; the backend
///   does it to the real memory under the operation's locks, so the pager
///   and the memory never disagree.
/// - **Another process's memory** (a VMM's guest memory, whose
///   userfaultfd it sent over a socket): a plain `Mm` describes it, and
///   with [`PagerConfig::apply_events`] its `REMOVE` (the range becomes
///   zero-fill: anonymous memory), `UNMAP` and `REMAP` events are applied
///   to the `Mm`; with `UFFD_FEATURE_EVENT_FORK`, a `FORK` event starts a
///   pager for the child, over [`Mm::fork`] of this one, which stops
///   when the child exits (its idle handler threads ask the kernel once a
///   second) or with this pager. Without `apply_events`, a child's
///   descriptor is closed, which unregisters the child's ranges
///   (`userfaultfd_release`): its missing pages then fill as the kernel's
///   own (zeroes for anonymous memory), as without `EVENT_FORK`.
///
/// [`OwnMemory`]: crate::OwnMemory
pub struct Pager<T: Payload> {
    shared: Arc<Shared<T>>,
    threads: Vec<JoinHandle<()>>,
    exited: mpsc::Receiver<()>,
}

/// Sends on drop: a handler thread's exit, even by panic.
struct ExitSignal(mpsc::Sender<()>);

impl Drop for ExitSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

impl<T: Payload> Pager<T> {
    /// Starts `config.threads` handler threads on `uffd`.
    ///
    /// # Errors
    ///
    /// When the stop eventfd or a thread cannot be created.
    pub fn start(
        mm: Arc<Mm<T>>,
        uffd: Arc<Uffd>,
        contents: Arc<dyn Contents>,
        config: PagerConfig,
    ) -> io::Result<Pager<T>> {
        let shared = Shared::new(mm, uffd, contents, config, Arc::default(), None)?;
        Pager::spawn(shared)
    }

    /// Starts the handler threads of `shared`.
    fn spawn(shared: Arc<Shared<T>>) -> io::Result<Pager<T>> {
        let config = shared.config;
        let (tx, exited) = mpsc::channel();
        let mut pager = Pager {
            shared,
            threads: Vec::new(),
            exited,
        };
        for i in 0..config.threads.max(1) {
            let shared = pager.shared.clone();
            let signal = ExitSignal(tx.clone());
            let thread = std::thread::Builder::new()
                .name(format!("pervma-uffd-{i}"))
                .spawn(move || {
                    let _signal = signal;
                    shared.run();
                })?;
            pager.threads.push(thread);
        }
        Ok(pager)
    }

    /// The address space the pager serves from.
    pub fn mm(&self) -> &Arc<Mm<T>> {
        &self.shared.mm
    }

    /// The counters so far, forked children's pagers included.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// How many forked children are being served now (their pagers'
    /// threads run until the child exits).
    pub fn live_children(&self) -> usize {
        let mut children = self.shared.children.lock().unwrap();
        children.retain(|c| !c.shared.stop.load(Ordering::Acquire));
        children.len()
    }

    /// Stops the handler threads and waits at most `timeout` for them.
    ///
    /// # Errors
    ///
    /// The counters, when some thread did not exit in time (it is left
    /// running, detached).
    pub fn shutdown(mut self, timeout: Duration) -> Result<Stats, Stats> {
        self.stop(timeout)
    }

    fn stop(&mut self, timeout: Duration) -> Result<Stats, Stats> {
        self.shared.stop.store(true, Ordering::Release);
        sys::eventfd_signal(self.shared.stop_fd.as_raw_fd());
        let deadline = Instant::now() + timeout;
        let mut exited = 0;
        while exited < self.threads.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.exited.recv_timeout(left) {
                Ok(()) => exited += 1,
                Err(_) => {
                    self.threads.clear(); // detach
                    return Err(self.stats());
                }
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // No thread of ours forks children any more.
        let children = std::mem::take(&mut *self.shared.children.lock().unwrap());
        let mut all_exited = true;
        for mut child in children {
            let left = deadline.saturating_duration_since(Instant::now());
            all_exited &= child.stop(left).is_ok();
        }
        if all_exited {
            Ok(self.stats())
        } else {
            Err(self.stats())
        }
    }
}

impl<T: Payload> Drop for Pager<T> {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            let _ = self.stop(Duration::from_secs(5));
        }
    }
}

impl<T: Payload> Shared<T> {
    fn new(
        mm: Arc<Mm<T>>,
        uffd: Arc<Uffd>,
        contents: Arc<dyn Contents>,
        config: PagerConfig,
        counters: Arc<Counters>,
        probe: Option<u64>,
    ) -> io::Result<Arc<Shared<T>>> {
        Ok(Arc::new(Shared {
            mm,
            uffd,
            contents,
            config,
            stop: AtomicBool::new(false),
            stop_fd: sys::eventfd()?,
            counters,
            children: Mutex::new(Vec::new()),
            probe,
            events: Mutex::new(()),
            reading: Mutex::new(()),
        }))
    }

    /// A handler thread's loop.
    fn run(&self) {
        let mut events = Events::with_capacity(16);
        let mut buf = vec![0u8; PAGE as usize];
        let mut deferred: Vec<Fault> = Vec::new();
        let fds = [self.uffd.as_raw_fd(), self.stop_fd.as_raw_fd()];
        let mut idle_since = Instant::now();
        while !self.stop.load(Ordering::Acquire) {
            let read = if self.config.apply_events {
                let _reading = self.reading.lock();
                let read = self.uffd.read_events(&mut events);
                for event in events.iter() {
                    if !matches!(event, Event::PageFault { .. }) {
                        self.event(event, &mut buf, &mut deferred);
                    }
                }
                read
            } else {
                self.uffd.read_events(&mut events)
            };
            match read {
                Ok(0) => {}
                Ok(_) => {
                    for event in events.iter() {
                        if !self.config.apply_events || matches!(event, Event::PageFault { .. }) {
                            self.event(event, &mut buf, &mut deferred);
                        }
                    }
                    idle_since = Instant::now();
                    continue;
                }
                Err(_) => {
                    inc(&self.counters.errors);
                    // A broken descriptor: do not spin on it.
                    let _ = sys::poll_in(&fds[1..], 10);
                    continue;
                }
            }
            if !deferred.is_empty() {
                // The queue is empty, so the event that made the kernel say
                // EAGAIN was read (by us or another thread): retry.
                for fault in std::mem::take(&mut deferred) {
                    self.fault(fault, &mut buf, &mut deferred);
                }
                if !deferred.is_empty() {
                    std::thread::yield_now();
                }
                continue;
            }
            if let Wait::Spin(budget) = self.config.wait {
                if idle_since.elapsed() < budget {
                    std::hint::spin_loop();
                    continue;
                }
            }
            // A child's pager wakes once a second to see whether the child
            // is still there; nothing else tells it.
            let timeout = if self.probe.is_some() { 1000 } else { -1 };
            if let (Ok(ready), Some(probe)) = (sys::poll_in(&fds, timeout), self.probe) {
                if !ready.contains(&true) && self.uffd.process_exited(probe) {
                    self.stop.store(true, Ordering::Release);
                    sys::eventfd_signal(self.stop_fd.as_raw_fd());
                }
            }
            idle_since = Instant::now();
        }
    }

    fn event(&self, event: Event, buf: &mut [u8], deferred: &mut Vec<Fault>) {
        match event {
            Event::PageFault {
                address,
                write,
                wp,
                minor,
                thread,
            } => {
                inc(&self.counters.faults);
                let fault = Fault {
                    address,
                    page: address & !(PAGE - 1),
                    write,
                    minor,
                    wp,
                    thread,
                };
                self.fault(fault, buf, deferred);
            }
            Event::Fork { ufd } => {
                inc(&self.counters.events);
                let ufd = sys::adopt_fork_fd(ufd);
                if self.config.apply_events {
                    self.forked(ufd);
                }
            }
            Event::Remove { start, end } => {
                inc(&self.counters.events);
                if self.config.apply_events {
                    self.removed(start, end);
                }
            }
            Event::Unmap { start, end } => {
                inc(&self.counters.events);
                if self.config.apply_events {
                    let _guard = self.events.lock();
                    let _ = self.mm.munmap(start, end - start);
                }
            }
            Event::Remap { from, to, len } => {
                inc(&self.counters.events);
                if self.config.apply_events {
                    let _guard = self.events.lock();
                    let flags = MremapFlags::MAYMOVE | MremapFlags::FIXED;
                    let _ = self.mm.mremap(from, len, len, flags, to);
                }
            }
            Event::Unknown(_) => inc(&self.counters.errors),
        }
    }

    /// `UFFD_EVENT_FORK`: the process forked, and `ufd` is the child's
    /// userfaultfd, over a copy of its address space (`dup_mmap`: the
    /// same VMAs and registrations; pages present in the parent are the
    /// child's too, copy-on-write; missing ones fault to `ufd`). The child
    /// gets a pager of its own, like this one, over [`Mm::fork`] of this
    /// `Mm` (taken under the events lock: no other event is half-applied)
    /// and the same contents. The parent's `fork` returned when the event
    /// was read, so the child may be faulting already; its faults wait
    /// until the child's pager reads them.
    ///
    /// When the copy fails (`ENOMEM`), `ufd` is closed, which unregisters
    /// the child's ranges: its missing pages fill as the kernel's own.
    fn forked(&self, ufd: OwnedFd) {
        let child = {
            let _guard = self.events.lock();
            self.mm.fork()
        };
        let child = match child {
            Ok(child) => child,
            Err(_) => return inc(&self.counters.errors),
        };
        // A page below every VMA the child inherited (and so registered
        // nowhere in it), at least mmap_min_addr's usual 64 KiB.
        let probe = {
            let mmap = child.mmap_read_lock();
            let mut at = 1 << 16;
            while let Some(v) = mmap.find_vma_intersection(at, at + PAGE) {
                at = v.end();
            }
            at
        };
        let spawned = self.uffd.forked(ufd).and_then(|uffd| {
            let shared = Shared::new(
                Arc::new(child),
                Arc::new(uffd),
                self.contents.clone(),
                self.config,
                self.counters.clone(),
                Some(probe),
            )?;
            Pager::spawn(shared)
        });
        match spawned {
            Ok(pager) => {
                inc(&self.counters.forks);
                let mut children = self.children.lock().unwrap();
                children.retain(|c| !c.shared.stop.load(Ordering::Acquire));
                children.push(pager);
            }
            Err(_) => inc(&self.counters.errors),
        }
    }

    /// `UFFD_EVENT_REMOVE` (`MADV_DONTNEED`/`MADV_REMOVE` in the other
    /// process): the range's pages are gone, and faults there will find
    /// zeroes in that process's (anonymous) memory; so the range becomes
    /// anonymous in the `Mm` too, each VMA part with its protection and
    /// payload.
    fn removed(&self, start: u64, end: u64) {
        let _guard = self.events.lock();
        let parts: Vec<(u64, u64, Prot, bool, T)> = {
            let mmap = self.mm.mmap_read_lock();
            mmap.vmas_from(start)
                .take_while(|v| v.start() < end)
                .map(|v| {
                    let (s, e) = (v.start().max(start), v.end().min(end));
                    (
                        s,
                        e,
                        v.flags().prot(),
                        v.file().is_some(),
                        v.payload().clone(),
                    )
                })
                .collect()
        };
        for (s, e, prot, file, payload) in parts {
            if file {
                let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
                let _ = self.mm.mmap(s, e - s, prot, flags, None, payload);
            } else {
                // The kernel dropped the pages: only the Mm's record goes.
                let _ = crate::own::applying_event(|| self.mm.madvise(s, e - s, Advice::DontNeed));
            }
        }
    }

    /// One fault: steps 2-4 of the module docs.
    fn fault(&self, fault: Fault, buf: &mut [u8], deferred: &mut Vec<Fault>) {
        let c = &self.counters;
        let page = fault.page;
        let result = {
            let Some(vma) = self.mm.lock_vma(page) else {
                inc(&c.unmapped);
                let r = match self.config.unmapped {
                    // The page is there: a wake or a poison (EEXIST) would
                    // leave it protected, and the writer faulting forever.
                    _ if fault.wp => (self.uffd)
                        .write_protect(page, PAGE, false)
                        .map(|()| &c.unprotected),
                    Unmapped::Wake => self.uffd.wake(page, PAGE).map(|()| &c.woken),
                    Unmapped::Poison => self.uffd.poison(page, PAGE).map(|()| &c.poisoned),
                };
                return self.finish(fault, r, deferred);
            };
            let access = if fault.write {
                Access::Write
            } else {
                Access::Read
            };
            if !fault.wp && !self.mm.access_permitted(&vma, access) {
                let r = self.uffd.wake(page, PAGE).map(|()| &c.woken);
                return self.finish(fault, r, deferred);
            }
            let m = Mapping {
                start: vma.start(),
                end: vma.end(),
                flags: vma.flags(),
                pgoff: vma.pgoff(),
                file: vma.file(),
            };
            match self.contents.resolve(&m, &fault, buf) {
                Resolve::Copy(bytes) => self.uffd.copy(page, bytes).map(|()| &c.copied),
                Resolve::Zero => self.zero(page).map(|()| &c.zeroed),
                Resolve::Poison => self.uffd.poison(page, PAGE).map(|()| &c.poisoned),
                Resolve::Continue => self.uffd.continue_minor(page, PAGE).map(|()| &c.continued),
                Resolve::Unprotect => (self.uffd)
                    .write_protect(page, PAGE, false)
                    .map(|()| &c.unprotected),
                Resolve::Wake => self.uffd.wake(page, PAGE).map(|()| &c.woken),
            }
            // The VMA lock is dropped here, after the page is in.
        };
        self.finish(fault, result, deferred);
    }

    /// `UFFDIO_ZEROPAGE`, and where the kernel refuses it with `EEXIST`
    /// because a write-protect marker stands for the missing page
    /// ([`features::WP_UNPOPULATED`]), a copy of zeroes that keeps the
    /// protection: the thread would otherwise be woken to the same
    /// refusal forever. A copy that fails too (the page is really there,
    /// or the range is not registered in WP mode) is the first `EEXIST`.
    ///
    /// [`features::WP_UNPOPULATED`]: crate::features::WP_UNPOPULATED
    fn zero(&self, page: u64) -> io::Result<()> {
        static ZEROES: [u8; PAGE as usize] = [0; PAGE as usize];
        match self.uffd.zeropage(page, PAGE) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.uffd.copy_protected(page, &ZEROES).map_err(|_| e)
            }
            r => r,
        }
    }

    fn finish(&self, fault: Fault, result: io::Result<&AtomicU64>, deferred: &mut Vec<Fault>) {
        let c = &self.counters;
        match result {
            Ok(counter) => inc(counter),
            Err(e) => match e.raw_os_error() {
                Some(libc::EEXIST) => {
                    inc(&c.exists);
                    let _ = self.uffd.wake(fault.page, PAGE);
                }
                Some(libc::EAGAIN) => {
                    inc(&c.again);
                    deferred.push(fault);
                }
                Some(libc::ENOENT) | Some(libc::ESRCH) => inc(&c.gone),
                _ => {
                    inc(&c.errors);
                    let _ = self.uffd.wake(fault.page, PAGE);
                }
            },
        }
    }
}
