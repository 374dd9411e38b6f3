# mmap next to an existing VMA merges only with a compatible neighbour:
# same protection and flags, same kind, and contiguous file offsets.
mmap 0x100000 0x1000 rw- private-anon fixed
mmap 0x101000 0x1000 rw- private-anon fixed
mmap 0x102000 0x1000 r-- private-anon fixed
mmap 0x103000 0x1000 r-- private-anon fixed noreserve
mmap 0x104000 0x1000 rw- private-anon fixed noreserve
mmap 0x105000 0x1000 rw- private-anon fixed noreserve
mmap 0x106000 0x1000 rw- shared-anon fixed
mmap 0x107000 0x1000 rw- shared-anon fixed
mmap 0x108000 0x1000 rw- private-file:data:0x8000 fixed
mmap 0x109000 0x1000 rw- private-file:data:0x9000 fixed
mmap 0x10a000 0x1000 rw- private-file:data:0x0 fixed
mmap 0x10b000 0x1000 rw- private-file:other:0x1000 fixed
mmap 0x10c000 0x1000 rw- shared-file:other:0x2000 fixed
mmap 0x10d000 0x1000 rw- shared-file:other:0x3000 fixed
mmap 0x10e000 0x1000 rwx private-anon fixed
mmap 0x10f000 0x1000 rwx private-anon fixed
maps
munmap 0x100000 0x100000

# Filling the hole between two compatible VMAs merges all three.
mmap 0x200000 0x1000 rw- private-anon fixed
mmap 0x202000 0x1000 rw- private-anon fixed
mmap 0x201000 0x1000 rw- private-anon fixed
maps
munmap 0x200000 0x100000

# MAP_FIXED over the middle of a VMA: compatible, it is one VMA again;
# different, the VMA is split in three; over two VMAs, both are cut.
mmap 0x300000 0x5000 rw- private-anon fixed
mmap 0x302000 0x1000 rw- private-anon fixed
maps
mmap 0x302000 0x1000 r-- private-anon fixed
maps
mmap 0x301000 0x3000 rw- private-anon fixed
maps
munmap 0x300000 0x100000

# merge.c ksm_merge (without KSM): map two pages, unmap the second, map it
# again, then all of it again.
mmap 0x401000 0x1000 rw- private-anon fixed
mmap 0x402000 0x1000 rw- private-anon fixed
munmap 0x402000 0x1000
mmap 0x402000 0x1000 rw- private-anon fixed
maps
munmap 0x401000 0x2000
mmap 0x401000 0x1000 rw- private-anon fixed
mmap 0x402000 0x1000 rw- private-anon fixed
maps
munmap 0x400000 0x100000

# noreplace next to a VMA merges like fixed.
mmap 0x500000 0x2000 rw- private-anon noreplace
mmap 0x502000 0x2000 rw- private-anon noreplace
maps
