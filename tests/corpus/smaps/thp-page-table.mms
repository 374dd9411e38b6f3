# A THP (or the huge zero page) needs an empty PMD entry (pmd_none): a
# page table in the 2 MiB block, even one whose entries are all empty,
# makes every later fault there a PTE-level one. Random seed 2605 found
# the first case.

# mlock populates a page of block 0, whose page table mremap's
# move_page_tables then copies into block 1 (pte_alloc at the destination).
# The read fault in block 1 maps the small zero page without an anon_vma,
# so the VMA still moves as unfaulted (pgoff of its new place) and the
# moved page merges with both pieces around it.
mmap 0x0 0x400000 rw- private-anon fixed
madvise 0x0 0x400000 hugepage
mlock 0xf6000 0x6000
mremap 0x106000 0x5000 0x4000 fixed 0x359000
maps
touch 0x35bb14 r
mremap 0x359000 0x1000 0x7000 fixed 0x3c1000
maps

# The same without the page table: the huge zero page gives the VMA an
# anon_vma, the moved page keeps its pgoff and merges with nothing.
mmap 0x1000000 0x400000 rw- private-anon fixed
madvise 0x1000000 0x400000 hugepage
touch 0x135bb14 r
mremap 0x1359000 0x1000 0x7000 fixed 0x13c1000
maps

# A read before MADV_HUGEPAGE leaves a page table: a later store gets a
# 4 KiB page. MADV_DONTNEED of the whole block frees the table
# (CONFIG_PT_RECLAIM), and the next store gets a THP.
mmap 0x2000000 0x400000 rw- private-anon fixed
touch 0x2200000 r
madvise 0x2000000 0x400000 hugepage
touch 0x2300000 w
maps
madvise 0x2200000 0x200000 dontneed
touch 0x2300000 w
maps

# munmap frees the page tables of blocks with no VMA left in them
# (free_pgtables between the neighbours): a THP again. A block that a VMA
# still reaches into keeps its table: 4 KiB pages.
mmap 0x3000000 0x400000 rw- private-anon fixed
touch 0x3200000 r
munmap 0x3200000 0x200000
mmap 0x3200000 0x200000 rw- private-anon fixed
madvise 0x3000000 0x400000 hugepage
touch 0x3300000 w
maps
mmap 0x4000000 0x400000 rw- private-anon fixed
touch 0x4200000 r
munmap 0x4200000 0x100000
mmap 0x4200000 0x100000 rw- private-anon fixed
madvise 0x4000000 0x400000 hugepage
touch 0x4200000 w
maps

# A whole block moved onto an empty PMD entry takes its table along
# (move_normal_pmd): the destination has 4 KiB pages from then on.
mmap 0x5000000 0x200000 rw- private-anon fixed
touch 0x5000000 r
mremap 0x5000000 0x200000 0x200000 fixed 0x5400000
madvise 0x5400000 0x200000 hugepage
touch 0x5410000 w
mmap 0x5000000 0x200000 rw- private-anon fixed
madvise 0x5000000 0x200000 hugepage
touch 0x5010000 w
maps

# A misaligned move that reaches the next boundary is realigned
# (try_realign_addr) when both VMAs start their ranges with nothing below
# them in the block: the block's table moves whole, and the source block,
# kept by dontunmap, has an empty PMD entry again: a THP there.
mmap 0x6100000 0x100000 rw- private-anon fixed
touch 0x6100000 r
mremap 0x6100000 0x100000 0x100000 dontunmap fixed 0x6500000
mmap 0x6000000 0x100000 rw- private-anon fixed
madvise 0x6000000 0x200000 hugepage
touch 0x6000000 w
mmap 0x6400000 0x100000 rw- private-anon fixed
madvise 0x6400000 0x200000 hugepage
touch 0x6400000 w
maps
# Not realigned (the source VMA starts below the range): the source block
# keeps its table.
mmap 0x7000000 0x200000 rw- private-anon fixed
touch 0x7100000 r
mremap 0x7100000 0x100000 0x100000 dontunmap fixed 0x7500000
madvise 0x7000000 0x200000 hugepage
touch 0x7000000 w
maps
