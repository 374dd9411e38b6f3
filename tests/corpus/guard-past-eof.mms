# A guard marker past the end of a file: the marker is found before the
# file is asked for the page, so a touch there is segv, not bus (random
# seed 174 of the differential test found the model saying bus).
mmap 0x63000 0xc000 r-- private-file:data:0x3de000 noreplace
mprotect 0x64000 0xa000 rw-
truncate data 0x0
madvise 0x6c000 0x4000 guard_install
touch 0x6c75f w
touch 0x6c75f r
touch 0x6d000 r
madvise 0x6c000 0x3000 guard_remove
touch 0x6c75f r
maps
