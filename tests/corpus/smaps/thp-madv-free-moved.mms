# MADV_FREE splitting a THP that mremap moved in part (random seed 1034).
# The split (split_folio) reaches every mapping of the folio through the
# rmap (unmap_folio, then remap_page), so its zero-filled subpages are
# mapped to the zero page where they were moved to as well (touch stores
# zeroes). "Whole" for MADV_FREE means the entries in the range map the
# whole folio (madvise_folio_pte_batch), not the whole 2 MiB block.
mmap 0x0 0x200000 rw- private-anon fixed
madvise 0x0 0x200000 hugepage
touch 0x49754 w
mremap 0x174000 0x3c000 0x3c000 fixed 0xe65000
maps
madvise 0x48000 0x1000 free
maps
# MADV_FREE of the whole block (across the hole: ENOMEM, done all the
# same) splits a THP moved in part; its moved pages leave Rss too.
mmap 0x400000 0x200000 rw- private-anon fixed
madvise 0x400000 0x200000 hugepage
touch 0x400000 w
mremap 0x500000 0x10000 0x10000 fixed 0x1000000
maps
madvise 0x400000 0x200000 free
maps
# MADV_FREE of the moved part alone splits the folio, and the subpages
# left in the block go to the zero page too.
mmap 0x800000 0x200000 rw- private-anon fixed
madvise 0x800000 0x200000 hugepage
touch 0x800000 w
mremap 0x900000 0x10000 0x10000 fixed 0x1100000
madvise 0x1100000 0x10000 free
maps
# Another THP's subpages moved into a THP's block: MADV_FREE of the
# block's own pages splits only that folio; MADV_FREE of one moved page
# splits the other, in the block and where the rest of it stayed.
mmap 0x1400000 0x200000 rw- private-anon fixed
madvise 0x1400000 0x200000 hugepage
touch 0x1400000 w
mmap 0x1600000 0x200000 rw- private-anon fixed
madvise 0x1600000 0x200000 hugepage
touch 0x1600000 w
mremap 0x1600000 0x20000 0x20000 fixed 0x1480000
maps
madvise 0x1400000 0x80000 free
maps
madvise 0x1480000 0x1000 free
maps
# A THP partly replaced by a new mapping: MADV_FREE of the whole block
# splits it, the new mapping's small page stays.
mmap 0x1c00000 0x200000 rw- private-anon fixed
madvise 0x1c00000 0x200000 hugepage
touch 0x1c00000 w
mmap 0x1d00000 0x10000 rw- private-anon fixed
touch 0x1d00000 w
madvise 0x1c00000 0x200000 free
maps
