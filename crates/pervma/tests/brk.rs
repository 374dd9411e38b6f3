//! `Mm::brk`, rule by rule (Linux: mm/mmap.c `sys_brk`, mm/vma.c
//! `do_brk_flags`). Each test names the rule it checks.
//!
//! There is no differential test against the live kernel: `brk(2)` in the
//! kernel runner would move the runner's own heap, which its allocator
//! (glibc's `malloc`) owns and uses, and a heap outside the mmscript
//! window cannot be compared with the window's maps. A helper process
//! that never allocates could run one; these rules are the check until
//! then.

use pervma::{Advice, MapFlags, Mm, MmConfig, Overcommit, Prot, VmFlags};

const P: u64 = 4096;
const HEAP: u64 = 0x60_0000;

fn mm() -> Mm<()> {
    Mm::with_config(MmConfig::default().with_start_brk(HEAP))
}

fn vmas(mm: &Mm<()>) -> Vec<(u64, u64, VmFlags)> {
    let mmap = mm.mmap_read_lock();
    mmap.vmas()
        .map(|v| (v.start(), v.end(), v.flags()))
        .collect()
}

const HEAP_FLAGS: VmFlags = VmFlags::READ
    .union(VmFlags::WRITE)
    .union(VmFlags::MAYREAD)
    .union(VmFlags::MAYWRITE)
    .union(VmFlags::MAYEXEC)
    .union(VmFlags::ACCOUNT);

#[test]
fn below_start_brk_is_refused_and_returns_the_break() {
    let mm = mm();
    assert_eq!(mm.brk(0), HEAP);
    assert_eq!(mm.brk(HEAP - P), HEAP);
    assert_eq!(mm.brk_bounds(), (HEAP, HEAP));
    assert!(vmas(&mm).is_empty());
}

#[test]
fn growth_maps_rw_p_accounted_anonymous_memory_with_pgoff_addr() {
    let mm = mm();
    assert_eq!(mm.brk(HEAP + 2 * P), HEAP + 2 * P);
    assert_eq!(vmas(&mm), [(HEAP, HEAP + 2 * P, HEAP_FLAGS)]);
    let mmap = mm.mmap_read_lock();
    let v = mmap.vma_lookup(HEAP).unwrap();
    assert!(v.is_anonymous());
    assert_eq!(v.pgoff(), HEAP >> 12);
}

#[test]
fn growth_extends_the_heap_vma_and_the_break_need_not_be_aligned() {
    let mm = mm();
    assert_eq!(mm.brk(HEAP + 10), HEAP + 10);
    assert_eq!(mm.brk(HEAP + P + 1), HEAP + P + 1);
    assert_eq!(mm.brk(HEAP + 5 * P), HEAP + 5 * P);
    assert_eq!(vmas(&mm), [(HEAP, HEAP + 5 * P, HEAP_FLAGS)]);
    mm.access_write(HEAP + 4 * P, b"heap").unwrap();
}

#[test]
fn the_same_aligned_end_moves_only_the_break() {
    let mm = mm();
    mm.brk(HEAP + 100);
    assert_eq!(mm.brk(HEAP + 4000), HEAP + 4000);
    assert_eq!(mm.brk_bounds().1, HEAP + 4000);
    assert_eq!(vmas(&mm), [(HEAP, HEAP + P, HEAP_FLAGS)]);
}

#[test]
fn shrinking_unmaps_and_keeps_the_rest() {
    let mm = mm();
    mm.brk(HEAP + 4 * P);
    mm.access_write(HEAP, b"kept").unwrap();
    assert_eq!(mm.brk(HEAP + P + 5), HEAP + P + 5);
    assert_eq!(vmas(&mm), [(HEAP, HEAP + 2 * P, HEAP_FLAGS)]);
    let mut buf = [0; 4];
    mm.access_read(HEAP, &mut buf).unwrap();
    assert_eq!(&buf, b"kept");
    // Back to start_brk: the heap is gone.
    assert_eq!(mm.brk(HEAP), HEAP);
    assert!(vmas(&mm).is_empty());
}

#[test]
fn shrinking_over_no_vma_is_refused() {
    let mm = mm();
    mm.brk(HEAP + 4 * P);
    mm.munmap(HEAP, 4 * P).unwrap();
    assert_eq!(mm.brk(HEAP + P), HEAP + 4 * P);
}

#[test]
fn growth_into_or_next_to_a_mapping_is_refused() {
    let mm = mm();
    let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    mm.mmap(HEAP + 4 * P, P, Prot::READ, flags, None, ())
        .unwrap();
    // Over it: refused.
    assert_eq!(mm.brk(HEAP + 6 * P), HEAP);
    // Up to it, leaving no page between: refused too (newbrk + PAGE_SIZE
    // must not pass the next VMA's start).
    assert_eq!(mm.brk(HEAP + 4 * P), HEAP);
    // One page short of it: fine.
    assert_eq!(mm.brk(HEAP + 3 * P), HEAP + 3 * P);
}

#[test]
fn the_heap_vma_is_only_one_reaching_above_start_brk() {
    // A mapping that ends exactly at start_brk is not the heap's: the
    // first growth makes a VMA of its own (vma_prev_limit(start_brk)).
    let mm = mm();
    let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    let rw = Prot::READ | Prot::WRITE;
    mm.mmap(HEAP - 2 * P, 2 * P, rw, flags, None, ()).unwrap();
    assert_eq!(mm.brk(HEAP + P), HEAP + P);
    assert_eq!(vmas(&mm).len(), 2);
}

#[test]
fn growth_does_not_merge_with_a_heap_changed_by_advice() {
    // do_brk_flags merges only with a VMA of the same flags.
    let mm = mm();
    mm.brk(HEAP + 2 * P);
    mm.madvise(HEAP, 2 * P, Advice::DontFork).unwrap();
    assert_eq!(mm.brk(HEAP + 3 * P), HEAP + 3 * P);
    assert_eq!(vmas(&mm).len(), 2);
}

#[test]
fn growth_does_not_extend_a_forked_heap_with_pages() {
    // "singular lists do not occur after forking": a heap VMA whose
    // anon_vma fork made does not take the new range.
    let mm = mm();
    mm.brk(HEAP + 2 * P);
    mm.access_write(HEAP, b"x").unwrap();
    let child = mm.fork().unwrap();
    assert_eq!(child.brk_bounds(), (HEAP, HEAP + 2 * P));
    assert_eq!(child.brk(HEAP + 3 * P), HEAP + 3 * P);
    assert_eq!(vmas(&child).len(), 2);
    // The parent's heap grows in place.
    assert_eq!(mm.brk(HEAP + 3 * P), HEAP + 3 * P);
    assert_eq!(vmas(&mm).len(), 1);
}

#[test]
fn growth_is_charged_to_overcommit() {
    let guess = Overcommit::Guess { total_pages: 8 };
    let mm: Mm<()> = Mm::with_config(
        MmConfig::default()
            .with_start_brk(HEAP)
            .with_overcommit(guess),
    );
    assert_eq!(mm.brk(HEAP + 16 * P), HEAP);
    assert_eq!(mm.brk(HEAP + 8 * P), HEAP + 8 * P);
}

#[test]
fn growth_past_task_size_or_below_mmap_min_addr_is_refused() {
    let top = MmConfig::default().task_size;
    let mm: Mm<()> = Mm::with_config(MmConfig::default().with_start_brk(top - P));
    assert_eq!(mm.brk(top + P), top - P);
    let low: Mm<()> = Mm::with_config(MmConfig::default().with_start_brk(0x1000));
    assert_eq!(low.brk(0x3000), 0x1000);
}
