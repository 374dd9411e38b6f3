//! Files with contents ([`FileContents`]): what faults read, what stores
//! reach, when dirty pages are written back, and what a read error does.

use pervma::{Access, Errno, FaultError, File, FileContents, MapFlags, Mm, Prot, PAGE_SIZE};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const P: u64 = PAGE_SIZE;
const RW: Prot = Prot::READ.union(Prot::WRITE);
const PRIVATE: MapFlags = MapFlags::PRIVATE.union(MapFlags::FIXED);
const SHARED: MapFlags = MapFlags::SHARED.union(MapFlags::FIXED);
const A: u64 = 0x1000_0000;

/// A file in memory, with error injection and call counts.
#[derive(Default)]
struct Disk {
    bytes: Mutex<Vec<u8>>,
    fail_reads: AtomicBool,
    fail_writes: AtomicBool,
    reads: AtomicUsize,
    writes: AtomicUsize,
}

impl Disk {
    /// A disk of `len` bytes, each `i as u8` at offset `i`.
    fn patterned(len: usize) -> Arc<Disk> {
        Arc::new(Disk {
            bytes: Mutex::new((0..len).map(|i| i as u8).collect()),
            ..Disk::default()
        })
    }

    fn at(&self, offset: u64, len: usize) -> Vec<u8> {
        self.bytes.lock().unwrap()[offset as usize..][..len].to_vec()
    }
}

impl FileContents for Disk {
    fn read_page(&self, index: u64, buf: &mut [u8]) -> Result<(), Errno> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        if self.fail_reads.load(Ordering::Relaxed) {
            return Err(Errno::EIO);
        }
        let bytes = self.bytes.lock().unwrap();
        let at = (index * P) as usize;
        buf.copy_from_slice(&bytes[at..at + buf.len()]);
        Ok(())
    }

    fn write_page(&self, index: u64, data: &[u8]) -> Result<(), Errno> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        if self.fail_writes.load(Ordering::Relaxed) {
            return Err(Errno::ENOSPC);
        }
        let mut bytes = self.bytes.lock().unwrap();
        let at = (index * P) as usize;
        bytes[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }
}

fn file(name: &str, disk: &Arc<Disk>) -> Arc<File> {
    let size = disk.bytes.lock().unwrap().len() as u64;
    File::builder(name, size).contents(disk.clone()).build()
}

fn read(mm: &Mm<()>, addr: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0xAA; len];
    mm.access_read(addr, &mut buf).unwrap();
    buf
}

#[test]
fn private_mapping_reads_the_contents() {
    let disk = Disk::patterned(4 * P as usize);
    let f = file("image", &disk);
    assert!(f.contents().is_some());
    let mm = Mm::new();
    mm.mmap(A, 2 * P, Prot::READ, PRIVATE, Some((f, P)), ())
        .unwrap();
    assert_eq!(read(&mm, A + 10, 4), disk.at(P + 10, 4));
    assert_eq!(read(&mm, A + P + 3, 2), disk.at(2 * P + 3, 2));
    // Each page was read once, when first faulted.
    assert_eq!(read(&mm, A + 11, 1), disk.at(P + 11, 1));
    assert_eq!(disk.reads.load(Ordering::Relaxed), 2);
}

#[test]
fn private_store_copies_on_write_and_never_reaches_the_contents() {
    let disk = Disk::patterned(2 * P as usize);
    let before = disk.at(0, 2 * P as usize);
    let f = file("image", &disk);
    let mm = Mm::new();
    mm.mmap(A, 2 * P, RW, PRIVATE, Some((f.clone(), 0)), ())
        .unwrap();
    // A store before any read: do_cow_fault reads the page in to copy it.
    mm.access_write(A + 5, b"private").unwrap();
    let mut expect = disk.at(0, 16);
    expect[5..12].copy_from_slice(b"private");
    assert_eq!(read(&mm, A, 16), expect);
    // The page cache keeps the file's bytes.
    let mut cached = [0u8; 16];
    assert_eq!(f.read_at(0, &mut cached), Ok(16));
    assert_eq!(cached.to_vec(), disk.at(0, 16));
    f.sync().unwrap();
    mm.munmap(A, 2 * P).unwrap();
    drop(f);
    pervma::rcu_barrier();
    assert_eq!(disk.at(0, 2 * P as usize), before);
    assert_eq!(disk.writes.load(Ordering::Relaxed), 0);
}

#[test]
fn shared_store_reaches_the_contents_after_sync() {
    let disk = Disk::patterned(4 * P as usize);
    let f = file("shared", &disk);
    let mm = Mm::new();
    mm.mmap(A, 4 * P, RW, SHARED, Some((f.clone(), 0)), ())
        .unwrap();
    mm.access_write(A + P - 2, b"span").unwrap();
    // Nothing reaches the contents before the writeback.
    assert_eq!(disk.at(P - 2, 4), [254, 255, 0, 1]);
    f.sync().unwrap();
    assert_eq!(disk.at(P - 2, 4), b"span");
    // Two dirty pages, two writes; a second sync has nothing to do.
    assert_eq!(disk.writes.load(Ordering::Relaxed), 2);
    f.sync().unwrap();
    assert_eq!(disk.writes.load(Ordering::Relaxed), 2);
    // The rest of each page went back unchanged.
    assert_eq!(disk.at(0, 4), [0, 1, 2, 3]);
}

#[test]
fn shared_store_reaches_the_contents_when_the_file_is_dropped() {
    let disk = Disk::patterned(2 * P as usize);
    let mm = Mm::new();
    mm.mmap(A, 2 * P, RW, SHARED, Some((file("shared", &disk), 0)), ())
        .unwrap();
    mm.access_write(A + 100, b"at drop").unwrap();
    assert_ne!(disk.at(100, 7), b"at drop");
    // The VMA holds the last reference: unmap it, and let RCU free it.
    // Other tests' threads may hold the grace period back for a while
    // (rcu_barrier does not wait for them): wait, up to a bound.
    mm.munmap(A, 2 * P).unwrap();
    drop(mm);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while disk.at(100, 7) != b"at drop" && std::time::Instant::now() < until {
        pervma::rcu_barrier();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(disk.at(100, 7), b"at drop");
}

#[test]
fn write_at_and_read_at_round_trip_through_the_contents() {
    let disk = Disk::patterned(3 * P as usize);
    let f = file("data", &disk);
    // A partial page: the rest of it is read in first.
    assert_eq!(f.write_at(P + 10, b"written"), Ok(7));
    let mut back = [0u8; 12];
    assert_eq!(f.read_at(P + 8, &mut back), Ok(12));
    let mut expect = disk.at(P + 8, 12);
    expect[2..9].copy_from_slice(b"written");
    assert_eq!(back.to_vec(), expect);
    // Mappings see it at once; the contents after sync.
    let mm = Mm::new();
    mm.mmap(A, P, Prot::READ, SHARED, Some((f.clone(), P)), ())
        .unwrap();
    assert_eq!(read(&mm, A + 10, 7), b"written");
    f.sync().unwrap();
    assert_eq!(disk.at(P + 8, 12), expect);
    assert_eq!(disk.writes.load(Ordering::Relaxed), 1);
    // Reads stop at the end of the file.
    assert_eq!(f.read_at(3 * P - 2, &mut back), Ok(2));
    assert_eq!(f.read_at(3 * P, &mut back), Ok(0));
}

#[test]
fn last_partial_page_reads_and_writes_back_only_the_bytes_in_the_file() {
    let disk = Disk::patterned(P as usize + 10);
    let f = file("short", &disk);
    let mm = Mm::new();
    mm.mmap(A, 2 * P, RW, SHARED, Some((f.clone(), 0)), ())
        .unwrap();
    assert_eq!(read(&mm, A + P + 8, 4), [8, 9, 0, 0]);
    // A store past the end of the file, inside its last page: Linux keeps
    // it in the page but never writes it to the file.
    mm.access_write(A + P + 8, b"wxyz").unwrap();
    f.sync().unwrap();
    assert_eq!(disk.bytes.lock().unwrap().len(), P as usize + 10);
    assert_eq!(disk.at(P + 8, 2), b"wx");
}

#[test]
fn read_error_is_sigbus_until_the_contents_read_again() {
    let disk = Disk::patterned(2 * P as usize);
    let f = file("flaky", &disk);
    let mm = Mm::new();
    mm.mmap(A, 2 * P, RW, PRIVATE, Some((f.clone(), 0)), ())
        .unwrap();
    disk.fail_reads.store(true, Ordering::Relaxed);
    assert_eq!(mm.handle_fault(A, Access::Read), Err(FaultError::Bus));
    assert_eq!(mm.handle_fault(A, Access::Write), Err(FaultError::Bus));
    let err = mm.access_read(A + 3, &mut [0u8; 4]).unwrap_err();
    assert_eq!(
        (err.copied, err.addr, err.fault),
        (0, A + 3, FaultError::Bus)
    );
    assert_eq!(err.errno(), Errno::EFAULT);
    // read_at and write_at return the error; nothing was cached.
    assert_eq!(f.read_at(0, &mut [0u8; 4]), Err(Errno::EIO));
    assert_eq!(f.write_at(0, b"x"), Err(Errno::EIO));
    // Reads that came before the failing page count.
    disk.fail_reads.store(false, Ordering::Relaxed);
    assert_eq!(f.read_at(P - 2, &mut [0u8; 2]), Ok(2));
    disk.fail_reads.store(true, Ordering::Relaxed);
    assert_eq!(f.read_at(P - 2, &mut [0u8; 4]), Ok(2));
    // Once the contents read again, so does the fault.
    disk.fail_reads.store(false, Ordering::Relaxed);
    assert_eq!(mm.handle_fault(A + P, Access::Read), Ok(()));
    assert_eq!(read(&mm, A + P, 4), disk.at(P, 4));
    mm.access_write(A, b"ok").unwrap();
    assert_eq!(read(&mm, A, 3), [b'o', b'k', 2]);
}

#[test]
fn read_error_on_a_shared_mapping_is_sigbus() {
    let disk = Disk::patterned(P as usize);
    let f = file("flaky", &disk);
    let mm = Mm::new();
    mm.mmap(A, P, RW, SHARED, Some((f, 0)), ()).unwrap();
    disk.fail_reads.store(true, Ordering::Relaxed);
    let err = mm.access_write(A, b"lost").unwrap_err();
    assert_eq!((err.copied, err.fault), (0, FaultError::Bus));
    disk.fail_reads.store(false, Ordering::Relaxed);
    mm.access_write(A, b"kept").unwrap();
    assert_eq!(read(&mm, A, 4), b"kept");
}

#[test]
fn populate_stops_at_a_page_that_cannot_be_read() {
    let disk = Disk::patterned(2 * P as usize);
    disk.fail_reads.store(true, Ordering::Relaxed);
    let mm = Mm::new();
    let f = file("flaky", &disk);
    // MAP_POPULATE ignores errors (the mapping stays); mlock does not.
    mm.mmap(
        A,
        2 * P,
        Prot::READ,
        SHARED | MapFlags::POPULATE,
        Some((f, 0)),
        (),
    )
    .unwrap();
    assert!(mm.mlock(A, 2 * P).is_err());
    disk.fail_reads.store(false, Ordering::Relaxed);
    assert_eq!(read(&mm, A + P, 2), disk.at(P, 2));
}

#[test]
fn page_past_eof_is_still_sigbus() {
    let disk = Disk::patterned(P as usize);
    let mm = Mm::new();
    mm.mmap(A, 2 * P, RW, SHARED, Some((file("short", &disk), 0)), ())
        .unwrap();
    assert_eq!(mm.handle_fault(A + P, Access::Read), Err(FaultError::Bus));
    assert_eq!(read(&mm, A, 2), [0, 1]);
    assert_eq!(mm.handle_fault(A + P, Access::Write), Err(FaultError::Bus));
    assert_eq!(disk.reads.load(Ordering::Relaxed), 1);
}

#[test]
fn write_error_keeps_the_page_dirty() {
    let disk = Disk::patterned(2 * P as usize);
    let f = file("full", &disk);
    let mm = Mm::new();
    mm.mmap(A, 2 * P, RW, SHARED, Some((f.clone(), 0)), ())
        .unwrap();
    mm.access_write(A, b"one").unwrap();
    mm.access_write(A + P, b"two").unwrap();
    disk.fail_writes.store(true, Ordering::Relaxed);
    assert_eq!(f.sync(), Err(Errno::ENOSPC));
    // Both pages were tried (the first error is the one returned).
    assert_eq!(disk.writes.load(Ordering::Relaxed), 2);
    disk.fail_writes.store(false, Ordering::Relaxed);
    f.sync().unwrap();
    assert_eq!(
        (disk.at(0, 3), disk.at(P, 3)),
        (b"one".to_vec(), b"two".to_vec())
    );
    assert_eq!(disk.writes.load(Ordering::Relaxed), 4);
}

#[test]
fn a_file_without_contents_reads_zeroes_and_never_writes_back() {
    let f = File::new("plain", 2 * P);
    assert!(f.contents().is_none());
    let mut buf = [0xAAu8; 4];
    assert_eq!(f.read_at(0, &mut buf), Ok(4));
    assert_eq!(buf, [0; 4]);
    assert_eq!(f.write_at(1, b"ab"), Ok(2));
    assert_eq!(f.sync(), Ok(()));
    assert_eq!(f.read_at(0, &mut buf), Ok(4));
    assert_eq!(&buf, b"\0ab\0");
}

/// Stores through a shared mapping racing with `sync`: after a last
/// `sync`, the contents hold every thread's final value (no store was
/// lost between a writeback's clear of the dirty bit and its copy).
#[test]
fn stores_racing_with_sync_are_never_lost() {
    const THREADS: u64 = 3;
    const ROUNDS: u64 = 2000;
    let disk = Disk::patterned(P as usize);
    let f = file("race", &disk);
    let mm = Mm::new();
    mm.mmap(A, P, RW, SHARED, Some((f.clone(), 0)), ()).unwrap();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let mm = &mm;
            s.spawn(move || {
                for round in 1..=ROUNDS {
                    mm.access_write(A + t * 8, &round.to_le_bytes()).unwrap();
                }
            });
        }
        s.spawn(|| {
            for _ in 0..ROUNDS / 4 {
                f.sync().unwrap();
            }
        });
    });
    f.sync().unwrap();
    for t in 0..THREADS {
        assert_eq!(disk.at(t * 8, 8), ROUNDS.to_le_bytes());
    }
}
