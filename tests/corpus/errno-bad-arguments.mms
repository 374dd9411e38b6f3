# Unaligned starts, empty and overflowing lengths, starts at or above
# 2^47, and holes: the errno each call gets, and what it changed anyway.
mmap 0x100001 0x1000 rw- private-anon fixed
mmap 0x100001 0x1000 rw- private-anon noreplace
mmap 0x100000 0 rw- private-anon fixed
mmap 0x100000 0xffffffffffffffff rw- private-anon fixed
mmap 0x100000 0xfffffffffffff001 rw- private-anon fixed
mmap 0x800000000000 0x1000 rw- private-anon fixed
mmap 0x800000000000 0x1000 rw- private-anon noreplace
mmap 0xfffffffffffff000 0x1000 rw- private-anon fixed
mmap 0x100000 0x1000 rw- private-file:data:0x1001 fixed
mmap 0x100000 0x2000 rw- private-file:data:0xfffffffffffff000 fixed
mmap 0x100000 0x1001 rw- private-anon fixed
maps
mmap 0x100000 0x1000 rw- private-anon noreplace
mmap 0x0ff000 0x2000 rw- private-anon noreplace
mmap 0x200000 0x1000 rw- private-anon fixed noreplace
mmap 0x200000 0x1000 r-- private-anon fixed noreplace
maps

munmap 0x100001 0x1000
munmap 0x100000 0
munmap 0x100000 0xffffffffffffffff
munmap 0x800000000000 0x1000
munmap 0xfffffffffffff000 0x1000
munmap 0x300000 0x1000

mprotect 0x100001 0x1000 r--
mprotect 0x100000 0 r--
mprotect 0x100000 0xffffffffffffffff r--
mprotect 0x100000 0xfffffffffffff001 r--
mprotect 0x800000000000 0x1000 r--
mprotect 0x300000 0x1000 r--
mprotect 0x0ff000 0x2000 r--
mprotect 0x100000 0x3000 r--
maps

madvise 0x100001 0x1000 normal
madvise 0x100000 0 normal
madvise 0x100000 0xffffffffffffffff normal
madvise 0x800000000000 0x1000 normal
madvise 0x300000 0x1000 normal
madvise 0x300000 0x1000 dontneed
madvise 0x0ff000 0x2000 random
madvise 0x100000 0x3000 random
maps

mlock 0x100001 0x1000
mlock 0x100000 0
mlock 0x100000 0xffffffffffffffff
mlock 0x800000000000 0x1000
mlock 0x300000 0x1000
maps
munlock 0x100001 0x1000
munlock 0x100000 0
munlock 0x100000 0xffffffffffffffff
munlock 0x800000000000 0x1000
munlock 0x300000 0x1000
maps

touch 0x800000000000 r
touch 0xffff800000000000 w
touch 0xffffffffffffffff r
