# mremap grows and shrinks in place, moves with MREMAP_FIXED, and merges
# at the destination: an unfaulted VMA takes the pgoff of its new address,
# a faulted one keeps its own.
mmap 0x100000 0x2000 rw- private-anon fixed
mremap 0x100000 0x2000 0x4000
maps
mremap 0x100000 0x4000 0x1000
maps
mmap 0x102000 0x1000 r-- private-anon fixed
mremap 0x100000 0x1000 0x3000
mremap 0x100000 0x1000 0x3000 fixed 0x200000
maps
munmap 0x100000 0x200000

# An unfaulted VMA moved next to a compatible one merges with it.
mmap 0x300000 0x2000 rw- private-anon fixed
mmap 0x400000 0x2000 rw- private-anon fixed
mremap 0x400000 0x2000 0x2000 fixed 0x302000
maps
munmap 0x300000 0x200000

# A faulted VMA moved keeps its pgoff: a new neighbour does not continue it.
mmap 0x500000 0x2000 rw- private-anon fixed
touch 0x500000 w
mremap 0x500000 0x2000 0x2000 fixed 0x602000
mmap 0x600000 0x2000 rw- private-anon fixed
maps
munmap 0x500000 0x200000

# Moving part of a VMA splits the source; moving onto a mapping replaces it.
mmap 0x700000 0x4000 rw- private-anon fixed
mremap 0x701000 0x1000 0x1000 fixed 0x800000
mmap 0x900000 0x3000 r-- private-anon fixed
mremap 0x800000 0x1000 0x1000 fixed 0x901000
maps
munmap 0x700000 0x300000

# Growing while moving, then growing in place after the move.
mmap 0xa00000 0x2000 rw- private-anon fixed
touch 0xa01000 w
mremap 0xa00000 0x2000 0x3000 fixed 0xb00000
mremap 0xb00000 0x3000 0x5000
touch 0xb01000 r
touch 0xb04000 w
maps

# Shrinking with maymove never moves.
mremap 0xb00000 0x5000 0x1000 maymove
maps
munmap 0xa00000 0x200000

# Moving a file mapping keeps its offset; moving a shared one too.
mmap 0xc00000 0x3000 r-- private-file:data:0x5000 fixed
mremap 0xc01000 0x1000 0x1000 fixed 0xd00000
mmap 0xe00000 0x3000 rw- shared-anon fixed
mremap 0xe01000 0x2000 0x2000 fixed 0xf00000
mremap 0xf00000 0x2000 0x3000
maps
