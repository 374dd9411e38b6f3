# mlock and MAP_LOCKED populate the range; Locked is Rss while the VMA is
# locked (each page mapped once), and drops to 0 on munlock while Rss
# stays.
mmap 0x100000 0x6000 rw- private-anon fixed
touch 0x100000 w
mlock 0x102000 0x2000
maps
munlock 0x102000 0x1000
maps
mmap 0x200000 0x4000 rw- private-anon fixed locked
mmap 0x300000 0x4000 r-- private-anon fixed locked
mmap 0x400000 0x4000 rw- shared-anon fixed locked
mmap 0x500000 0x4000 r-- private-file:data:0 fixed locked
mmap 0x600000 0x4000 rw- private-file:data:0x10000 fixed
mlock 0x600000 0x4000
maps
munlock 0x200000 0x500000
maps
