//! Loom models of the page table's publication protocol and of the page
//! cache's dirty-bit protocol.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p pervma --lib --release mem::loom`.
//!
//! The radix slots are loom atomics (4 per node under loom); page bytes
//! are not, but each page's loom-only canary (`Page::canary`) is loaded by
//! every copy, so a copy from a page that does not happen after the
//! page's construction fails the model ("Causality violation"). Checked
//! by mutation: weakening the `Acquire` load in `PageTable::get` to
//! `Relaxed` makes `loom_fault_vs_copy` fail, and weakening the
//! `Acquire` load of an interior slot in `Radix::leaf` makes
//! `loom_fault_allocating_nodes_vs_copy` fail.
//!
//! For the dirty bit, byte 0 of each page is also a loom atomic
//! (`Page::byte0`), so a writeback's copy may see a stale byte 0 where
//! the memory model allows it. Checked by mutation: removing either
//! `fence(SeqCst)` of the protocol (in `mark_dirty` or in
//! `PageCache::writeback`) makes `loom_store_vs_writeback_of_a_dirty_page`
//! fail.

#![deny(unsafe_code)]

use super::cache::PageCache;
use super::page::{page_chunks, Page};
use super::pte::{NewPte, PageTable, PteKind};
use crate::errno::Errno;
use crate::file::FileContents;
use crate::sync::rcu::{rcu_read_lock, RetireBatch};
use alloc::sync::Arc as StdArc;
use loom::sync::Arc;
use loom::thread;

/// A table of 16 pages: two levels of four slots under loom.
const TASK_SIZE: u64 = 16 * 4096;
const ADDR: u64 = 5 * 4096;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// A page whose first byte is `b`.
fn page(b: u8) -> StdArc<Page> {
    let page = Page::zeroed();
    page.write(0, &[b]);
    StdArc::new(page)
}

/// Installs an anonymous page holding `b` at `ADDR` if the entry is
/// empty; returns whether this call installed it.
fn fault(pt: &PageTable, b: u8) -> bool {
    fault_at(pt, ADDR, b)
}

fn fault_at(pt: &PageTable, addr: u64, b: u8) -> bool {
    let rcu = rcu_read_lock();
    let pte = pt.get(addr, &rcu);
    pte.kind() == PteKind::None && pt.install(addr, pte, NewPte::Anon(page(b)), &rcu)
}

/// The first byte at `ADDR`, if a page is mapped there.
fn first_byte(pt: &PageTable) -> Option<u8> {
    let rcu = rcu_read_lock();
    let pte = pt.get(ADDR, &rcu);
    let mut buf = [0u8; 1];
    let chunk = page_chunks(ADDR, 1).next().unwrap();
    match pte.kind() {
        PteKind::None => None,
        _ => {
            let page = pte.anon_page().expect("only anonymous pages here");
            page.read(chunk.in_page, &mut buf);
            Some(buf[0])
        }
    }
}

/// Two faults on one empty page: exactly one installs its page (and the
/// nodes above it, which both may try to allocate), and the page mapped
/// at the end is the winner's, whole.
#[test]
fn loom_racing_faults_install_one_page() {
    model(|| {
        let pt = Arc::new(PageTable::new(TASK_SIZE));
        let (a, b) = (pt.clone(), pt.clone());
        let ta = thread::spawn(move || fault(&a, 1));
        let tb = thread::spawn(move || fault(&b, 2));
        let (wa, wb) = (ta.join().unwrap(), tb.join().unwrap());
        assert!(wa != wb, "exactly one fault installs a page");
        assert_eq!(first_byte(&pt), Some(if wa { 1 } else { 2 }));
    });
}

/// A copy racing the fault that maps the page sees nothing or the whole
/// page as the fault built it (its contents happen before the copy).
/// A neighbour in the same last-level node is mapped first, so that the
/// entry's own publication, not the node's, is what the copy relies on.
#[test]
fn loom_fault_vs_copy() {
    model(|| fault_vs_copy(true));
}

/// The same where the fault also allocates the table's nodes: the copy
/// walks them only after their construction.
#[test]
fn loom_fault_allocating_nodes_vs_copy() {
    model(|| fault_vs_copy(false));
}

/// A fault mapping a page of 7s at `ADDR` racing a copy from it, with
/// the last-level node allocated beforehand or not.
fn fault_vs_copy(nodes_exist: bool) {
    let pt = Arc::new(PageTable::new(TASK_SIZE));
    if nodes_exist {
        assert!(fault_at(&pt, ADDR + 4096, 1));
    }
    let (a, b) = (pt.clone(), pt.clone());
    let faulter = thread::spawn(move || assert!(fault(&a, 7)));
    let reader = thread::spawn(move || {
        let seen = first_byte(&b);
        assert!(matches!(seen, None | Some(7)), "{seen:?}");
    });
    faulter.join().unwrap();
    reader.join().unwrap();
}

/// `MADV_DONTNEED` racing a copy: the copy sees the page's bytes or a
/// missing page (and then faults), never anything else; after the zap the
/// entry is empty.
#[test]
fn loom_zap_vs_copy() {
    model(|| {
        let pt = Arc::new(PageTable::new(TASK_SIZE));
        assert!(fault(&pt, 9));
        let (a, b) = (pt.clone(), pt.clone());
        let zapper = thread::spawn(move || {
            let mut batch = RetireBatch::new();
            a.zap(ADDR, ADDR + 4096, &mut batch);
            rcu_read_lock().retire(batch);
        });
        let reader = thread::spawn(move || {
            let seen = first_byte(&b);
            assert!(matches!(seen, None | Some(9)), "{seen:?}");
        });
        zapper.join().unwrap();
        reader.join().unwrap();
        assert_eq!(first_byte(&pt), None);
    });
}

/// Contents that remember byte 0 of the last write-back of page 0.
struct LastWrite(loom::sync::atomic::AtomicU8);

impl FileContents for LastWrite {
    fn read_page(&self, _index: u64, _buf: &mut [u8]) -> Result<(), Errno> {
        Ok(())
    }

    fn write_page(&self, index: u64, data: &[u8]) -> Result<(), Errno> {
        if index == 0 {
            self.0.store(data[0], loom::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }
}

/// A store to a page racing a writeback of the file: afterwards either
/// the writeback wrote the store's byte back, or the page is still dirty
/// (so the next writeback will). `start_dirty`: the page was dirty before
/// the race (the store then skips setting the bit, the case the fences
/// are for), or clean.
fn store_vs_writeback(start_dirty: bool) {
    let contents = StdArc::new(LastWrite(loom::sync::atomic::AtomicU8::new(0)));
    let cache = Arc::new(PageCache::new(4096, Some(contents.clone())));
    assert!(cache.get(0).unwrap().is_some());
    if start_dirty {
        assert_eq!(cache.write(0, 0, &[1]), Ok(true));
    }
    let (a, b) = (cache.clone(), cache.clone());
    let store = thread::spawn(move || assert_eq!(a.write(0, 0, &[2]), Ok(true)));
    let sync = thread::spawn(move || b.writeback().unwrap());
    store.join().unwrap();
    sync.join().unwrap();
    let written = contents.0.load(loom::sync::atomic::Ordering::Relaxed);
    assert!(
        written == 2 || cache.is_dirty(0),
        "the store was lost: {written} written back and the page clean"
    );
}

#[test]
fn loom_store_vs_writeback_of_a_dirty_page() {
    model(|| store_vs_writeback(true));
}

#[test]
fn loom_store_vs_writeback_of_a_clean_page() {
    model(|| store_vs_writeback(false));
}
