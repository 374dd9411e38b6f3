//! Android binder's buffer pages: the installer and the shrinker.
//!
//! Linux: drivers/android/binder_alloc.c (`binder_install_single_page`,
//! `binder_page_insert`, `binder_page_lookup`, `binder_alloc_free_page`).
//!
//! A process `mmap`s `/dev/binder` once; the driver then fills the
//! mapping with pages on demand, as transactions need buffer space, and a
//! shrinker takes unused pages back under memory pressure. Both must hold
//! the VMA while they change its page table, and both must be sure the
//! VMA is still the allocator's: after `munmap` (and a new `mmap` at the
//! same address) it is someone else's memory. Here the payload
//! [`Vm::Binder`] carries the allocator's id; the kernel checks
//! `binder_alloc_is_mapped`, which `binder_vma_close` clears.
//!
//! The installer may wait (it runs in a transaction's context), so its
//! converted form is [`Mm::lock_vma`]. The shrinker must never block
//! (it runs inside reclaim, under the LRU's spinlock), so it can use the
//! fast path alone: patch 2/6's argument is that its old `mmap_read_trylock`
//! fallback is in vain, since `lock_vma_under_rcu` fails for contention
//! only while a writer holds `mmap_lock` for write, and then the trylock
//! fails too.

use crate::memory::{alloc_page, Frame, Frames, PAGE};
use crate::{Counts, Form, Vm};
use pervma::{Errno, File, MapFlags, Mm, Prot, Vma};
use std::sync::{Arc, Mutex};

/// What the shrinker did with a page (`enum lru_status`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LruStatus {
    /// `LRU_REMOVED_RETRY`: the page was freed (and unmapped, if its VMA
    /// was there).
    Removed,
    /// `LRU_SKIP`: it could not get the locks without waiting; the page
    /// stays for a later scan.
    Skip,
}

/// One process's binder buffer space (`struct binder_alloc`).
pub struct BinderAlloc<'mm> {
    mm: &'mm Mm<Vm>,
    frames: Arc<Frames>,
    id: u32,
    vm_start: u64,
    buffer_size: u64,
    /// `alloc->mutex` and the `alloc->pages[]` it guards.
    pages: Mutex<Vec<Option<Frame>>>,
    /// The old forms' fallbacks and the shrinker's skips.
    pub counts: Counts,
}

impl<'mm> BinderAlloc<'mm> {
    /// `binder_mmap` + `binder_alloc_mmap_handler`: maps `size` bytes of
    /// `/dev/binder` (read-only for the process, shared) and sets up the
    /// allocator `id` over it. `frames` must be `mm`'s backend.
    ///
    /// # Errors
    ///
    /// `mmap`'s.
    pub fn mmap(mm: &'mm Mm<Vm>, frames: Arc<Frames>, id: u32, size: u64) -> Result<Self, Errno> {
        let dev = File::new("/dev/binder", size);
        let vm_start = mm.mmap(
            0,
            size,
            Prot::READ,
            MapFlags::SHARED,
            Some((dev, 0)),
            Vm::Binder(id),
        )?;
        Ok(BinderAlloc {
            mm,
            frames,
            id,
            vm_start,
            buffer_size: size,
            pages: Mutex::new(vec![None; (size / PAGE) as usize]),
            counts: Counts::default(),
        })
    }

    /// The user address of the buffer space (`alloc->vm_start`).
    pub fn vm_start(&self) -> u64 {
        self.vm_start
    }

    /// Pages in the buffer space.
    pub fn pages(&self) -> usize {
        (self.buffer_size / PAGE) as usize
    }

    /// `binder_alloc_is_mapped` for `vma`: is it still this allocator's
    /// mapping?
    fn is_mapped(&self, vma: &Vma<Vm>) -> bool {
        *vma.payload() == Vm::Binder(self.id)
    }

    /// The page installed at `index` (`alloc->pages[index]`), if any.
    pub fn installed(&self, index: usize) -> Option<Frame> {
        self.pages.lock().unwrap()[index].clone()
    }

    /// `binder_install_single_page`: allocates the page for `index` and
    /// maps it into the process with `form`'s `binder_page_insert`; a page
    /// a racing installer mapped first (`EBUSY`) is looked up and kept.
    ///
    /// # Errors
    ///
    /// `ESRCH` when the VMA is gone or no longer the allocator's.
    pub fn binder_install_single_page(&self, index: usize, form: Form) -> Result<(), Errno> {
        let addr = self.vm_start + index as u64 * PAGE;
        let page = alloc_page(); // binder_page_alloc
        let insert = match form {
            Form::Old => self.binder_page_insert_old(addr, page.clone()),
            Form::Helper => self.binder_page_insert(addr, page.clone()),
        };
        let page = match insert {
            Ok(()) => page,
            // EBUSY is ok: someone installed the PTE first but has not
            // set alloc->pages[index] yet; use the page installed.
            Err(e) if e == Errno::EBUSY => self.binder_page_lookup(addr).ok_or(Errno::ESRCH)?,
            Err(e) => return Err(e), // binder_free_page(page)
        };
        // binder_set_installed_page
        self.pages.lock().unwrap()[index] = Some(page);
        Ok(())
    }

    /// `binder_page_insert` before the series: the VMA lock, else
    /// `mmap_lock`, each branch with its own lookup, check and unlock.
    ///
    /// # Errors
    ///
    /// `ESRCH` when the VMA is gone or not the allocator's; `EBUSY` from
    /// `vm_insert_page` when a page is mapped there already.
    pub fn binder_page_insert_old(&self, addr: u64, page: Frame) -> Result<(), Errno> {
        // attempt per-vma lock first
        if let Some(vma) = self.mm.lock_vma_under_rcu(addr) {
            let mut ret = Err(Errno::ESRCH);
            if self.is_mapped(&vma) {
                ret = self.frames.vm_insert_page(&vma, addr, page);
            }
            drop(vma); // vma_end_read
            return ret;
        }
        // fall back to mmap_lock
        self.counts.took_mmap_lock();
        let mmap = self.mm.mmap_read_lock();
        let mut ret = Err(Errno::ESRCH);
        if let Some(vma) = mmap.vma_lookup(addr) {
            if self.is_mapped(vma) {
                ret = self.frames.vm_insert_page(vma, addr, page);
            }
        }
        drop(mmap); // mmap_read_unlock
        ret
    }

    /// `binder_page_insert` converted: one lookup, one check, one unlock.
    ///
    /// # Errors
    ///
    /// As [`binder_page_insert_old`](Self::binder_page_insert_old).
    pub fn binder_page_insert(&self, addr: u64, page: Frame) -> Result<(), Errno> {
        // lock_vma_under_rcu_wait: the fast path, or mmap_lock just long
        // enough to read-lock the VMA.
        let vma = self.mm.lock_vma(addr).ok_or(Errno::ESRCH)?;
        if !self.is_mapped(&vma) {
            return Err(Errno::ESRCH);
        }
        self.frames.vm_insert_page(&vma, addr, page)
        // vma_end_read when `vma` drops
    }

    /// `binder_page_lookup`: the page mapped at `addr`, under `mmap_lock`
    /// for read (`get_user_pages_remote` with `FOLL_NOFAULT`: no fault).
    fn binder_page_lookup(&self, addr: u64) -> Option<Frame> {
        let mmap = self.mm.mmap_read_lock();
        let vma = mmap.vma_lookup(addr)?;
        self.is_mapped(vma).then(|| self.frames.frame_at(addr))?
    }

    /// `binder_alloc_free_page` before the series: the VMA lock, else
    /// `mmap_read_trylock` (reclaim never waits), then `alloc->mutex`
    /// (trylock too); the page leaves `alloc->pages[]`, its PTE is zapped
    /// if the VMA is there, and the page is freed.
    pub fn binder_alloc_free_page_old(&self, index: usize) -> LruStatus {
        let page_addr = self.vm_start + index as u64 * PAGE;
        // `mm_locked`: which of these two guards gets filled decides what
        // is unlocked on the way out (mmap_read_unlock or vma_end_read).
        let vma_locked;
        let mmap_locked;
        // attempt per-vma lock first
        let vma: Option<&Vma<Vm>> = match self.mm.lock_vma_under_rcu(page_addr) {
            Some(guard) => {
                vma_locked = guard;
                Some(&vma_locked)
            }
            None => {
                // fall back to mmap_lock
                let Some(guard) = self.mm.mmap_read_trylock() else {
                    self.counts.skip();
                    return LruStatus::Skip; // err_mmap_read_lock_failed
                };
                self.counts.took_mmap_lock();
                mmap_locked = guard;
                mmap_locked.vma_lookup(page_addr)
            }
        };
        self.free_page_locked(vma, index, page_addr)
        // mutex_unlock, then mmap_read_unlock / vma_end_read: the guards
        // drop in reverse order of declaration
    }

    /// `binder_alloc_free_page` converted (the series' patch 2/6): the
    /// fast path alone. It fails only for contention or for no VMA at
    /// all; either way the page is skipped and stays for a later scan
    /// (a page whose mapping is gone is freed by
    /// `binder_alloc_deferred_release`).
    pub fn binder_alloc_free_page(&self, index: usize) -> LruStatus {
        let page_addr = self.vm_start + index as u64 * PAGE;
        let Some(vma) = self.mm.lock_vma_under_rcu(page_addr) else {
            self.counts.skip();
            return LruStatus::Skip;
        };
        self.free_page_locked(Some(&vma), index, page_addr)
    }

    /// The part of `binder_alloc_free_page` both forms share, with the
    /// VMA (or its absence) held: `alloc->mutex` by trylock, the identity
    /// check, then the page out of `alloc->pages[]` and out of the page
    /// table.
    fn free_page_locked(&self, vma: Option<&Vma<Vm>>, index: usize, page_addr: u64) -> LruStatus {
        let Ok(mut pages) = self.pages.try_lock() else {
            self.counts.skip();
            return LruStatus::Skip; // err_get_alloc_mutex_failed
        };
        // Since a binder_alloc can only be mapped once, the VMA is ours
        // iff the allocator is still mapped (here: the payload says so).
        if vma.is_some_and(|v| !self.is_mapped(v)) {
            self.counts.skip();
            return LruStatus::Skip; // err_invalid_vma
        }
        let page_to_free = pages[index].take(); // binder_set_installed_page(NULL)
        if let Some(vma) = vma {
            self.frames.zap_vma_range(vma, page_addr, PAGE);
        }
        drop(page_to_free); // binder_free_page
        LruStatus::Removed
    }
}
