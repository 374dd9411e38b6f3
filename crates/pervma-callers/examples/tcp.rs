//! TCP zero-copy receive (`find_tcp_vma`, `tcp_zerocopy_receive` in
//! net/ipv4/tcp.c), in the kernel's old form and converted.
//!
//! `cargo run -p pervma-callers --example tcp`
//!
//! The reader maps its socket, the peer sends pages, and each receive
//! maps them at the reader's address, in batches of 32, after the
//! kernel's checks: an address in a TCP mapping, the request's length,
//! the VMA's end, what is queued.

use pervma::{Errno, MapFlags, Mm, MmConfig, Prot};
use pervma_callers::{alloc_page, Form, Frames, TcpSocket, TcpZerocopyReceive, Vm, PAGE};

fn main() {
    let frames = Frames::new();
    let mm: Mm<Vm> = Mm::with_backend(MmConfig::default(), frames.clone());
    let sk = TcpSocket::new(&mm, frames.clone(), 7);
    let area = sk.tcp_mmap(64 * PAGE).expect("tcp_mmap");

    for form in [Form::Old, Form::Helper] {
        // The peer sends 40 pages; the first carries a marker.
        let pages: Vec<_> = (0..40).map(|_| alloc_page()).collect();
        pages[0].lock().unwrap()[..4].copy_from_slice(b"data");
        sk.deliver(pages);
        let mut zc = TcpZerocopyReceive {
            address: area,
            length: 64 * PAGE,
            recv_skip_hint: 0,
        };
        sk.tcp_zerocopy_receive(&mut zc, form).expect("receive");
        let first = frames.frame_at(area).expect("mapped");
        assert_eq!(&first.lock().unwrap()[..4], b"data");
        println!(
            "{form:?}: mapped {} pages at {area:#x} ({} in the VMA), {} still queued",
            zc.length / PAGE,
            frames.mapped(area, area + 64 * PAGE),
            sk.inq() / PAGE
        );
    }

    // The range checks: only what the VMA holds is mapped.
    sk.deliver((0..8).map(|_| alloc_page()));
    let mut zc = TcpZerocopyReceive {
        address: area + 60 * PAGE,
        length: 8 * PAGE,
        recv_skip_hint: 0,
    };
    sk.tcp_zerocopy_receive(&mut zc, Form::Helper).unwrap();
    assert_eq!(zc.length, 4 * PAGE); // vma->vm_end - address
                                     // Not a TCP mapping (vm_ops != &tcp_vm_ops), and unaligned: EINVAL.
    let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
    let anon = mm
        .mmap(0, 4 * PAGE, Prot::READ, flags, None, Vm::Anon)
        .unwrap();
    for form in [Form::Old, Form::Helper] {
        let mut zc = TcpZerocopyReceive {
            address: anon,
            length: PAGE,
            recv_skip_hint: 0,
        };
        assert_eq!(sk.tcp_zerocopy_receive(&mut zc, form), Err(Errno::EINVAL));
        zc.address = area + 1;
        assert_eq!(sk.tcp_zerocopy_receive(&mut zc, form), Err(Errno::EINVAL));
    }
    println!("checks: clipped to the VMA's end; EINVAL outside a TCP mapping or unaligned");
}
