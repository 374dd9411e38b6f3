# Linux 6.17+ (remap_move): MREMAP_FIXED without a resize moves every VMA
# in the old range, each split where the range cuts it, to the same offset
# in the new range. Holes after the first VMA are allowed and stay holes:
# what is mapped at their place in the new range survives.

# Two VMAs of different protections move together.
mmap 0x100000 0x4000 rw- private-anon fixed
mmap 0x104000 0x2000 r-- private-anon fixed
mremap 0x100000 0x6000 0x6000 fixed 0x400000
maps
munmap 0x100000 0x400000

# Cutting into both ends: the first and last VMAs are split.
mmap 0x100000 0x3000 rw- private-anon fixed
mmap 0x103000 0x3000 r-x private-anon fixed
touch 0x100000 w
mremap 0x101000 0x4000 0x4000 fixed 0x201000
maps
munmap 0x100000 0x200000

# A hole in the middle: the mapping at the hole's destination survives.
mmap 0x100000 0x2000 rw- private-anon fixed
mmap 0x103000 0x2000 r-- private-anon fixed
mmap 0x201000 0x2000 r-x private-anon fixed
mremap 0x100000 0x5000 0x5000 fixed 0x200000
maps
munmap 0x100000 0x200000

# A hole at the end is fine; a hole at the start is EFAULT, as is a range
# past the VMA's end without fixed, or with fixed and a resize.
mmap 0x100000 0x2000 rw- private-anon fixed
mremap 0x100000 0x4000 0x4000 fixed 0x200000
mmap 0x301000 0x2000 rw- private-anon fixed
mremap 0x300000 0x3000 0x3000 fixed 0x400000
mremap 0x301000 0x3000 0x3000 maymove
mremap 0x301000 0x3000 0x4000 fixed 0x400000
mremap 0x301000 0x3000 0x3000
maps
munmap 0x100000 0x400000

# Files, shared memory and anonymous memory in one move; the pieces keep
# their offsets, and unfaulted anonymous ones take their new pgoff, so
# they merge with what they land next to.
mmap 0x100000 0x2000 r-- private-file:data:0x10000 fixed
mmap 0x102000 0x2000 rw- shared-anon fixed
mmap 0x104000 0x2000 rw- private-anon fixed
mmap 0x206000 0x2000 rw- private-anon fixed
mremap 0x100000 0x6000 0x6000 fixed 0x200000
maps
munmap 0x100000 0x200000

# With dontunmap, every VMA in the range stays mapped, emptied.
mmap 0x100000 0x2000 rw- private-anon fixed locked
mmap 0x102000 0x2000 r-- private-anon fixed
mremap 0x100000 0x4000 0x4000 fixed 0x200000 dontunmap
maps
munmap 0x100000 0x200000

# A move whose pieces end up next to each other at the destination merge
# there once they agree.
mmap 0x100000 0x2000 rw- private-anon fixed
mmap 0x103000 0x2000 rw- private-anon fixed
mremap 0x100000 0x5000 0x5000 fixed 0x200000
mmap 0x202000 0x1000 rw- private-anon fixed
maps
