# MADV_FREE over part of a transparent huge page splits it (split_folio),
# and since Linux 6.12 a split maps every subpage that holds only zeroes to
# the shared zero page, so they leave Rss (touch stores zeroes). Over the
# whole huge page there is no split: the pages are only marked lazily
# freeable and stay resident.
mmap 0x1400000 0x400000 rw- private-anon fixed
madvise 0x1400000 0x400000 hugepage
touch 0x14aad79 w
touch 0x1600000 w
maps
madvise 0x1439000 0x1c000 free
madvise 0x1600000 0x200000 free
maps
touch 0x1439000 w
maps
