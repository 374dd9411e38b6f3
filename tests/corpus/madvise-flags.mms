# madvise advice that sets VMA flags splits the VMA (and merges it back when
# undone); dontneed and free change no flags; some advice is refused.
mmap 0x100000 0xb000 rw- private-anon fixed
madvise 0x100000 0x1000 dontfork
madvise 0x101000 0x1000 wipeonfork
madvise 0x102000 0x1000 hugepage
madvise 0x103000 0x1000 nohugepage
madvise 0x104000 0x1000 random
madvise 0x105000 0x1000 sequential
madvise 0x106000 0x1000 dontneed
madvise 0x107000 0x1000 free
madvise 0x108000 0x1000 normal
maps
madvise 0x100000 0x1000 dofork
madvise 0x101000 0x1000 keeponfork
madvise 0x104000 0x2000 normal
maps
madvise 0x102000 0x2000 nohugepage
maps
madvise 0x102000 0x2000 hugepage
madvise 0x104000 0x1000 sequential
madvise 0x104000 0x1000 random
maps
munmap 0x100000 0x100000

# Shared anonymous memory: no wipeonfork, no free.
mmap 0x200000 0x2000 rw- shared-anon fixed
madvise 0x200000 0x1000 wipeonfork
madvise 0x200000 0x1000 free
madvise 0x200000 0x1000 dontneed
madvise 0x200000 0x1000 dontfork
maps
munmap 0x200000 0x100000

# Locked memory cannot be dropped.
mmap 0x300000 0x2000 rw- private-anon fixed locked
madvise 0x300000 0x1000 dontneed
madvise 0x300000 0x1000 free
madvise 0x300000 0x1000 random
maps
munmap 0x300000 0x100000

# File mappings.
mmap 0x400000 0x2000 r-- private-file:data:0x0 fixed
madvise 0x400000 0x1000 wipeonfork
madvise 0x400000 0x1000 sequential
madvise 0x401000 0x1000 free
madvise 0x401000 0x1000 dontneed
maps
munmap 0x400000 0x100000

# A range over a hole: the advice is applied around it, and ENOMEM.
mmap 0x500000 0x1000 rw- private-anon fixed
mmap 0x502000 0x1000 rw- private-anon fixed
madvise 0x500000 0x3000 random
madvise 0x500000 0x3000 dontneed
maps
