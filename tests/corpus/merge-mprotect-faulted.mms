# merge.c mprotect_*: mprotect of an unfaulted piece next to a faulted one
# merges (the unfaulted VMA adopts the anon_vma), in every arrangement.
# MAP_NORESERVE, as in merge.c, so VM_ACCOUNT does not get in the way.

# mprotect_unfaulted_left
mmap 0x101000 0xa000 rw- private-anon fixed noreserve
mprotect 0x101000 0x5000 r--
touch 0x106000 w
maps
mprotect 0x106000 0x5000 r--
maps
munmap 0x100000 0x100000

# mprotect_unfaulted_right
mmap 0x201000 0xa000 rw- private-anon fixed noreserve
mprotect 0x206000 0x5000 r--
touch 0x201000 w
mprotect 0x201000 0x5000 r--
maps
munmap 0x200000 0x100000

# mprotect_unfaulted_both
mmap 0x302000 0x9000 rw- private-anon fixed noreserve
mprotect 0x302000 0x3000 r--
mprotect 0x308000 0x3000 r--
touch 0x305000 w
maps
mprotect 0x305000 0x3000 r--
maps
munmap 0x300000 0x100000

# mprotect_faulted_left_unfaulted_right
mmap 0x402000 0x9000 rw- private-anon fixed noreserve
mprotect 0x408000 0x3000 r--
touch 0x402000 w
mprotect 0x402000 0x3000 r--
maps
mprotect 0x405000 0x3000 r--
maps
munmap 0x400000 0x100000

# mprotect_unfaulted_left_faulted_right
mmap 0x502000 0x9000 rw- private-anon fixed noreserve
mprotect 0x502000 0x3000 r--
touch 0x505000 w
mprotect 0x508000 0x3000 r--
maps
mprotect 0x505000 0x3000 r--
maps
munmap 0x500000 0x100000

# The same without noreserve: the piece made read-only before the fault
# loses VM_ACCOUNT; the pieces split off the faulted VMA keep it.
mmap 0x602000 0x9000 rw- private-anon fixed
mprotect 0x602000 0x3000 r--
touch 0x605000 w
mprotect 0x608000 0x3000 r--
mprotect 0x605000 0x3000 r--
maps
