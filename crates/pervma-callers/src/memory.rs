//! The machine's page tables: a [`Backend`] that the callers' drivers
//! insert their own pages into.
//!
//! Linux: mm/memory.c (`vm_insert_page`, `vm_insert_pages`,
//! `zap_page_range_single`), and the PTEs the fault path sets.
//!
//! pervma decides what a fault maps and calls [`Backend::install`]; a
//! driver (binder, TCP) maps pages it owns itself, with `vm_insert_page`,
//! while it holds the VMA (its read lock, or `mmap_lock`): that is why the
//! callers need the VMA locked at all. Holding it is what keeps `munmap`
//! from running between "this VMA is still mine" and "the PTE is set": the
//! unmap write-locks the VMA first (waiting for the inserter), and zaps
//! the range ([`Backend::unmap`]) only after, so no driver page outlives
//! its mapping.
//!
//! [`Frames`] is that page table: one entry per mapped page, pointing at
//! a [`Frame`] (4 KiB of bytes, shared with the driver that owns it).
//! Anonymous faults allocate frames; a fault on a driver mapping whose
//! page the driver did not insert is refused, as `binder_vm_fault` and
//! `tcp_vm_ops` (no `->fault`) give `SIGBUS` (pervma reports a refused
//! install as `FaultError::Oom`).

use crate::Vm;
use pervma::{Access, Backend, Errno, Install, Mapping, PageGone, Prot, VmFlags, Vma};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The page size.
pub const PAGE: u64 = 4096;

/// A page of memory (`struct page`), shared between its owner (a driver's
/// page array, or the page table alone for anonymous memory) and the PTEs
/// that map it.
pub type Frame = Arc<Mutex<Box<[u8; PAGE as usize]>>>;

/// A fresh page of zeroes (`alloc_page(GFP_KERNEL | __GFP_ZERO)`).
pub fn alloc_page() -> Frame {
    Arc::new(Mutex::new(Box::new([0; PAGE as usize])))
}

/// One page-table entry.
#[derive(Clone)]
struct Pte {
    frame: Frame,
    writable: bool,
}

/// The page tables of one address space; plug them into an `Mm` with
/// [`Mm::with_backend`](pervma::Mm::with_backend).
#[derive(Default)]
pub struct Frames {
    ptes: Mutex<HashMap<u64, Pte>>,
}

impl Frames {
    /// Empty page tables.
    pub fn new() -> Arc<Frames> {
        Arc::new(Frames::default())
    }

    /// `vm_insert_page`: maps the driver's `frame` at `addr` in `vma`,
    /// which the caller holds locked (its read lock, or `mmap_lock`; the
    /// `&Vma` can only come from one of the guards).
    ///
    /// # Errors
    ///
    /// `EFAULT` if `addr` is outside `vma` (or unaligned), `EBUSY` if a
    /// page is mapped there already (a racing installer won).
    pub fn vm_insert_page(&self, vma: &Vma<Vm>, addr: u64, frame: Frame) -> Result<(), Errno> {
        if !vma.contains(addr) || addr % PAGE != 0 {
            return Err(Errno::EFAULT);
        }
        let mut ptes = self.ptes.lock().unwrap();
        if ptes.contains_key(&addr) {
            return Err(Errno::EBUSY);
        }
        let writable = vma.flags().contains(VmFlags::WRITE);
        ptes.insert(addr, Pte { frame, writable });
        Ok(())
    }

    /// `vm_insert_pages`: [`vm_insert_page`](Frames::vm_insert_page) for
    /// consecutive pages from `addr`, in one call. Returns how many were
    /// inserted before the first failure and that failure, if any.
    pub fn vm_insert_pages(
        &self,
        vma: &Vma<Vm>,
        addr: u64,
        frames: &[Frame],
    ) -> (usize, Result<(), Errno>) {
        for (i, frame) in frames.iter().enumerate() {
            if let Err(e) = self.vm_insert_page(vma, addr + i as u64 * PAGE, frame.clone()) {
                return (i, Err(e));
            }
        }
        (frames.len(), Ok(()))
    }

    /// `zap_page_range_single` (`zap_vma_range`): unmaps `[addr, addr +
    /// len)` of `vma`, which the caller holds locked.
    pub fn zap_vma_range(&self, vma: &Vma<Vm>, addr: u64, len: u64) {
        let (start, end) = (addr.max(vma.start()), (addr + len).min(vma.end()));
        self.ptes
            .lock()
            .unwrap()
            .retain(|&v, _| !(start <= v && v < end));
    }

    /// The frame mapped at `addr` (the page a user access there reaches),
    /// if any.
    pub fn frame_at(&self, addr: u64) -> Option<Frame> {
        let ptes = self.ptes.lock().unwrap();
        ptes.get(&(addr & !(PAGE - 1))).map(|p| p.frame.clone())
    }

    /// How many pages are mapped in `[start, end)`.
    pub fn mapped(&self, start: u64, end: u64) -> usize {
        let ptes = self.ptes.lock().unwrap();
        ptes.keys().filter(|&&v| start <= v && v < end).count()
    }
}

impl Backend for Frames {
    fn unmap(&self, start: u64, end: u64) {
        let mut ptes = self.ptes.lock().unwrap();
        ptes.retain(|&v, _| !(start <= v && v < end));
    }

    fn discard(&self, m: &Mapping<'_>, _lazy: bool) {
        self.unmap(m.start, m.end);
    }

    fn change_flags(&self, m: &Mapping<'_>, _old: VmFlags) -> Result<(), Errno> {
        let writable = m.prot().contains(Prot::WRITE);
        let mut ptes = self.ptes.lock().unwrap();
        for (_, pte) in ptes.iter_mut().filter(|(&v, _)| m.start <= v && v < m.end) {
            pte.writable &= writable;
        }
        Ok(())
    }

    fn move_range(&self, from: u64, len: u64, to: &Mapping<'_>, _keep: bool) -> Result<(), Errno> {
        let mut ptes = self.ptes.lock().unwrap();
        let moving: Vec<u64> = ptes
            .keys()
            .copied()
            .filter(|&v| from <= v && v < from + len)
            .collect();
        for v in moving {
            let pte = ptes.remove(&v).expect("listed above");
            ptes.insert(to.start + (v - from), pte);
        }
        Ok(())
    }

    fn install(&self, m: &Mapping<'_>, addr: u64, _: Access, what: Install) -> Result<(), Errno> {
        let mut ptes = self.ptes.lock().unwrap();
        let pages: Vec<u64> = match what {
            Install::Anon { huge: true } => {
                let block = addr & !((2 << 20) - 1);
                (block.max(m.start)..(block + (2 << 20)).min(m.end))
                    .step_by(PAGE as usize)
                    .collect()
            }
            _ => vec![addr & !(PAGE - 1)],
        };
        for v in pages {
            let there = ptes.get(&v).cloned();
            match (what, there) {
                // A driver's page (or a racing fault's): keep it.
                (Install::ZeroPage | Install::FilePage, Some(_)) => {}
                // A driver mapping whose page is not inserted: the
                // driver's ->fault (binder_vm_fault) or its absence (TCP)
                // gives SIGBUS.
                (Install::FilePage, None) => {
                    return Err(Errno::EFAULT.because("no page inserted here (VM_FAULT_SIGBUS)"))
                }
                (Install::ZeroPage, None) => {
                    ptes.insert(
                        v,
                        Pte {
                            frame: alloc_page(),
                            writable: false,
                        },
                    );
                }
                (_, Some(pte)) if pte.writable => {}
                // A store: a private copy of what was there, writable.
                (_, there) => {
                    let frame = alloc_page();
                    if let Some(old) = there {
                        **frame.lock().unwrap() = **old.frame.lock().unwrap();
                    }
                    ptes.insert(
                        v,
                        Pte {
                            frame,
                            writable: true,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    fn read(&self, _: &Mapping<'_>, addr: u64, buf: &mut [u8]) -> Result<(), PageGone> {
        let frame = self.frame_at(addr).expect("pervma reads only mapped pages");
        let off = (addr % PAGE) as usize;
        buf.copy_from_slice(&frame.lock().unwrap()[off..off + buf.len()]);
        Ok(())
    }

    fn write(&self, _: &Mapping<'_>, addr: u64, data: &[u8]) -> Result<(), PageGone> {
        let frame = self
            .frame_at(addr)
            .expect("pervma writes only mapped pages");
        let off = (addr % PAGE) as usize;
        frame.lock().unwrap()[off..off + data.len()].copy_from_slice(data);
        Ok(())
    }
}
