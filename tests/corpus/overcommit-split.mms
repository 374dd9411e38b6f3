# mmap(MAP_FIXED) whose overcommit charge is refused (OVERCOMMIT_GUESS: a
# charge above RAM + swap, 24 GiB on the machines this was recorded on)
# after vms_gather_munmap_vmas split the VMAs it would replace: the
# splits stay, nothing is unmapped, the pages stay (vms_abort_munmap_vmas).
mmap 0x0 0xc00000000 r-- private-anon fixed
mmap 0x400000000 0x700000000 rw- private-anon fixed
maps
touch 0x400000000 r
munmap 0x0 0xc00000000
# A faulted VMA split in its middle: both parts keep the page.
mmap 0xd00000000 0x3000 rw- private-anon fixed
touch 0xd00001000 w
mmap 0xd00001000 0x700000000 rw- private-anon fixed
maps
touch 0xd00001000 r
munmap 0xd00000000 0x3000
# Over a hole and a whole VMA: nothing to split, nothing changes.
mmap 0xe00000000 0x2000 rw- private-anon fixed
mmap 0xdffff0000 0x700000000 rw- private-anon fixed
maps
# noreserve is not charged: the same mapping succeeds.
mmap 0xdffff0000 0x700000000 rw- private-anon fixed noreserve
maps
