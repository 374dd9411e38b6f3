# mmap and munmap without merges: splits, MAP_FIXED replacement,
# MAP_FIXED_NOREPLACE, file and shared anonymous offsets, and bad input.
mmap 0x100000 0x8000 rw- private-anon fixed
munmap 0x102000 0x2000
maps
mmap 0x103000 0x1000 r-- private-anon fixed
maps
mmap 0x104000 0x1000 rw- private-anon noreplace
mmap 0x10a000 0x1000 r-x private-anon noreplace
mmap 0x105000 0x2000 --- private-anon fixed
maps
mmap 0x200000 0x3000 r-- private-file:data:0x4000 fixed
munmap 0x201000 0x1000
mmap 0x300000 0x4000 rw- shared-anon fixed
munmap 0x301000 0x1000
mmap 0x400000 0x2000 rw- private-anon noreserve fixed
mmap 0x500000 0x2000 rw- shared-file:data:0x0 fixed
maps
munmap 0x100001 0x1000
munmap 0x100000 0
mmap 0x600000 0 rw- private-anon fixed
mmap 0x600001 0x1000 rw- private-anon fixed
mmap 0x600000 0x1000 rw- private-file:data:0x1 fixed
mmap 0x600000 0x1000 rw- private-file:data:0x7ffffffffffff000 fixed
munmap 0x700000 0x1000
maps
munmap 0x0 0x2000000000
maps
