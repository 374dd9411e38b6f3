# Private file mappings count the page-cache pages they map in Rss (not
# Anonymous); a store copies the page (COW), which is Anonymous. Shared
# file mappings and shared anonymous memory (shmem) count in Rss only.
mmap 0x100000 0x8000 rw- private-file:pfile:0 fixed
touch 0x100000 r
maps
touch 0x101000 w
touch 0x100000 w
maps
touch 0x102000 r
touch 0x102000 w
maps
mmap 0x200000 0x8000 rw- shared-file:sfile:0 fixed
touch 0x200000 r
touch 0x202000 w
touch 0x207000 w
maps
mmap 0x300000 0x8000 rw- shared-anon fixed
touch 0x300000 r
touch 0x301000 w
touch 0x305000 w
maps
mmap 0x400000 0x4000 r-- private-file:rofile:0 fixed
touch 0x400000 r
touch 0x403000 r
touch 0x401000 w
maps
