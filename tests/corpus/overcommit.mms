# vm.overcommit_memory 0 (OVERCOMMIT_GUESS): __vm_enough_memory refuses a
# single charge of more pages than RAM + swap (recorded with 24 GiB of RAM
# and no swap: 16 GiB fits, 24 GiB and 32 GiB do not). Nothing here is
# touched.

# mmap: private writable memory is charged (accountable_mapping)
mmap 0x0 0x800000000 rw- private-anon fixed
mmap 0x0 0x600000000 rw- private-anon fixed
mmap 0x0 0x800000000 rw- private-anon noreplace
mmap 0x0 0x400000000 rw- private-anon fixed
# not charged: read-only, MAP_NORESERVE
mmap 0x800000000 0x800000000 r-- private-anon fixed
mmap 0x1000000000 0x800000000 rw- private-anon fixed noreserve
maps
# MAP_FIXED over accounted memory is charged only the difference
# (32 GiB less the 16 GiB it replaces)
mmap 0x0 0x800000000 rw- private-anon fixed
maps
munmap 0x0 0x2000000000

# private file mappings are charged too; shared ones are not
mmap 0x0 0x800000000 rw- private-file:f:0 fixed
mmap 0x0 0x800000000 rw- shared-file:f:0 fixed
munmap 0x0 0x2000000000
# shared anonymous memory: shmem_zero_setup charges it, whatever prot
mmap 0x0 0x800000000 rw- shared-anon fixed
mmap 0x0 0x800000000 r-- shared-anon fixed
mmap 0x0 0x800000000 rw- shared-anon fixed noreserve
mmap 0x0 0x400000000 rw- shared-anon fixed
maps
munmap 0x0 0x2000000000

# a failed MAP_FIXED leaves what was there
mmap 0x0 0x1000 r-- private-anon fixed
mmap 0x0 0x800000000 rw- private-anon fixed
mmap 0x0 0x800000000 rw- shared-anon fixed
maps
munmap 0x0 0x2000000000

# mprotect: making memory writable charges each VMA piece (mprotect_fixup)
mmap 0x0 0x800000000 r-- private-anon fixed
mprotect 0x0 0x800000000 rw-
maps
mprotect 0x0 0x400000000 rw-
mprotect 0x0 0x800000000 rw-
maps
# unfaulted anonymous memory made read-only is uncharged, and charged again
mprotect 0x0 0x800000000 r--
mprotect 0x0 0x800000000 rw-
maps
munmap 0x0 0x2000000000
# two pieces of 16 GiB each fit; the first piece changes before a second
# that does not fit
mmap 0x0 0x400000000 r-- private-file:f:0 fixed
mmap 0x400000000 0x400000000 r-- private-anon fixed
mprotect 0x0 0x800000000 rw-
maps
munmap 0x0 0x2000000000
mmap 0x0 0x100000000 r-- private-file:f:0 fixed
mmap 0x100000000 0x800000000 r-- private-anon fixed
mprotect 0x0 0x900000000 rw-
maps
munmap 0x0 0x2000000000
# not charged: shared, MAP_NORESERVE, already writable
mmap 0x0 0x800000000 r-- shared-file:f:0 fixed
mprotect 0x0 0x800000000 rw-
mmap 0x800000000 0x800000000 r-- private-anon fixed noreserve
mprotect 0x800000000 0x800000000 rw-
maps
munmap 0x0 0x2000000000

# mremap of accounted memory (vrm_calc_charge)
mmap 0x0 0x400000000 rw- private-anon fixed
# grow in place by 8 GiB, then by 24 GiB
mremap 0x0 0x400000000 0x600000000
mremap 0x0 0x600000000 0xc00000000
maps
# a move that grows is charged the growth: 24 GiB, then 8 GiB
mremap 0x0 0x600000000 0xc00000000 fixed 0x800000000
mremap 0x0 0x600000000 0x800000000 fixed 0x800000000
maps
# MREMAP_DONTUNMAP is charged the whole new length
mremap 0x800000000 0x800000000 0x800000000 fixed 0x0 dontunmap
mremap 0x800000000 0x400000000 0x400000000 fixed 0x0 dontunmap
maps
munmap 0x0 0x2000000000
# two 16 GiB mappings merge into one accounted VMA of 32 GiB; a move of
# the same length is charged nothing
mmap 0x0 0x400000000 rw- private-anon fixed
mmap 0x400000000 0x400000000 rw- private-anon fixed
maps
mremap 0x0 0x800000000 0x800000000 fixed 0x800000000
maps
# a fixed shrink-and-move is charged the amount it shrinks by, after the
# destination was unmapped and the tail cut off
mmap 0x0 0x1000 r-- private-anon fixed
mremap 0x800000000 0x800000000 0x1000 fixed 0x0
maps
munmap 0x0 0x2000000000
# not charged: memory without VM_ACCOUNT
mmap 0x0 0x400000000 r-- private-anon fixed
mremap 0x0 0x400000000 0xc00000000
maps
munmap 0x0 0x2000000000
mmap 0x0 0x1000 rw- private-anon fixed noreserve
mremap 0x0 0x1000 0x800000000
maps
munmap 0x0 0x2000000000
