# The split of a THP by MADV_FREE maps a zero-filled subpage to the zero
# page only where the VMA is not VM_LOCKED (try_to_map_unused_to_zeropage):
# a part moved by mremap and then locked, or a part of the block left
# locked, keeps its pages (and Locked).
mmap 0x0 0x200000 rw- private-anon fixed
madvise 0x0 0x200000 hugepage
touch 0x0 w
mremap 0x100000 0x10000 0x10000 fixed 0x1000000
mlock 0x1000000 0x10000
madvise 0x0 0x1000 free
maps
mmap 0x400000 0x200000 rw- private-anon fixed
madvise 0x400000 0x200000 hugepage
touch 0x400000 w
mlock 0x400000 0x200000
munlock 0x400000 0x100000
maps
madvise 0x400000 0x1000 free
maps
# Locked, then a part moved and unlocked: MADV_FREE there splits the
# folio; the locked VMAs keep their subpages, the unlocked part does not.
mmap 0x800000 0x200000 rw- private-anon fixed
madvise 0x800000 0x200000 hugepage
touch 0x800000 w
mlock 0x800000 0x200000
mremap 0x900000 0x10000 0x10000 fixed 0x1100000
munlock 0x1100000 0x10000
madvise 0x1100000 0x1000 free
maps
