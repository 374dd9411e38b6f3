//! Gap search: where does a free (`None`) area of a given size and
//! alignment fit?
//!
//! Linux: `mas_empty_area` and `mas_empty_area_rev` in lib/maple_tree.c,
//! used by `unmapped_area` / `unmapped_area_topdown` in mm/mmap.c.
//!
//! Each internal node caches, per child, the length of the longest `None`
//! range in that child's subtree. A search descends only into children
//! that overlap `[low, high]` and whose cached gap is at least `size`,
//! nearest end first. Bounds and alignment can still make such a child
//! fail, in which case the search backtracks to the next candidate; in the
//! common case it touches one path.

use super::node::{Header, FANOUT};
use super::read::{internal_ref, leaf_ref, Snapshot};

/// One gap request: a start `s` with `s % align == 0`, `low <= s` and
/// `s + size - 1 <= high`.
#[derive(Clone, Copy)]
struct Request {
    low: u64,
    high: u64,
    size: u64,
    align: u64,
}

impl Request {
    /// Validates the arguments; `None` if no start can satisfy the bounds.
    fn new(low: u64, high: u64, size: u64, align: u64) -> Option<Self> {
        assert!(size >= 1, "gap search for an empty area");
        assert!(align.is_power_of_two(), "alignment must be a power of two");
        if low > high || high - low < size - 1 {
            return None;
        }
        Some(Request {
            low,
            high,
            size,
            align,
        })
    }

    /// The highest fitting start inside the `None` range `first..=last`.
    fn fit_top(&self, first: u64, last: u64) -> Option<u64> {
        let lo = first.max(self.low);
        let hi = last.min(self.high);
        if lo > hi || hi - lo < self.size - 1 {
            return None;
        }
        let start = (hi - (self.size - 1)) & !(self.align - 1);
        (start >= lo).then_some(start)
    }

    /// The lowest fitting start inside the `None` range `first..=last`.
    fn fit_bottom(&self, first: u64, last: u64) -> Option<u64> {
        let lo = first.max(self.low);
        let hi = last.min(self.high);
        if lo > hi {
            return None;
        }
        let start = lo.checked_add(self.align - 1)? & !(self.align - 1);
        (start <= hi && hi - start >= self.size - 1).then_some(start)
    }
}

impl<V: Copy> Snapshot<'_, V> {
    /// The highest start `s` such that `s % align == 0`, `low <= s`,
    /// `s + size - 1 <= high`, and `s..=s + size - 1` is free (`None`).
    ///
    /// # Panics
    ///
    /// If `size == 0` or `align` is not a power of two.
    #[doc(alias = "mas_empty_area_rev")]
    #[doc(alias = "unmapped_area_topdown")]
    pub(crate) fn gap_top_down(&self, low: u64, high: u64, size: u64, align: u64) -> Option<u64> {
        let req = Request::new(low, high, size, align)?;
        self.top_down(self.root, 0, u64::MAX, &req)
    }

    /// The lowest start `s` such that `s % align == 0`, `low <= s`,
    /// `s + size - 1 <= high`, and `s..=s + size - 1` is free (`None`).
    ///
    /// # Panics
    ///
    /// If `size == 0` or `align` is not a power of two.
    #[doc(alias = "mas_empty_area")]
    #[doc(alias = "unmapped_area")]
    pub(crate) fn gap_bottom_up(&self, low: u64, high: u64, size: u64, align: u64) -> Option<u64> {
        let req = Request::new(low, high, size, align)?;
        self.bottom_up(self.root, 0, u64::MAX, &req)
    }

    /// Searches the subtree at `node` (bounds `min..=max`) from the top.
    fn top_down(&self, node: *const Header, min: u64, max: u64, req: &Request) -> Option<u64> {
        // SAFETY: `node` belongs to this snapshot's version, so it is live
        // and unmodified for the snapshot's lifetime (type invariant).
        let hdr = unsafe { &*node };
        hdr.check_published();
        let len = usize::from(hdr.len);
        if hdr.height == 0 {
            // SAFETY: a leaf of this tree (height 0), live as above.
            let leaf = unsafe { leaf_ref::<V>(node) };
            for i in (0..len).rev() {
                let last = leaf.pivots[i];
                let first = if i == 0 { min } else { leaf.pivots[i - 1] + 1 };
                if first > req.high {
                    continue;
                }
                if last < req.low {
                    break;
                }
                if leaf.slots[i].is_none() {
                    if let Some(s) = req.fit_top(first, last) {
                        return Some(s);
                    }
                }
            }
            return None;
        }
        // SAFETY: an internal node (height > 0), live as above.
        let int = unsafe { internal_ref(node) };
        debug_assert!(len <= FANOUT && int.pivots[len - 1] == max);
        for i in (0..len).rev() {
            let cmax = int.pivots[i];
            let cmin = if i == 0 { min } else { int.pivots[i - 1] + 1 };
            if cmin > req.high {
                continue;
            }
            if cmax < req.low {
                break;
            }
            if int.gaps[i].load_relaxed() < req.size {
                continue;
            }
            if let Some(s) = self.top_down(int.children[i].load(), cmin, cmax, req) {
                return Some(s);
            }
        }
        None
    }

    /// Searches the subtree at `node` (bounds `min..=max`) from the bottom.
    fn bottom_up(&self, node: *const Header, min: u64, max: u64, req: &Request) -> Option<u64> {
        // SAFETY: `node` belongs to this snapshot's version, so it is live
        // and unmodified for the snapshot's lifetime (type invariant).
        let hdr = unsafe { &*node };
        hdr.check_published();
        let len = usize::from(hdr.len);
        if hdr.height == 0 {
            // SAFETY: a leaf of this tree (height 0), live as above.
            let leaf = unsafe { leaf_ref::<V>(node) };
            let mut first = min;
            for i in 0..len {
                let last = leaf.pivots[i];
                if first > req.high {
                    break;
                }
                if last >= req.low && leaf.slots[i].is_none() {
                    if let Some(s) = req.fit_bottom(first, last) {
                        return Some(s);
                    }
                }
                first = last.wrapping_add(1);
            }
            return None;
        }
        // SAFETY: an internal node (height > 0), live as above.
        let int = unsafe { internal_ref(node) };
        debug_assert!(len <= FANOUT && int.pivots[len - 1] == max);
        let mut cmin = min;
        for i in 0..len {
            let cmax = int.pivots[i];
            if cmin > req.high {
                break;
            }
            if cmax >= req.low && int.gaps[i].load_relaxed() >= req.size {
                if let Some(s) = self.bottom_up(int.children[i].load(), cmin, cmax, req) {
                    return Some(s);
                }
            }
            cmin = cmax.wrapping_add(1);
        }
        None
    }
}
