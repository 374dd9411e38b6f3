# Write faults give a private VMA an anon_vma, which decides merges: an
# unfaulted VMA merges with a faulted one, two separately faulted ones do
# not. A read fault on private anonymous memory maps the zero page and
# allocates no anon_vma.
mmap 0x100000 0x2000 rw- private-anon fixed
touch 0x100000 r
mmap 0x102000 0x2000 r-- private-anon fixed
mprotect 0x100000 0x2000 r--
maps
munmap 0x100000 0x100000

# Two separately faulted VMAs, then the hole between them filled.
mmap 0x200000 0x1000 rw- private-anon fixed
mmap 0x202000 0x1000 rw- private-anon fixed
touch 0x200000 w
touch 0x202000 w
mmap 0x201000 0x1000 rw- private-anon fixed
maps
munmap 0x200000 0x100000

# A faulted VMA split by mprotect: its pieces share the anon_vma and merge back.
mmap 0x300000 0x3000 rw- private-anon fixed
touch 0x300000 w
mprotect 0x301000 0x1000 r--
maps
mprotect 0x301000 0x1000 rw-
maps
munmap 0x300000 0x100000

# Split first, then fault one piece: the unfaulted pieces adopt its anon_vma.
mmap 0x400000 0x3000 rw- private-anon fixed
mprotect 0x401000 0x1000 r--
touch 0x400000 w
mprotect 0x401000 0x1000 rw-
maps
munmap 0x400000 0x100000

# Split first, then fault both outer pieces: two anon_vmas, so only one side merges.
mmap 0x500000 0x3000 rw- private-anon fixed
mprotect 0x501000 0x1000 r--
touch 0x500000 w
touch 0x502000 w
mprotect 0x501000 0x1000 rw-
maps
munmap 0x500000 0x100000

# Private file: a write fault is a COW and allocates an anon_vma.
mmap 0x600000 0x2000 rw- private-file:data:0x600000 fixed
touch 0x600000 w
mmap 0x602000 0x2000 rw- private-file:data:0x602000 fixed
mmap 0x700000 0x2000 rw- private-file:data:0x700000 fixed
touch 0x700000 r
mmap 0x702000 0x2000 rw- private-file:data:0x702000 fixed
maps
munmap 0x600000 0x200000

# Faults that fail: write to read-only, any access to PROT_NONE; a
# write-only mapping is readable on x86. (Not here: reading --x memory,
# which faults only on CPUs with protection keys.)
mmap 0x800000 0x1000 r-- private-anon fixed
touch 0x800000 w
touch 0x800000 r
mmap 0x801000 0x1000 --- private-anon fixed
touch 0x801000 r
mmap 0x802000 0x1000 -w- private-anon fixed
touch 0x802000 r
touch 0x802000 w
mmap 0x803000 0x1000 --x private-anon fixed
maps
