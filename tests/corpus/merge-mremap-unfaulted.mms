# merge.c mremap_unfaulted_*: an unfaulted VMA moved (MREMAP_FIXED) next to
# a faulted one merges with it; between two faulted VMAs with different
# anon_vmas it merges with only one. "Further away" is +8 MiB / +12 MiB.

# mremap_unfaulted_to_faulted
mmap 0x1001000 0x5000 rw- private-anon fixed
mmap 0x1007000 0x5000 rw- private-anon fixed
mremap 0x1007000 0x5000 0x5000 maymove fixed 0x1807000
touch 0x1001000 w
mremap 0x1807000 0x5000 0x5000 maymove fixed 0x1006000
maps
munmap 0x1000000 0x1000000

# mremap_unfaulted_behind_faulted
mmap 0x2006000 0x5000 rw- private-anon fixed
mmap 0x200e000 0x5000 rw- private-anon fixed
mremap 0x200e000 0x5000 0x5000 fixed 0x280e000
touch 0x2006000 w
mremap 0x280e000 0x5000 0x5000 fixed 0x2001000
maps
munmap 0x2000000 0x1000000

# mremap_unfaulted_between_faulted
mmap 0x3001000 0x5000 rw- private-anon fixed
mmap 0x3007000 0x5000 rw- private-anon fixed
mmap 0x300e000 0x5000 rw- private-anon fixed
mremap 0x300e000 0x5000 0x5000 fixed 0x3c0e000
mremap 0x3007000 0x5000 0x5000 fixed 0x3807000
touch 0x3001000 w
touch 0x3c0e000 w
mremap 0x3c0e000 0x5000 0x5000 fixed 0x300b000
maps
mremap 0x3807000 0x5000 0x5000 fixed 0x3006000
maps
munmap 0x3000000 0x1000000

# mremap_unfaulted_between_faulted_unfaulted
mmap 0x4001000 0x5000 rw- private-anon fixed
mmap 0x4007000 0x5000 rw- private-anon fixed
mmap 0x400e000 0x5000 rw- private-anon fixed
mremap 0x400e000 0x5000 0x5000 fixed 0x4c0e000
mremap 0x4007000 0x5000 0x5000 fixed 0x4807000
touch 0x4001000 w
mremap 0x4c0e000 0x5000 0x5000 fixed 0x400b000
maps
mremap 0x4807000 0x5000 0x5000 fixed 0x4006000
maps
