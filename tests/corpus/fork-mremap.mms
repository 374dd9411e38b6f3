# fork and mremap: a forked VMA moved next to VMAs that do not share its
# anon_vma does not merge with them (mm/vma.c is_mergeable_anon_vma,
# vma_is_fork_child, also of the VMA that mremap copies from), while moves
# within the forked VMA's own pieces merge back.

# In the parent, first, as merge.c mremap_faulted_to_unfaulted_prev: a
# faulted VMA moved away and back next to an unfaulted one that continues
# its pgoff merges with it.
mmap 0x900000 0x3000 rw- private-anon fixed
touch 0x900000 w
mremap 0x900000 0x3000 0x3000 maymove fixed 0xa00000
mmap 0x8fd000 0x3000 rw- private-anon fixed
mremap 0xa00000 0x3000 0x3000 maymove fixed 0x900000
maps

mmap 0x100000 0x3000 rw- private-anon fixed
touch 0x100000 w
mmap 0x110000 0x6000 rw- private-anon fixed
touch 0x110000 w
fork child
maps

# The same in the child with a forked VMA: no merge, before or after.
mremap 0x100000 0x3000 0x3000 maymove fixed 0x800000
mmap 0xfd000 0x3000 rw- private-anon fixed
mremap 0x800000 0x3000 0x3000 maymove fixed 0x100000
maps
munmap 0xfd000 0x3000
mremap 0x100000 0x3000 0x3000 maymove fixed 0x800000
mmap 0x103000 0x3000 rw- private-anon fixed
mremap 0x800000 0x3000 0x3000 maymove fixed 0x100000
maps
# ... and with dontunmap (merge.c mremap_faulted_to_unfaulted_*).
munmap 0x103000 0x3000
mremap 0x100000 0x3000 0x3000 maymove fixed 0x800000
mmap 0xfd000 0x3000 rw- private-anon fixed
mremap 0x800000 0x3000 0x3000 maymove fixed 0x100000 dontunmap
maps

# A piece of a forked VMA moved out and back: it merges with its own.
mremap 0x110000 0x2000 0x2000 maymove fixed 0x500000
maps
mremap 0x500000 0x2000 0x2000 maymove fixed 0x110000
maps

# An unfaulted VMA moved next to a forked faulted one, continuing its
# pgoff: no merge.
mmap 0x600000 0x2000 rw- private-anon fixed
mremap 0x600000 0x2000 0x2000 maymove fixed 0x116000
maps

# After a second fork the grandchild's VMAs do not merge with new ones
# either, and its own faults get anon_vmas of their own, which merge as
# usual.
mmap 0x700000 0x2000 rw- private-anon fixed
touch 0x700000 w
fork child
mmap 0x702000 0x2000 rw- private-anon fixed
touch 0x702000 w
mprotect 0x702000 0x2000 rw-
mmap 0x704000 0x2000 rw- private-anon fixed
maps
