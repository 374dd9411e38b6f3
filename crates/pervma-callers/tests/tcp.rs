//! TCP zero-copy receive, both forms: the kernel's range checks, batches,
//! and a receive racing `munmap`. Every wait is bounded.

use pervma::{Errno, MapFlags, Mm, MmConfig, Prot};
use pervma_callers::{alloc_page, Form, Frames, TcpSocket, TcpZerocopyReceive, Vm, PAGE};
use std::sync::mpsc;
use std::time::Duration;

const FORMS: [Form; 2] = [Form::Old, Form::Helper];

fn zc(address: u64, length: u64) -> TcpZerocopyReceive {
    TcpZerocopyReceive {
        address,
        length,
        recv_skip_hint: 0,
    }
}

#[test]
fn receives_are_clipped_by_the_request_the_vma_and_the_queue() {
    for form in FORMS {
        let frames = Frames::new();
        let mm: Mm<Vm> = Mm::with_backend(MmConfig::default(), frames.clone());
        let sk = TcpSocket::new(&mm, frames.clone(), 3);
        let area = sk.tcp_mmap(100 * PAGE).unwrap();
        // Less than a page queued: nothing mapped, all of it a skip hint.
        let mut r = zc(area, 10 * PAGE);
        sk.tcp_zerocopy_receive(&mut r, form).unwrap();
        assert_eq!((r.length, r.recv_skip_hint), (0, 0));
        // 70 pages queued, 80 asked: 70 mapped, in three batches.
        let pages: Vec<_> = (0..70).map(|_| alloc_page()).collect();
        pages[69].lock().unwrap()[0] = 69;
        sk.deliver(pages);
        let mut r = zc(area, 80 * PAGE);
        sk.tcp_zerocopy_receive(&mut r, form).unwrap();
        assert_eq!((r.length, sk.inq()), (70 * PAGE, 0));
        assert_eq!(
            frames.frame_at(area + 69 * PAGE).unwrap().lock().unwrap()[0],
            69
        );
        // The VMA's end clips: 10 pages queued, 4 fit.
        sk.deliver((0..10).map(|_| alloc_page()));
        let mut r = zc(area + 96 * PAGE, 10 * PAGE);
        sk.tcp_zerocopy_receive(&mut r, form).unwrap();
        assert_eq!((r.length, sk.inq()), (4 * PAGE, 6 * PAGE));
        // A second receive at the same address zaps the first's pages.
        let mut r = zc(area, 3 * PAGE);
        sk.tcp_zerocopy_receive(&mut r, form).unwrap();
        assert_eq!(frames.mapped(area, area + 100 * PAGE), 70 + 4);
        // EINVAL: unaligned, outside any mapping, not a TCP mapping.
        let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
        let anon = mm.mmap(0, PAGE, Prot::READ, flags, None, Vm::Anon).unwrap();
        for address in [area + 8, 0x1000_0000, anon] {
            let mut r = zc(address, PAGE);
            assert_eq!(sk.tcp_zerocopy_receive(&mut r, form), Err(Errno::EINVAL));
        }
        assert_eq!(sk.inq(), 3 * PAGE);
    }
}

/// `munmap` of the receive area racing receives: once it returns, no page
/// is mapped there, and each receive either mapped (before the unmap) or
/// found no TCP VMA.
#[test]
fn no_page_outlives_the_mapping_when_munmap_races_a_receive() {
    for form in FORMS {
        for _ in 0..20 {
            let frames = Frames::new();
            let mm: Mm<Vm> = Mm::with_backend(MmConfig::default(), frames.clone());
            let sk = TcpSocket::new(&mm, frames.clone(), 3);
            let area = sk.tcp_mmap(64 * PAGE).unwrap();
            let (tx, rx) = mpsc::channel();
            std::thread::scope(|s| {
                let sk = &sk;
                s.spawn(move || {
                    let mut results = Vec::new();
                    for i in 0..16 {
                        sk.deliver((0..4).map(|_| alloc_page()));
                        let mut r = zc(area + i * 4 * PAGE, 4 * PAGE);
                        results.push(sk.tcp_zerocopy_receive(&mut r, form));
                    }
                    tx.send(results).unwrap();
                });
                mm.munmap(area, 64 * PAGE).unwrap();
                let results = rx
                    .recv_timeout(Duration::from_secs(20))
                    .expect("a receive hung");
                assert!(results
                    .iter()
                    .all(|r| r.is_ok() || *r == Err(Errno::EINVAL)));
            });
            assert_eq!(frames.mapped(area, area + 64 * PAGE), 0, "{form:?}");
        }
    }
}
