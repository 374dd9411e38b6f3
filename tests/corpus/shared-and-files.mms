# Shared anonymous memory is one shmem object per mmap: its pieces keep
# their offsets through splits, moves and growth, and merge back when
# contiguous. Files: offsets, merging, COW, and SIGBUS past the end.
mmap 0x100000 0x6000 rw- shared-anon fixed
mprotect 0x102000 0x2000 r--
maps
mprotect 0x102000 0x2000 rw-
maps
munmap 0x101000 0x1000
mremap 0x104000 0x2000 0x2000 fixed 0x200000
maps
mremap 0x102000 0x2000 0x3000
touch 0x104000 w
maps

# Old length 0 duplicates a shared mapping.
mremap 0x100000 0 0x1000 maymove fixed 0x300000
touch 0x100000 w
touch 0x300000 r
maps
munmap 0x100000 0x300000

# Contiguous offsets of one shared file merge; a private mapping does not
# merge with a shared one.
mmap 0x400000 0x2000 rw- shared-file:data:0x10000 fixed
mmap 0x402000 0x2000 rw- shared-file:data:0x12000 fixed
mmap 0x404000 0x2000 rw- private-file:data:0x14000 fixed
touch 0x404000 w
maps
munmap 0x400000 0x100000

# The files are 1 GiB: a mapping may extend past the end, but touching
# there raises SIGBUS.
mmap 0x500000 0x3000 rw- shared-file:other:0x3ffff000 fixed
touch 0x500000 w
touch 0x501000 r
touch 0x502000 w
mmap 0x600000 0x2000 r-- private-file:other:0x3ffff000 fixed
touch 0x600000 r
touch 0x601000 r
mmap 0x700000 0x2000 rw- private-file:other:0x40000000 fixed
touch 0x700000 w
mmap 0x800000 0x2000 rw- shared-file:other:0x3fffe000 fixed populate
mlock 0x800000 0x2000
maps
