# A store past the end of a file into a private mapping is SIGBUS, but
# do_cow_fault prepared the VMA's anon_vma first, and that anon_vma
# decides later merges (random seed 1316 found the model merging here).
mmap 0x39a000 0x6000 rw- private-file:other:0x40000000 fixed
mlock 0x39c000 0x1000
touch 0x39fb20 w
munlock 0x39b000 0x8000
maps
touch 0x39a000 r
mprotect 0x39a000 0x6000 r--
maps
