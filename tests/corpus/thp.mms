# THP regions (2 MiB-aligned, madvise hugepage): faults may map huge pages,
# but VMA boundaries only move where a call puts them.
mmap 0x200000 0x400000 rw- private-anon fixed
madvise 0x200000 0x400000 hugepage
touch 0x200000 w
touch 0x400000 w
maps
mprotect 0x201000 0x1000 r--
maps
mprotect 0x201000 0x1000 rw-
maps
madvise 0x400000 0x200000 nohugepage
maps

# Not aligned to 2 MiB.
mmap 0x801000 0x200000 rw- private-anon fixed
madvise 0x801000 0x200000 hugepage
touch 0x900000 w
maps

# Moving huge pages to an aligned and to an unaligned place.
mremap 0x400000 0x200000 0x200000 fixed 0xc00000
mremap 0x200000 0x200000 0x200000 fixed 0xe01000
maps
munmap 0xe01000 0x1000
madvise 0xc00000 0x200000 dontneed
maps
