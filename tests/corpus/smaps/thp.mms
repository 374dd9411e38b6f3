# THP (mode madvise): a write fault in an aligned 2 MiB block of an
# MADV_HUGEPAGE private anonymous VMA maps a huge page (Rss 2048 kB); a
# read maps the huge zero page (Rss 0).
mmap 0x200000 0x600000 rw- private-anon fixed
madvise 0x200000 0x600000 hugepage
touch 0x200000 w
maps
touch 0x400000 r
maps
# A store to the huge zero page.
touch 0x400000 w
maps
# A block the VMA does not cover entirely gets small pages.
mmap 0x1001000 0x200000 rw- private-anon fixed
madvise 0x1001000 0x200000 hugepage
touch 0x1100000 w
touch 0x1101000 r
maps
# Splitting a huge page with mprotect keeps its memory; munmap of part of
# it and MADV_DONTNEED free that part.
mprotect 0x201000 0x1000 r--
maps
munmap 0x300000 0x1000
maps
madvise 0x204000 0x2000 dontneed
maps
# Populating (mlock) a hugepage VMA.
mmap 0x2000000 0x400000 rw- private-anon fixed
madvise 0x2000000 0x400000 hugepage
mlock 0x2000000 0x400000
mmap 0x3000000 0x200000 r-- private-anon fixed
madvise 0x3000000 0x200000 hugepage
mlock 0x3000000 0x200000
maps
