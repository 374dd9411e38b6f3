# Pages under mlock2(MLOCK_ONFAULT) and mlockall: onfault populates
# nothing (Rss 0) and counts what faults bring in as Locked; mlock over
# it populates; mlockall current populates all but onfault VMAs and
# PROT_NONE; future mappings are populated unless onfault.
mmap 0x100000 0x8000 rw- private-anon fixed
mlock 0x100000 0x8000 onfault
maps
touch 0x101000 w
touch 0x103000 r
maps
mlock 0x104000 0x4000
maps
munlock 0x100000 0x8000
maps
mmap 0x200000 0x4000 rw- shared-anon fixed
mmap 0x204000 0x4000 r-- private-file:data:0x0 fixed
mmap 0x208000 0x4000 --- private-anon fixed
mmap 0x20c000 0x4000 rw- private-file:data:0x10000 fixed
mlockall current|onfault
maps
mlockall current
maps
munlockall
mlockall future
mmap 0x300000 0x4000 rw- private-anon fixed
mmap 0x304000 0x4000 r-- private-file:data:0x20000 fixed
mlockall future|onfault
mmap 0x400000 0x4000 rw- private-anon fixed
touch 0x402000 w
maps
munlockall
maps
