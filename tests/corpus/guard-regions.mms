# Guard regions: SIGSEGV on touch (read and write), survive MADV_DONTNEED, no split, populate stops at them (EFAULT), mlock's populate too (ENOMEM, VMA locked), refused on locked VMAs, removed by guard_remove, moved by mremap, dropped by munmap and MAP_FIXED, on shared memory; populate_read/write and remove errno
mmap 0x10000 0x8000 rw- private-anon fixed
touch 0x10000 w
touch 0x11000 w
madvise 0x11000 0x2000 guard_install
maps
touch 0x11000 r
touch 0x12000 w
touch 0x13000 w
madvise 0x10000 0x8000 dontneed
touch 0x11000 r
madvise 0x10000 0x8000 populate_read
madvise 0x13000 0x2000 populate_write
maps
madvise 0x10000 0x1000 guard_remove
madvise 0x11000 0x1000 guard_remove
touch 0x11000 r
mlock 0x10000 0x8000
maps
madvise 0x10000 0x1000 guard_install
munlock 0x10000 0x8000
mremap 0x12000 0x1000 0x1000 fixed 0x40000
touch 0x40000 r
mremap 0x40000 0x1000 0x1000 fixed 0x12000
touch 0x12000 r
munmap 0x12000 0x1000
mmap 0x12000 0x1000 rw- private-anon fixed
touch 0x12000 r
maps
mmap 0x100000 0x4000 rw- shared-anon fixed
touch 0x100000 w
touch 0x101000 w
madvise 0x100000 0x2000 guard_install
touch 0x100000 r
madvise 0x100000 0x2000 guard_remove
touch 0x100000 r
touch 0x102000 w
madvise 0x100000 0x4000 remove
maps
madvise 0x100000 0x4000 populate_write
maps
mmap 0x200000 0x4000 r-- private-file:data:0 fixed
madvise 0x200000 0x4000 populate_write
madvise 0x200000 0x4000 populate_read
madvise 0x200000 0x4000 remove
mmap 0x204000 0x4000 rw- private-anon fixed
madvise 0x204000 0x4000 remove
mmap 0x208000 0x4000 --- private-anon fixed
madvise 0x208000 0x4000 populate_read
mmap 0x20c000 0x4000 -w- private-anon fixed
madvise 0x20c000 0x4000 populate_read
madvise 0x20c000 0x8000 populate_write
madvise 0x210000 0x1000 populate_write
madvise 0x200000 0x10000 willneed
madvise 0x200000 0x20000 willneed
maps
