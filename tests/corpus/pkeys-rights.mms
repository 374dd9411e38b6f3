# The rights of keys: noaccess denies reads and writes, nowrite denies
# writes, on memory whose protection allows them. A fault leaves the
# rights as they were. Where the CPU has no protection keys, pkey_alloc
# and pkey_mprotect fail and every touch below follows the protection.
mmap 0x100000 0x4000 rw- private-anon fixed
touch 0x100000 w
touch 0x101000 w
pkey_alloc noaccess
pkey_alloc nowrite
pkey_alloc
pkey_mprotect 0x100000 0x1000 rw- 1
pkey_mprotect 0x101000 0x1000 rw- 2
pkey_mprotect 0x102000 0x1000 rw- 3
maps
touch 0x100000 r
touch 0x100000 w
touch 0x101000 r
touch 0x101000 w
touch 0x102000 r
touch 0x102000 w
touch 0x103000 r
touch 0x103000 w
# Again, after the faults: the same answers.
touch 0x100000 r
touch 0x101000 w
touch 0x101000 r

# Unfaulted memory: a denied write does not fault the page in (no
# anon_vma, so the VMA still merges as unfaulted).
mmap 0x200000 0x2000 rw- private-anon fixed
pkey_mprotect 0x200000 0x2000 rw- 2
touch 0x200000 w
touch 0x201000 r
pkey_mprotect 0x200000 0x2000 rw- 0
mmap 0x202000 0x2000 rw- private-anon fixed
maps

# Read-only memory with a nowrite key, no-access memory with a key.
mmap 0x300000 0x2000 r-- private-anon fixed
pkey_mprotect 0x300000 0x1000 r-- 2
pkey_mprotect 0x301000 0x1000 --- 3
touch 0x300000 r
touch 0x300000 w
touch 0x301000 r
maps

# mlock faults the pages in from the kernel, which respects the rights of
# the calling thread too.
mmap 0x400000 0x3000 rw- private-anon fixed
pkey_mprotect 0x400000 0x1000 rw- 1
pkey_mprotect 0x401000 0x1000 rw- 2
pkey_mprotect 0x402000 0x1000 rw- 3
mlock 0x400000 0x1000
mlock 0x401000 0x1000
mlock 0x402000 0x1000
maps
mlock 0x400000 0x3000
maps
touch 0x400000 r
touch 0x401000 r
munlock 0x400000 0x3000
maps
mmap 0x408000 0x2000 rw- private-anon fixed locked
pkey_mprotect 0x408000 0x1000 rw- 1
maps

# A shared mapping: keys split it as they split private memory.
mmap 0x500000 0x4000 rw- shared-anon fixed
pkey_mprotect 0x501000 0x1000 rw- 2
pkey_mprotect 0x502000 0x1000 rw- 1
touch 0x500000 w
touch 0x501000 r
touch 0x501000 w
touch 0x502000 r
maps
pkey_mprotect 0x500000 0x4000 rw- 0
maps

# Freeing a key leaves its rights and its VMAs; allocating it again
# (without rights words) gives the new rights.
pkey_free 1
touch 0x100000 r
pkey_alloc
touch 0x100000 r
touch 0x100000 w
pkey_free 2
pkey_alloc noaccess
touch 0x101000 r
maps
