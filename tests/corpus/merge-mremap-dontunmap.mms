# merge.c mremap_faulted_to_unfaulted_*: a faulted VMA moved back with
# MREMAP_DONTUNMAP next to unfaulted ones merges with them (and the
# anon_vma must be propagated); the source stays mapped, empty.

# mremap_faulted_to_unfaulted_prev
mmap 0x1004000 0x3000 rw- private-anon fixed
touch 0x1004000 w
mremap 0x1004000 0x3000 0x3000 maymove fixed 0x1014000
mmap 0x1001000 0x3000 rw- private-anon fixed
mremap 0x1014000 0x3000 0x3000 maymove fixed 0x1004000 dontunmap
maps
munmap 0x1000000 0x1000000

# mremap_faulted_to_unfaulted_next
mmap 0x2001000 0x3000 rw- private-anon fixed
touch 0x2001000 w
mremap 0x2001000 0x3000 0x3000 maymove fixed 0x2014000
mmap 0x2004000 0x3000 rw- private-anon fixed
mremap 0x2014000 0x3000 0x3000 maymove fixed 0x2001000 dontunmap
maps
munmap 0x2014000 0x3000
maps
munmap 0x2000000 0x1000000

# mremap_faulted_to_unfaulted_prev_unfaulted_next
mmap 0x3004000 0x3000 rw- private-anon fixed
touch 0x3004000 w
mremap 0x3004000 0x3000 0x3000 maymove fixed 0x3014000
mmap 0x3001000 0x3000 rw- private-anon fixed
mmap 0x3007000 0x3000 rw- private-anon fixed
mremap 0x3014000 0x3000 0x3000 maymove fixed 0x3004000 dontunmap
maps
munmap 0x3000000 0x1000000

# mremap_faulted_to_unfaulted_prev_faulted_next
mmap 0x4004000 0x6000 rw- private-anon fixed
touch 0x4004000 w
mremap 0x4004000 0x3000 0x3000 maymove fixed 0x4014000
mmap 0x4001000 0x3000 rw- private-anon fixed
mremap 0x4014000 0x3000 0x3000 maymove fixed 0x4004000 dontunmap
maps
munmap 0x4000000 0x1000000

# dontunmap without maymove (fixed implies it), and on a shared mapping.
mmap 0x5000000 0x2000 rw- private-anon fixed
mremap 0x5000000 0x2000 0x2000 fixed 0x5100000 dontunmap
mmap 0x5200000 0x2000 rw- shared-anon fixed
mremap 0x5200000 0x2000 0x2000 fixed 0x5300000 dontunmap
mmap 0x5400000 0x2000 rw- private-file:data:0x0 fixed
mremap 0x5400000 0x2000 0x2000 fixed 0x5500000 dontunmap
maps
