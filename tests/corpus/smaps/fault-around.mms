# A read fault on a file (or shmem) page also maps the neighbours that the
# page cache already holds (do_fault_around: the 64 KiB-aligned block,
# clamped to the VMA): pages one mapping faulted in show up in another
# mapping's Rss. Write faults do not fault around.
mmap 0x100000 0x20000 rw- shared-file:data:0 fixed
touch 0x101000 w
touch 0x103000 w
touch 0x10f000 w
touch 0x110000 w
mmap 0x200000 0x20000 r-- private-file:data:0 fixed
touch 0x200000 r
maps
touch 0x211000 r
maps
# A VMA starting inside a 64 KiB block: the window starts at the VMA.
mmap 0x303000 0x20000 r-- private-file:data:0 fixed
touch 0x304000 r
maps
# A private copy is not replaced by fault-around.
mmap 0x400000 0x10000 rw- private-file:data:0 fixed
touch 0x403000 w
touch 0x400000 r
maps
# Write faults on a shared mapping map only their page.
mmap 0x500000 0x10000 rw- shared-file:data:0 fixed
touch 0x500000 w
maps
