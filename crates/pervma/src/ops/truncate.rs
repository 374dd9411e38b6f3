//! What a file's truncation does to an address space that maps it.
//!
//! Linux: mm/truncate.c (`truncate_pagecache`, `truncate_setsize`),
//! mm/memory.c (`unmap_mapping_range`, `unmap_mapping_range_tree`,
//! `zap_page_range_single`), mm/shmem.c (`shmem_setattr`).
//!
//! [`File::truncate`] sets the size, then asks every address space its
//! caller names to forget the pages past the new end
//! ([`FileMappings::file_truncated`]), then drops them from the page
//! cache. Linux walks the file's `i_mmap` tree under `i_mmap_rwsem` and
//! zaps under the page-table locks, racing faults that re-check the size
//! under the folio lock; pervma has no folio lock, so it write-locks each
//! VMA of the file it zaps (under `mmap_lock` for write): a fault that
//! read the old size finishes first and its page is zapped, a fault that
//! comes later sees the new size and gets `SIGBUS`.
//!
//! Private copies count too (`even_cows`): a store to a private mapping
//! of the file past the new end made an anonymous page, and it goes as
//! well. The VMAs stay as they are.

#![deny(unsafe_code)]

use crate::backend::Mapping;
use crate::file::{File, FileMappings};
use crate::flags::{PAGE_SHIFT, PAGE_SIZE};
use crate::mm::{Mm, VmaChange};
use crate::notifier::MmuNotifierEvent;
use crate::payload::Payload;
use crate::sync::rcu::{rcu_read_lock, RetireBatch};

impl<T: Payload> FileMappings for Mm<T> {
    fn file_truncated(&self, file: &File, first_page: Option<u64>, size: u64) {
        let mut guard = self.mmap_write_lock();
        if let Some(first_page) = first_page {
            let mut change = VmaChange::new(&mut guard);
            unmap_mapping_pages(&mut change, file, first_page);
            change.commit();
        }
        if let Some(backend) = self.backend.as_deref() {
            backend.truncate(file, size);
        }
    }
}

/// `unmap_mapping_pages(mapping, first_page, 0, even_cows = true)` in one
/// space: for every VMA of `file` that maps a page from `first_page` on,
/// the part that does is write-locked and zapped, its notifiers told
/// ([`MmuNotifierEvent::Discard`], Linux's `MMU_NOTIFY_CLEAR`) and its
/// backend too ([`Backend::discard`](crate::Backend::discard)).
fn unmap_mapping_pages<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    file: &File,
    first_page: u64,
) {
    let mut addr = 0;
    let mut batch = RetireBatch::new();
    while let Some(vma) = change.find(addr) {
        let (from, to) = {
            let v = change.vma(vma);
            addr = v.end();
            let ours = v.file().is_some_and(|f| core::ptr::eq(&**f, file));
            let pages = v.len() >> PAGE_SHIFT;
            if !ours || v.pgoff().saturating_add(pages) <= first_page {
                continue;
            }
            let skip = first_page.saturating_sub(v.pgoff());
            (v.start() + skip * PAGE_SIZE, v.end())
        };
        // vma_start_write: faults on the VMA finish first, and wait.
        change.update(vma, |_, _| {});
        let mm = change.guard().mm();
        let _invalidate = mm.notifiers.invalidate(from, to, MmuNotifierEvent::Discard);
        if let Some(backend) = mm.backend.as_deref() {
            backend.discard(&Mapping::of(change.vma(vma), from, to), false);
        }
        mm.page_table.zap(from, to, &mut batch);
        mm.page_table.zap_pmds(from, to, false);
    }
    rcu_read_lock().retire(batch);
}
