//! `VmaPtr`: the value type of the `Mm`'s maple tree (`mm_mt`), a
//! pointer to a VMA that the tree owns.
//!
//! Linux: the tree's entries are `struct vm_area_struct *` (mm/vma.c,
//! `vma_iter_store`).
//!
//! A VMA is allocated with `Box` by the `VmaChange` that inserts it,
//! reached only through the tree (and through read guards while
//! read-locked), and freed after an RCU grace period once a change has
//! removed it (or when the `Mm` is dropped); `VmaPtr` itself is a plain
//! `Copy` pointer, and each use says why the VMA is alive.

use crate::vma::Vma;
use core::fmt;
use core::ptr::NonNull;

/// A pointer to a VMA owned by an `Mm`'s tree.
pub(crate) struct VmaPtr<T>(NonNull<Vma<T>>);

impl<T> Clone for VmaPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for VmaPtr<T> {}
impl<T> PartialEq for VmaPtr<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<T> Eq for VmaPtr<T> {}
impl<T> fmt::Debug for VmaPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VmaPtr({:p})", self.0)
    }
}

impl<T> VmaPtr<T> {
    pub(crate) fn from_box(vma: alloc::boxed::Box<Vma<T>>) -> Self {
        VmaPtr(NonNull::from(alloc::boxed::Box::leak(vma)))
    }

    pub(crate) fn as_ptr(self) -> *mut Vma<T> {
        self.0.as_ptr()
    }

    pub(crate) fn non_null(self) -> NonNull<Vma<T>> {
        self.0
    }

    /// # Safety
    ///
    /// The VMA is alive for `'a`: reachable from a tree the caller reads
    /// under RCU or `mmap_lock`, or read-locked by the caller.
    pub(crate) unsafe fn as_ref<'a>(self) -> &'a Vma<T> {
        // SAFETY: forwarded contract.
        unsafe { self.0.as_ref() }
    }
}
