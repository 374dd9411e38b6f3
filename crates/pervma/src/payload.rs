//! [`Payload`]: what a VMA's payload must be, stated once.
//!
//! Linux: `vm_area_struct::vm_private_data` and `vm_ops`, the two fields a
//! driver owns in a VMA.

#![deny(unsafe_code)]

/// The payload `T` of an [`Mm<T>`](crate::Mm)'s VMAs: the operations that
/// change an address space (`mmap`, `munmap`, `mprotect`, `mremap`,
/// `madvise`, `mlock`, faults and user copies) need all of these bounds,
/// and read-only lookups need none of them.
///
/// - [`Clone`]: splitting a VMA (`__split_vma`, as a partial `munmap`,
///   `mprotect` or `mremap` does) gives each part a copy of the payload,
///   as Linux copies `vm_private_data`.
/// - [`PartialEq`]: two neighbours merge only if their payloads are equal,
///   as Linux merges only VMAs with the same `vm_ops` and
///   `vm_private_data`.
/// - [`Send`] + [`Sync`]: VMAs are shared by every thread that faults on
///   them, and an unmapped VMA is freed by whichever thread runs the RCU
///   callbacks after the grace period.
/// - `'static`: that deferred free may run after the operation, and the
///   `Mm`, are gone, so the payload may not borrow anything.
///
/// It is implemented for every type that meets them: `()`, integers,
/// `&'static str`, `Arc<YourDriverState>` (with `PartialEq` by pointer if
/// you want), ...
///
/// ```
/// fn serve<T: pervma::Payload>(mm: &pervma::Mm<T>, addr: u64) {
///     let _ = mm.handle_fault(addr, pervma::Access::Read);
/// }
/// serve(&pervma::Mm::<u32>::new(), 0x1000);
/// ```
pub trait Payload: Clone + PartialEq + Send + Sync + 'static {}

impl<T: Clone + PartialEq + Send + Sync + 'static> Payload for T {}
