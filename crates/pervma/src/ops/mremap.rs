//! `mremap`: resizing a mapping in place, or moving it.
//!
//! Linux: mm/mremap.c (`do_mremap`, `check_mremap_params`,
//! `check_prep_vma`, `remap_move`, `mremap_to`, `mremap_at`,
//! `expand_vma`, `move_vma`, `unmap_source_vma`, `dontunmap_complete`),
//! mm/vma.c (`copy_vma`, `vma_merge_extend`).
//!
//! The paths through a call, as Linux 6.18 takes them:
//!
//! - **Move only** (`MREMAP_FIXED`, equal lengths; `remap_move`, 6.17+):
//!   every VMA in the old range is moved on its own, split where the range
//!   cuts it, to the same offset in the new range. Holes after the first
//!   VMA are allowed and stay holes: what is mapped at their place in the
//!   new range is left alone.
//! - **Fixed or dontunmap with a resize** (`mremap_to`): the new range is
//!   unmapped first (`FIXED`), a shrink unmaps the old range's tail, and
//!   the rest moves.
//! - **In place** (`mremap_at`): equal lengths do nothing (only the first
//!   page needs to be mapped); a shrink unmaps
//!   `[old_addr + new_len, old_addr + old_len)`, whatever VMAs that
//!   covers; a grow extends the VMA over the free space after it (merging
//!   with the next VMA where they are compatible), or moves the mapping
//!   with `MREMAP_MAYMOVE`.
//!
//! A move copies the VMA to its new range (`copy_vma`: merged with the new
//! neighbours where possible; an anonymous VMA without an `anon_vma` takes
//! the pgoff of its new address, any other keeps its own), moves the page
//! tables, then unmaps the old range, or with `MREMAP_DONTUNMAP` leaves it
//! mapped without its pages: no longer locked, and without its `anon_vma`
//! if the whole VMA moved.
//!
//! Like Linux, a call that fails after its first step (the unmapping of
//! the new range, a shrink, the first VMAs of a multi-VMA move) keeps what
//! it did.

#![deny(unsafe_code)]

use super::merge::{merge_new_range, Proposal};
use super::mlock::VM_LOCKED_MASK;
use super::mmap::get_unmapped_area;
use super::munmap::do_munmap;
use super::populate::populate;
use crate::backend::Mapping;
use crate::errno::Errno;
use crate::flags::{
    offset_in_page, MapFlags, MremapFlags, VmFlags, PAGE_SHIFT, PAGE_SIZE, PMD_SIZE,
};
use crate::mm::{MmapWriteGuard, VmaChange, VmaPtr};
use crate::notifier::MmuNotifierEvent;
use crate::payload::Payload;
use crate::vma::VmaFields;
use crate::Mm;

/// `enum mremap_type`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RemapType {
    /// `old_len == new_len`.
    NoResize,
    /// `old_len > new_len`.
    Shrink,
    /// `old_len < new_len`.
    Expand,
}

/// `struct vma_remap_struct`: one `mremap` call as it proceeds. The
/// fields change along the way (a shrink before a move makes `old_len`
/// the new length; a multi-VMA move rewrites them for each VMA).
#[derive(Debug)]
struct Remap {
    addr: u64,
    old_len: u64,
    new_len: u64,
    flags: MremapFlags,
    new_addr: u64,
    delta: u64,
    kind: RemapType,
    /// The VMA is locked and grows: populate the new part afterwards.
    populate_expand: bool,
}

/// `PAGE_ALIGN` as the kernel computes it: wrapping to 0 near 2^64.
fn page_align_wrapping(len: u64) -> u64 {
    len.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

impl Remap {
    fn new(addr: u64, old_len: u64, new_len: u64, flags: MremapFlags, new_addr: u64) -> Self {
        let mut r = Remap {
            addr,
            old_len: page_align_wrapping(old_len),
            new_len: page_align_wrapping(new_len),
            flags,
            new_addr,
            delta: 0,
            kind: RemapType::NoResize,
            populate_expand: false,
        };
        r.set_delta();
        r
    }

    /// `vrm_set_delta` and `vrm_remap_type`.
    fn set_delta(&mut self) {
        self.delta = self.old_len.abs_diff(self.new_len);
        self.kind = match self.old_len.cmp(&self.new_len) {
            core::cmp::Ordering::Equal => RemapType::NoResize,
            core::cmp::Ordering::Greater => RemapType::Shrink,
            core::cmp::Ordering::Less => RemapType::Expand,
        };
    }

    /// `vrm_implies_new_addr`: the mapping will move.
    fn implies_new_addr(&self) -> bool {
        self.flags
            .intersects(MremapFlags::FIXED | MremapFlags::DONTUNMAP)
    }

    /// `vrm_will_map_new`: new address space gets mapped.
    fn will_map_new(&self) -> bool {
        self.kind == RemapType::Expand || self.implies_new_addr()
    }

    /// `vrm_move_only`: a fixed move without a resize.
    fn move_only(&self) -> bool {
        self.flags.contains(MremapFlags::FIXED) && self.old_len == self.new_len
    }

    /// `vrm_overlaps`, with the kernel's wrapping arithmetic.
    fn overlaps(&self) -> bool {
        let end_old = self.addr.wrapping_add(self.old_len);
        let end_new = self.new_addr.wrapping_add(self.new_len);
        end_old > self.new_addr && end_new > self.addr
    }
}

impl<T: Payload> MmapWriteGuard<'_, T> {
    /// `mremap(old_addr, old_len, new_len, flags, new_addr)`: resizes the
    /// mapping at `old_addr`, moving it if allowed or asked to, and returns
    /// its address afterwards. Lengths are rounded up to pages.
    ///
    /// - Equal lengths without `FIXED` do nothing: only `old_addr` must be
    ///   mapped (the range may run past its VMA).
    /// - A shrink unmaps `[old_addr + new_len, old_addr + old_len)`, even
    ///   where that range covers other VMAs, and never moves.
    /// - A grow extends the VMA in place when the range ends where the VMA
    ///   ends and the space after it is free (merging with a compatible
    ///   next VMA); otherwise [`MremapFlags::MAYMOVE`] moves the mapping
    ///   to a free area (`get_unmapped_area`, as `mmap` places), and
    ///   without it the call fails. A locked VMA gets its new part
    ///   populated.
    /// - [`MremapFlags::FIXED`] (with `MAYMOVE`) moves to `new_addr`,
    ///   unmapping what is there first. With equal lengths the old range
    ///   may span several VMAs and holes (Linux 6.17+): each VMA moves to
    ///   the same offset in the new range.
    /// - [`MremapFlags::DONTUNMAP`] (with `MAYMOVE`, equal lengths) moves
    ///   the pages but leaves the old range mapped, empty and unlocked
    ///   (`new_addr` is a hint without `FIXED`).
    ///
    /// The moved VMA merges with compatible new neighbours. An anonymous
    /// VMA that never had anonymous pages (no `anon_vma`) takes the pgoff
    /// of its new address; any other keeps its pgoff. `VM_ACCOUNT` and the
    /// other flags move with it.
    ///
    /// # Errors
    ///
    /// As Linux, in its order:
    /// - `EINVAL`: unknown flags, `old_addr` or (with `FIXED`/`DONTUNMAP`)
    ///   `new_addr` unaligned, `new_len` zero or above `TASK_SIZE`, the new
    ///   range past `TASK_SIZE`, `FIXED` or `DONTUNMAP` without `MAYMOVE`,
    ///   `DONTUNMAP` with a resize, old and new ranges overlapping, old
    ///   length 0 on a private mapping;
    /// - `ENOMEM`: (with `FIXED`/`DONTUNMAP`) the space is within 5 VMAs
    ///   of `max_map_count`;
    /// - `EFAULT`: nothing mapped at `old_addr`, or a range that must stay
    ///   within one VMA (a grow, a move with a resize) runs past its end,
    ///   or a multi-VMA move starting in a hole;
    /// - `ENOMEM`: a grow without room and without `MAYMOVE`, no free area
    ///   to move to, a new range past `TASK_SIZE`, or too many VMAs for
    ///   the splits a move needs;
    /// - `EPERM`: a new address below `mmap_min_addr`;
    /// - `EPERM`: the old VMA is sealed ([`mseal`](Self::mseal)), or a
    ///   sealed VMA is in the new range (as for `munmap`) or in the part
    ///   a shrink unmaps;
    /// - `ENOMEM`: the overcommit policy
    ///   ([`MmConfig::overcommit`](crate::MmConfig)) refuses the charge of
    ///   a `VM_ACCOUNT` VMA that grows or moves (`vrm_calc_charge`).
    ///
    /// A `FIXED` move that fails has unmapped the new range already, and
    /// a multi-VMA move that fails has moved the VMAs before the failing
    /// one, as in Linux.
    pub fn mremap(
        &mut self,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        flags: MremapFlags,
        new_addr: u64,
    ) -> Result<u64, Errno> {
        let mut r = Remap::new(old_addr, old_len, new_len, flags, new_addr);
        let mut change = VmaChange::new(self);
        check_mremap_params(&change, &r)?;
        let result = if r.move_only() {
            remap_move(&mut change, &mut r)
        } else {
            let vma = vma_lookup(&change, r.addr);
            match check_prep_vma(&change, vma, &mut r) {
                Ok(vma) if r.implies_new_addr() => mremap_to(&mut change, &mut r, vma),
                Ok(vma) => mremap_at(&mut change, &mut r, vma),
                Err(e) => Err(e),
            }
        };
        // Also on failure: what was done before it stays, as in Linux.
        change.commit();
        // do_mremap, after mmap_write_unlock: a locked VMA that grew gets
        // its new part populated (mm_populate ignores errors).
        if result.is_ok() && r.populate_expand {
            let start = r.new_addr + r.old_len;
            let mut change = VmaChange::new(self);
            let _ = populate(&mut change, start, start + r.delta, true);
            change.commit();
        }
        result
    }
}

impl<T: Payload> Mm<T> {
    /// [`MmapWriteGuard::mremap`] under its own write lock.
    pub fn mremap(
        &self,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        flags: MremapFlags,
        new_addr: u64,
    ) -> Result<u64, Errno> {
        self.mmap_write_lock()
            .mremap(old_addr, old_len, new_len, flags, new_addr)
    }
}

/// `vma_lookup`: the VMA containing `addr`.
fn vma_lookup<T: Send + Sync + 'static>(
    change: &VmaChange<'_, '_, T>,
    addr: u64,
) -> Option<VmaPtr<T>> {
    change.find(addr).filter(|&v| change.vma(v).start() <= addr)
}

/// `check_mremap_params`: the checks that need no VMA.
fn check_mremap_params<T: Send + Sync + 'static>(
    change: &VmaChange<'_, '_, T>,
    r: &Remap,
) -> Result<(), Errno> {
    let config = change.guard().mm().config;
    let task_size = config.task_size;
    if !MremapFlags::all().contains(r.flags)
        || offset_in_page(r.addr) != 0
        || r.new_len == 0
        || r.new_len > task_size
    {
        return Err(Errno::EINVAL);
    }
    if !r.implies_new_addr() {
        return Ok(());
    }
    if r.new_addr > task_size - r.new_len
        || offset_in_page(r.new_addr) != 0
        || !r.flags.contains(MremapFlags::MAYMOVE)
        || (r.flags.contains(MremapFlags::DONTUNMAP) && r.old_len != r.new_len)
        || r.overlaps()
    {
        return Err(
            Errno::EINVAL.because("bad flags, unaligned, or the new range overlaps the old")
        );
    }
    // A move may split a VMA at each end of both ranges: stay clear of
    // the limit ("map_count + 2 >= sysctl_max_map_count - 3").
    if change.map_count() + 2 >= config.max_map_count.saturating_sub(3) {
        return Err(Errno::ENOMEM.because("a move would come near max_map_count"));
    }
    Ok(())
}

/// `check_prep_vma`: the checks against the VMA at `r.addr` (`vma`).
/// Returns it.
fn check_prep_vma<T: Send + Sync + 'static>(
    change: &VmaChange<'_, '_, T>,
    vma: Option<VmaPtr<T>>,
    r: &mut Remap,
) -> Result<VmaPtr<T>, Errno> {
    let vma = vma.ok_or(Errno::EFAULT.because("no VMA at the old address"))?;
    // If mseal()'d, mremap() is prohibited: moving, resizing, and (in a
    // multi-VMA move) this VMA and the ones after it.
    if change.vma(vma).flags().contains(VmFlags::SEALED) {
        return Err(Errno::EPERM.because("the VMA is sealed (mseal)"));
    }
    r.set_delta();
    if !r.implies_new_addr() {
        r.new_addr = r.addr;
    }
    if !r.will_map_new() {
        return Ok(vma);
    }
    let v = change.vma(vma);
    let flags = v.flags();
    // Old length 0 "duplicates" a mapping, which only makes sense shared.
    if r.old_len == 0 && !flags.intersects(VmFlags::SHARED | VmFlags::MAYSHARE) {
        return Err(Errno::EINVAL.because("old length 0 duplicates only shared mappings"));
    }
    let special = VmFlags::DONTEXPAND | VmFlags::PFNMAP;
    if r.flags.contains(MremapFlags::DONTUNMAP) && flags.intersects(special) {
        return Err(Errno::EINVAL);
    }
    // A shrink may unmap across VMAs; what stays must be in this one.
    let old_len = if r.kind == RemapType::Shrink {
        r.new_len
    } else {
        r.old_len
    };
    if old_len > v.end() - r.addr {
        return Err(Errno::EFAULT.because("the old range runs past its VMA"));
    }
    if r.new_len == old_len {
        return Ok(vma);
    }
    if flags.contains(VmFlags::LOCKED) {
        r.populate_expand = true;
    }
    let pgoff = v.linear_page_index(r.addr);
    if pgoff.checked_add(r.new_len >> PAGE_SHIFT).is_none() {
        return Err(Errno::EINVAL);
    }
    if flags.intersects(special) {
        return Err(Errno::EFAULT);
    }
    // mlock_future_ok and may_expand_vm: pervma has no rlimits.
    Ok(vma)
}

/// `remap_move`: a fixed move without a resize, of every VMA in the old
/// range, each to the same offset in the new range. Returns the new
/// address of the first.
fn remap_move<T: Payload>(change: &mut VmaChange<'_, '_, T>, r: &mut Remap) -> Result<u64, Errno> {
    let start = r.addr;
    // An end past 2^64 wraps in Linux and finds no VMA.
    let end = start.checked_add(r.old_len).ok_or(Errno::EFAULT)?;
    let mut target = r.new_addr;
    let mut first = None;
    let mut last_end = start;
    let mut cursor = start;
    // for_each_vma_range resumes after the end the last VMA had when it
    // was found, and stops at `end`, even if a merge has since grown that
    // VMA past it (an unfaulted tail moved right after its own VMA).
    while cursor < end {
        let Some(vma) = change.find(cursor) else {
            break;
        };
        let (vs, ve) = {
            let v = change.vma(vma);
            (v.start(), v.end())
        };
        if vs >= end {
            break;
        }
        // No hole at the start of the range.
        if first.is_none() && start < vs {
            return Err(Errno::EFAULT.because("a hole at the start of a multi-VMA move"));
        }
        let addr = vs.max(start);
        let len = end.min(ve) - addr;
        // Keep the gaps between source VMAs in the destination.
        // (Unsigned arithmetic as in Linux; found VMAs start at or above
        // `last_end`, so nothing wraps in practice.)
        let offset = if first.is_some() {
            vs.wrapping_sub(last_end)
        } else {
            0
        };
        last_end = ve;
        cursor = ve;
        r.addr = addr;
        r.new_addr = target.wrapping_add(offset);
        r.old_len = len;
        r.new_len = len;
        // vma_multi_allowed: pervma has no userfaultfd and no file with a
        // get_unmapped_area of its own, so every VMA may take part.
        let vma = check_prep_vma(change, Some(vma), r)?;
        let moved = mremap_to(change, r, vma)?;
        first.get_or_insert(moved);
        target = moved.wrapping_add(len);
    }
    first.ok_or(Errno::EFAULT)
}

/// `mremap_to`: moves `[r.addr, r.addr + r.old_len)` to `r.new_addr`
/// (`FIXED`) or near it (`DONTUNMAP` alone), shrinking it first if asked.
fn mremap_to<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    r: &mut Remap,
    vma: VmaPtr<T>,
) -> Result<u64, Errno> {
    let mut vma = vma;
    if r.flags.contains(MremapFlags::FIXED) {
        // Like MAP_FIXED: the new range is unmapped first, even if the
        // move then fails.
        do_munmap(change, r.new_addr, r.new_len)?;
        vma = vma_lookup(change, r.addr).ok_or(Errno::EFAULT)?;
    }
    if r.kind == RemapType::Shrink {
        shrink_vma(change, r)?;
        vma = vma_lookup(change, r.addr).ok_or(Errno::EFAULT)?;
        r.old_len = r.new_len;
    }
    set_new_addr(change, r, vma)?;
    move_vma(change, r, vma)
}

/// `mremap_at`: resizes in place, or moves with `MAYMOVE` when a grow
/// cannot happen in place.
fn mremap_at<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    r: &mut Remap,
    vma: VmaPtr<T>,
) -> Result<u64, Errno> {
    match r.kind {
        RemapType::NoResize => Ok(r.addr),
        RemapType::Shrink => {
            shrink_vma(change, r)?;
            Ok(r.addr)
        }
        RemapType::Expand => {
            if can_expand_in_place(change, r, vma) {
                vrm_calc_charge(change, r, vma)?;
                expand_vma_in_place(change, vma, r.delta)?;
                map_expansion(change, r.addr + r.old_len, r.delta)?;
                return Ok(r.addr);
            }
            if !r.flags.contains(MremapFlags::MAYMOVE) {
                return Err(
                    Errno::ENOMEM.because("cannot grow in place, and MREMAP_MAYMOVE was not given")
                );
            }
            set_new_addr(change, r, vma)?;
            move_vma(change, r, vma)
        }
    }
}

/// `shrink_vma`: unmaps `[addr + new_len, addr + old_len)`, across VMAs
/// if it covers several.
fn shrink_vma<T: Payload>(change: &mut VmaChange<'_, '_, T>, r: &Remap) -> Result<(), Errno> {
    // The unmapped part's pages are zapped with it.
    do_munmap(change, r.addr.wrapping_add(r.new_len), r.delta)
}

/// `vrm_can_expand_in_place` and `vma_expandable`: the range ends where
/// the VMA does, and the `delta` bytes after it are free and inside the
/// address space.
fn can_expand_in_place<T: Payload>(
    change: &VmaChange<'_, '_, T>,
    r: &Remap,
    vma: VmaPtr<T>,
) -> bool {
    let (start, end) = {
        let v = change.vma(vma);
        (v.start(), v.end())
    };
    if end - r.addr != r.old_len {
        return false;
    }
    let Some(new_end) = end.checked_add(r.delta) else {
        return false;
    };
    if change
        .find(end)
        .is_some_and(|n| change.vma(n).start() < new_end)
    {
        return false;
    }
    get_unmapped_area(change, start, new_end - start, MapFlags::FIXED, false).is_ok()
}

/// Owned copies of `vma`'s fields and payload, for a [`Proposal`] to
/// borrow while the change is edited.
fn copy_of<T: Clone + Send + Sync + 'static>(
    change: &VmaChange<'_, '_, T>,
    vma: VmaPtr<T>,
) -> (VmaFields, T) {
    let v = change.vma(vma);
    (v.clone_fields(), v.payload().clone())
}

/// `expand_vma_in_place` (`vma_merge_extend`): merges `delta` bytes after
/// `vma` into it, and it with the next VMA if they now touch and are
/// compatible.
fn expand_vma_in_place<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    vma: VmaPtr<T>,
    delta: u64,
) -> Result<(), Errno> {
    let (fields, payload) = copy_of(change, vma);
    let end = fields.vm_end;
    let p = Proposal {
        start: end,
        end: end + delta,
        pgoff: fields.vm_pgoff + ((end - fields.vm_start) >> PAGE_SHIFT),
        flags: fields.vm_flags,
        file: fields.vm_file.as_ref(),
        anon_vma: fields.anon_vma.as_ref(),
        payload: &payload,
    };
    // `vma` itself is the previous VMA, so this always merges.
    merge_new_range(change, &p).map(|_| ()).ok_or(Errno::ENOMEM)
}

/// The backend maps the `delta` bytes at `start` that a VMA grew by in
/// place; if it cannot, they go again and `mremap` fails.
fn map_expansion<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    start: u64,
    delta: u64,
) -> Result<(), Errno> {
    let Some(backend) = change.guard().mm().backend.as_deref() else {
        return Ok(());
    };
    let mapped = match change.find(start) {
        Some(vma) => backend.grow(&Mapping::of(change.vma(vma), start, start + delta)),
        None => Err(Errno::ENOMEM),
    };
    if mapped.is_err() {
        let _ = do_munmap(change, start, delta);
    }
    mapped
}

/// `vrm_calc_charge`: a `VM_ACCOUNT` VMA is charged the new length with
/// `DONTUNMAP` (the old range stays), else `delta`: the growth, or, for a
/// fixed move that shrinks, the amount it shrank by.
fn vrm_calc_charge<T: Payload>(
    change: &VmaChange<'_, '_, T>,
    r: &Remap,
    vma: VmaPtr<T>,
) -> Result<(), Errno> {
    if !change.vma(vma).flags().contains(VmFlags::ACCOUNT) {
        return Ok(());
    }
    let charged = if r.flags.contains(MremapFlags::DONTUNMAP) {
        r.new_len
    } else {
        r.delta
    };
    let overcommit = change.guard().mm().config.overcommit;
    overcommit.vm_enough_memory(charged >> PAGE_SHIFT)
}

/// `vrm_set_new_addr`: where the mapping moves: `new_addr` with `FIXED`,
/// else a free area (near `new_addr` for `DONTUNMAP`, anywhere for a
/// `MAYMOVE` grow), found as `mmap` finds one.
fn set_new_addr<T: Payload>(
    change: &VmaChange<'_, '_, T>,
    r: &mut Remap,
    vma: VmaPtr<T>,
) -> Result<(), Errno> {
    let v = change.vma(vma);
    let hint = if r.implies_new_addr() { r.new_addr } else { 0 };
    let mut flags = MapFlags::empty();
    if r.flags.contains(MremapFlags::FIXED) {
        flags |= MapFlags::FIXED;
    }
    let shared = v.flags().contains(VmFlags::MAYSHARE);
    if shared {
        flags |= MapFlags::SHARED;
    }
    // __get_unmapped_area: anonymous memory without a hint whose length is
    // a multiple of 2 MiB is THP-aligned.
    let thp_align = v.is_anonymous() && !shared && hint == 0 && r.new_len % PMD_SIZE == 0;
    r.new_addr = get_unmapped_area(change, hint, r.new_len, flags, thp_align)?;
    Ok(())
}

/// `move_vma`: copies the VMA part `[r.addr, r.addr + r.old_len)` to
/// `[r.new_addr, r.new_addr + r.new_len)`, then unmaps the old range (or,
/// with `DONTUNMAP`, empties it). Returns the new address.
fn move_vma<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    r: &Remap,
    vma: VmaPtr<T>,
) -> Result<u64, Errno> {
    // prep_move_vma: the copy and the unmap may each add a VMA.
    let max = change.guard().mm().config.max_map_count;
    if change.map_count() >= max.saturating_sub(3) {
        return Err(Errno::ENOMEM.because("the move would come near max_map_count"));
    }
    vrm_calc_charge(change, r, vma)?;
    // "We don't want racing faults": write-lock the source first.
    change.update(vma, |_, _| {});
    let (source, new_vma) = copy_vma(change, vma, r.addr, r.new_addr, r.new_len)?;
    // move_page_tables: both ranges' VMAs are write-locked by now.
    let realign = can_realign_addr(change, r, source, new_vma);
    let mm = change.guard().mm();
    let (from, to, len) = (r.addr, r.new_addr, r.old_len);
    let _source = mm
        .notifiers
        .invalidate(from, from + len, MmuNotifierEvent::MoveFrom { to });
    let _destination = mm
        .notifiers
        .invalidate(to, to + len, MmuNotifierEvent::MoveTo { from });
    if let Some(backend) = mm.backend.as_deref() {
        let moved = {
            let destination = Mapping::of(change.vma(new_vma), to, r.new_addr + r.new_len);
            let keep_source = r.flags.contains(MremapFlags::DONTUNMAP);
            backend.move_range(from, len, &destination, keep_source)
        };
        if let Err(errno) = moved {
            // The destination goes again, the source stays.
            let _ = do_munmap(change, r.new_addr, r.new_len);
            return Err(errno);
        }
    }
    mm.page_table.move_pmds(from, to, len, realign);
    change.move_pages(from, to, len);
    if r.flags.contains(MremapFlags::DONTUNMAP) {
        dontunmap_complete(change, source, new_vma, r.addr, r.old_len);
    } else {
        unmap_source_vma(change, r.addr, r.old_len);
    }
    Ok(r.new_addr)
}

/// `can_realign_addr` for `PMD_MASK`: whether `move_page_tables` starts
/// at the 2 MiB boundaries below both addresses (so that a first block
/// moves whole), which it does when the range reaches the next boundary,
/// both addresses are equally misaligned, and each starts its VMA with no
/// VMA between it and the boundary below (`can_align_down`).
fn can_realign_addr<T: Payload>(
    change: &VmaChange<'_, '_, T>,
    r: &Remap,
    old: VmaPtr<T>,
    new: VmaPtr<T>,
) -> bool {
    let old_align = r.addr % PMD_SIZE;
    if r.old_len < PMD_SIZE - old_align || old_align == 0 || old_align != r.new_addr % PMD_SIZE {
        return false;
    }
    let can_align_down = |vma: VmaPtr<T>, addr: u64| {
        change.vma(vma).start() == addr
            && change.overlapping(addr & !(PMD_SIZE - 1), addr).is_empty()
    };
    can_align_down(old, r.addr) && can_align_down(new, r.new_addr)
}

/// `copy_vma`: a VMA for `[new_addr, new_addr + len)` with the properties
/// of `vma` at `addr`, merged with its new neighbours where possible.
/// Returns the VMA that now holds the source range (`vma`, or the merged
/// VMA if `vma` was merged into it) and the new one.
fn copy_vma<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    vma: VmaPtr<T>,
    addr: u64,
    new_addr: u64,
    len: u64,
) -> Result<(VmaPtr<T>, VmaPtr<T>), Errno> {
    let (fields, payload) = copy_of(change, vma);
    let vma_start = fields.vm_start;
    let mut pgoff = fields.vm_pgoff + ((addr - vma_start) >> PAGE_SHIFT);
    // An anonymous VMA that was never faulted takes the pgoff of its new
    // place, to merge there more easily.
    if fields.vm_file.is_none() && fields.anon_vma.is_none() {
        pgoff = new_addr >> PAGE_SHIFT;
    }
    let new_end = new_addr + len;
    if !change.overlapping(new_addr, new_end).is_empty() {
        // "should never get here": the new range was unmapped or found free.
        return Err(Errno::ENOMEM);
    }
    let p = Proposal {
        start: new_addr,
        end: new_end,
        pgoff,
        flags: fields.vm_flags,
        file: fields.vm_file.as_ref(),
        anon_vma: fields.anon_vma.as_ref(),
        payload: &payload,
    };
    if let Some(merged) = merge_new_range(change, &p) {
        let m = change.vma(merged);
        // The source may have been merged into the new VMA (an unfaulted
        // VMA moved right next to itself).
        let source = if m.start() <= vma_start && vma_start < m.end() {
            merged
        } else {
            vma
        };
        return Ok((source, merged));
    }
    let new_vma = change.insert(
        VmaFields {
            vm_start: new_addr,
            vm_end: new_end,
            vm_pgoff: pgoff,
            ..fields
        },
        payload,
    );
    Ok((vma, new_vma))
}

/// `unmap_source_vma`: unmaps the old range. Linux clears `VM_ACCOUNT`
/// for the unmap (the pages were charged again for the new VMA) and sets
/// it again on what remains, so flags do not change. An old length of 0
/// unmaps nothing (the unmap fails and Linux ignores it), which is how a
/// shared mapping gets duplicated.
fn unmap_source_vma<T: Payload>(change: &mut VmaChange<'_, '_, T>, addr: u64, len: u64) {
    // The old range's pages were moved; this frees what is left.
    let _ = do_munmap(change, addr, len);
}

/// `dontunmap_complete`: the old VMA stays, no longer locked (all of it,
/// even if only part moved); if all of it moved to another VMA, its
/// `anon_vma` goes too (`unlink_anon_vmas`).
fn dontunmap_complete<T: Payload>(
    change: &mut VmaChange<'_, '_, T>,
    source: VmaPtr<T>,
    new_vma: VmaPtr<T>,
    addr: u64,
    len: u64,
) {
    let whole = {
        let v = change.vma(source);
        v.start() == addr && v.end() == addr + len
    };
    change.update(source, |f, _| {
        f.vm_flags -= VM_LOCKED_MASK;
        if whole && source != new_vma {
            f.anon_vma = None;
        }
    });
}
