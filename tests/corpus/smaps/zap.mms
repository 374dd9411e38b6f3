# MADV_DONTNEED zaps (Rss drops; private file pages read the file again),
# munmap of part of a VMA, and splits by mprotect, which share out Rss.
mmap 0x100000 0x8000 rw- private-anon fixed populate
madvise 0x102000 0x2000 dontneed
maps
touch 0x102000 r
maps
mmap 0x200000 0x6000 rw- private-file:data:0 fixed populate
madvise 0x200000 0x3000 dontneed
maps
touch 0x200000 r
maps
mmap 0x300000 0x6000 rw- shared-anon fixed populate
madvise 0x300000 0x2000 dontneed
maps
munmap 0x105000 0x2000
maps
mprotect 0x101000 0x1000 r--
mprotect 0x201000 0x2000 r--
mprotect 0x304000 0x1000 r--
maps
