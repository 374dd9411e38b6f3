//! TCP zero-copy receive: received pages mapped straight into the
//! reader's address space.
//!
//! Linux: net/ipv4/tcp.c (`tcp_mmap`, `find_tcp_vma`,
//! `tcp_zerocopy_receive`, `tcp_zerocopy_vm_insert_batch`).
//!
//! A reader `mmap`s its TCP socket (`tcp_mmap`: read-only, shared,
//! `vm_ops = &tcp_vm_ops`) and asks `getsockopt(TCP_ZEROCOPY_RECEIVE)`
//! for up to `length` bytes at `address` in it. The kernel finds the VMA,
//! checks that it is a TCP mapping, zaps what the last receive mapped
//! there, and inserts the socket's received pages in batches of 32
//! (`vm_insert_pages`), all while holding the VMA. Here the payload
//! [`Vm::Tcp`] plays `vm_ops == &tcp_vm_ops`.

use crate::memory::{Frame, Frames, PAGE};
use crate::{Counts, Form, Vm};
use pervma::{Errno, File, MapFlags, Mm, MmapReadGuard, Prot, Vma, VmaReadGuard};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// `TCP_ZEROCOPY_PAGE_BATCH_SIZE`: pages per `vm_insert_pages` call.
pub const TCP_ZEROCOPY_PAGE_BATCH_SIZE: usize = 32;

/// `struct tcp_zerocopy_receive`: the request and what came back.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TcpZerocopyReceive {
    /// In: where to map (page-aligned, inside a TCP mapping).
    pub address: u64,
    /// In: at most this many bytes. Out: how many were mapped.
    pub length: u64,
    /// Out: bytes the reader must `recvmsg` instead (not a whole page).
    pub recv_skip_hint: u64,
}

/// What `find_tcp_vma` returns, with its `*mmap_locked` out-parameter:
/// the variant says which lock the caller holds and must drop.
pub enum TcpVma<'mm> {
    /// `*mmap_locked = false`: the VMA's read lock.
    VmaLocked(VmaReadGuard<'mm, Vm>),
    /// `*mmap_locked = true`: `mmap_lock` for read, and the address whose
    /// VMA it protects.
    MmapLocked(MmapReadGuard<'mm, Vm>, u64),
}

impl TcpVma<'_> {
    /// The VMA, whichever lock holds it.
    pub fn vma(&self) -> &Vma<Vm> {
        match self {
            TcpVma::VmaLocked(vma) => vma,
            TcpVma::MmapLocked(mmap, address) => {
                mmap.vma_lookup(*address).expect("found under this lock")
            }
        }
    }
}

/// A connected TCP socket with received data waiting (`struct sock` and
/// its receive queue), in one process.
pub struct TcpSocket<'mm> {
    mm: &'mm Mm<Vm>,
    frames: Arc<Frames>,
    id: u32,
    /// Received whole pages, in order (the skbs' page frags).
    queue: Mutex<VecDeque<Frame>>,
    /// The old form's fallbacks.
    pub counts: Counts,
}

impl<'mm> TcpSocket<'mm> {
    /// A socket of the process whose memory is `mm` (`frames` its
    /// backend).
    pub fn new(mm: &'mm Mm<Vm>, frames: Arc<Frames>, id: u32) -> Self {
        TcpSocket {
            mm,
            frames,
            id,
            queue: Mutex::new(VecDeque::new()),
            counts: Counts::default(),
        }
    }

    /// `mmap(NULL, len, PROT_READ, MAP_SHARED, fd)` on the socket
    /// (`tcp_mmap`).
    ///
    /// # Errors
    ///
    /// `mmap`'s.
    pub fn tcp_mmap(&self, len: u64) -> Result<u64, Errno> {
        let sock = File::new(format!("socket:[TCP {}]", self.id), len);
        let addr = self.mm.mmap(
            0,
            len,
            Prot::READ,
            MapFlags::SHARED,
            Some((sock, 0)),
            Vm::Tcp(self.id),
        )?;
        Ok(addr)
    }

    /// The peer sends `pages` (the socket queues them).
    pub fn deliver(&self, pages: impl IntoIterator<Item = Frame>) {
        self.queue.lock().unwrap().extend(pages);
    }

    /// `tcp_inq`: bytes received and not yet read.
    pub fn inq(&self) -> u64 {
        self.queue.lock().unwrap().len() as u64 * PAGE
    }

    /// `vma->vm_ops == &tcp_vm_ops`.
    fn vma_is_tcp(vma: &Vma<Vm>) -> bool {
        matches!(vma.payload(), Vm::Tcp(_))
    }

    /// `find_tcp_vma` before the series: the VMA lock, else `mmap_lock`,
    /// and the caller told which.
    pub fn find_tcp_vma_old(&self, address: u64) -> Option<TcpVma<'mm>> {
        if let Some(vma) = self.mm.lock_vma_under_rcu(address) {
            if !Self::vma_is_tcp(&vma) {
                return None; // vma_end_read
            }
            return Some(TcpVma::VmaLocked(vma)); // *mmap_locked = false
        }
        self.counts.took_mmap_lock();
        let mmap = self.mm.mmap_read_lock();
        if !mmap.vma_lookup(address).is_some_and(Self::vma_is_tcp) {
            return None; // mmap_read_unlock
        }
        Some(TcpVma::MmapLocked(mmap, address)) // *mmap_locked = true
    }

    /// `find_tcp_vma` converted: the VMA read-locked, or nothing.
    pub fn find_tcp_vma(&self, address: u64) -> Option<VmaReadGuard<'mm, Vm>> {
        let vma = self.mm.lock_vma(address)?;
        Self::vma_is_tcp(&vma).then_some(vma) // else vma_end_read
    }

    /// `tcp_zerocopy_receive`: maps as many whole received pages as fit
    /// at `zc.address` (the kernel's range checks: the request's length,
    /// the VMA's end, the bytes queued), in batches, with `form`'s
    /// `find_tcp_vma`. Pages that could not be mapped stay queued.
    ///
    /// # Errors
    ///
    /// `EINVAL` for an unaligned address or one outside a TCP mapping;
    /// `vm_insert_pages`' error (`EBUSY`, `EFAULT`).
    pub fn tcp_zerocopy_receive(
        &self,
        zc: &mut TcpZerocopyReceive,
        form: Form,
    ) -> Result<(), Errno> {
        let address = zc.address;
        // (The kernel also refuses an address a 32-bit kernel truncated.)
        if address & (PAGE - 1) != 0 {
            return Err(Errno::EINVAL);
        }
        let inq = self.inq();
        if inq < PAGE {
            zc.length = 0;
            zc.recv_skip_hint = inq;
            return Ok(());
        }
        match form {
            Form::Old => {
                let locked = self.find_tcp_vma_old(address).ok_or(Errno::EINVAL)?;
                let ret = self.map_pages(locked.vma(), zc, inq);
                // out: mmap_read_unlock or vma_end_read, as `locked` says
                drop(locked);
                ret
            }
            Form::Helper => {
                let vma = self.find_tcp_vma(address).ok_or(Errno::EINVAL)?;
                self.map_pages(&vma, zc, inq)
                // out: vma_end_read
            }
        }
    }

    /// The body of `tcp_zerocopy_receive` under the VMA: the lengths, the
    /// zap of the last receive's pages, and `tcp_zerocopy_vm_insert_batch`.
    fn map_pages(&self, vma: &Vma<Vm>, zc: &mut TcpZerocopyReceive, inq: u64) -> Result<(), Errno> {
        let address = zc.address;
        let vma_len = zc.length.min(vma.end() - address);
        let avail_len = vma_len.min(inq);
        let total_bytes_to_map = avail_len & !(PAGE - 1);
        if total_bytes_to_map != 0 {
            // (unless TCP_RECEIVE_ZEROCOPY_FLAG_TLB_CLEAN_HINT)
            self.frames.zap_vma_range(vma, address, total_bytes_to_map);
            zc.length = total_bytes_to_map;
            zc.recv_skip_hint = 0;
        } else {
            zc.length = avail_len;
            zc.recv_skip_hint = avail_len;
        }
        let mut queue = self.queue.lock().unwrap();
        let mut mapped = 0;
        while mapped < zc.length {
            let n = (((zc.length - mapped) / PAGE) as usize).min(TCP_ZEROCOPY_PAGE_BATCH_SIZE);
            let batch: Vec<Frame> = queue.drain(..n).collect();
            let (done, ret) = self.frames.vm_insert_pages(vma, address + mapped, &batch);
            mapped += done as u64 * PAGE;
            if let Err(e) = ret {
                // The pages not mapped stay in the receive queue.
                for page in batch.into_iter().skip(done).rev() {
                    queue.push_front(page);
                }
                zc.length = mapped;
                return Err(e);
            }
        }
        Ok(())
    }
}
