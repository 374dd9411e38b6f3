# Locked is the PSS of a locked VMA: a file page mapped at two (three)
# addresses of the process counts a half (a third) in each, truncated to
# whole bytes of the sum, then to kB.
mmap 0x100000 0x4000 rw- shared-file:data:0 fixed
touch 0x100000 w
touch 0x101000 w
mmap 0x200000 0x4000 r-- private-file:data:0 fixed locked
maps
mmap 0x300000 0x4000 rw- shared-file:data:0 fixed locked
maps
# A private copy is the process's own page: it counts whole.
mprotect 0x200000 0x4000 rw-
touch 0x200000 w
maps
munmap 0x100000 0x4000
munlock 0x300000 0x4000
maps
