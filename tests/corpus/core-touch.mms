# Faults without merges: permissions, SIGBUS past the end of a file, and
# accesses to holes.
mmap 0x100000 0x2000 rw- private-anon fixed
mmap 0x104000 0x2000 r-- private-anon fixed
mmap 0x108000 0x2000 --- private-anon fixed
mmap 0x10c000 0x2000 -w- private-anon fixed
mmap 0x110000 0x2000 rw- private-file:data:0x3ffff000 fixed
mmap 0x114000 0x2000 rw- shared-file:data:0x0 fixed
touch 0x100000 r
touch 0x101fff w
touch 0x104000 r
touch 0x104000 w
touch 0x108000 r
touch 0x108000 w
touch 0x10c000 r
touch 0x10c000 w
touch 0x110000 w
touch 0x111000 r
touch 0x114000 w
touch 0x102000 r
touch 0x0 w
maps
