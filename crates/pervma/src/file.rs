//! What backs a VMA: files (with an identity) and `anon_vma`s.
//!
//! Linux: include/linux/fs.h (`struct file`), include/linux/rmap.h
//! (`struct anon_vma`), mm/shmem.c (`shmem_zero_setup`).

use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

// Identities only: not part of any lock protocol, so a plain core atomic
// (loom atomics cannot live in statics).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A file that can be mapped: an identity, a name and a size.
///
/// Two VMAs map "the same file" when they hold the same `Arc<File>`
/// (`vma->vm_file`), which is what merging compares. Shared anonymous
/// mappings get a file of their own (a shmem object), as Linux gives
/// each one a shmem object.
#[derive(Debug)]
pub struct File {
    id: u64,
    name: String,
    size: u64,
    shmem: bool,
    writable: bool,
}

impl File {
    /// A regular file opened read-write, of `size` bytes.
    pub fn new(name: impl Into<String>, size: u64) -> Arc<File> {
        Arc::new(File {
            id: next_id(),
            name: name.into(),
            size,
            shmem: false,
            writable: true,
        })
    }

    /// A regular file opened read-only: shared writable mappings of it
    /// fail with `EACCES`, and its shared mappings lack `VM_MAYWRITE`.
    pub fn new_read_only(name: impl Into<String>, size: u64) -> Arc<File> {
        Arc::new(File {
            id: next_id(),
            name: name.into(),
            size,
            shmem: false,
            writable: false,
        })
    }

    /// The object behind a shared anonymous mapping.
    pub(crate) fn shmem(size: u64) -> Arc<File> {
        Arc::new(File {
            id: next_id(),
            name: String::from("shmem"),
            size,
            shmem: true,
            writable: true,
        })
    }

    /// A number that identifies the file for as long as it lives.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The file's name (`"shmem"` for shared anonymous memory).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether this is the shmem object of a shared anonymous mapping.
    pub fn is_shmem(&self) -> bool {
        self.shmem
    }

    /// Whether the file was opened for writing.
    pub fn is_writable(&self) -> bool {
        self.writable
    }
}

/// The identity of the anonymous memory of one or more private VMAs.
///
/// Created by the first write fault in a private mapping (and by the other
/// events that need anonymous pages); split VMAs share it, and a new VMA
/// may reuse a neighbour's. Two VMAs with different `anon_vma`s never merge.
#[derive(Debug)]
pub struct AnonVma {
    id: u64,
}

impl AnonVma {
    /// A fresh `anon_vma`.
    pub fn new() -> Arc<AnonVma> {
        Arc::new(AnonVma { id: next_id() })
    }

    /// A number that identifies it for as long as it lives.
    pub fn id(&self) -> u64 {
        self.id
    }
}
