# MAP_POPULATE: writable private memory is populated with write faults
# (anonymous pages), read-only private anonymous memory with the zero page
# (not in Rss), files and shmem with their pages.
mmap 0x100000 0x5000 rw- private-anon fixed populate
mmap 0x200000 0x5000 r-- private-anon fixed populate
mmap 0x300000 0x5000 rw- shared-anon fixed populate
mmap 0x400000 0x5000 r-- private-file:data:0 fixed populate
mmap 0x500000 0x5000 rw- private-file:data:0x100000 fixed populate
mmap 0x600000 0x5000 rw- shared-file:data:0x200000 fixed populate
mmap 0x700000 0x5000 --- private-anon fixed populate
maps
# Past the end of the file: only the pages before it.
mmap 0x800000 0x3000 r-- private-file:other:0x3ffff000 fixed populate
maps
