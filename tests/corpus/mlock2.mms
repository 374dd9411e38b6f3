# mlock2(MLOCK_ONFAULT): VM_LOCKED | VM_LOCKONFAULT, nothing populated;
# splits and merges on lf; mlock over onfault and the other way round;
# holes, unaligned starts, PROT_NONE, files and shmem; touch still works.
mmap 0x100000 0x8000 rw- private-anon fixed
mlock 0x102000 0x2000 onfault
maps
mlock 0x103000 0x2000
maps
mlock 0x100000 0x8000 onfault
maps
munlock 0x101000 0x1000
maps
mlock 0x101000 0x1000 onfault
maps
touch 0x100000 w
touch 0x107000 r
maps
munlock 0x100000 0x8000
maps
munmap 0x100000 0x8000

# MAP_LOCKED next to onfault: lo vs lo lf never merge.
mmap 0x200000 0x4000 rw- private-anon fixed
mlock 0x200000 0x4000 onfault
mmap 0x204000 0x4000 rw- private-anon fixed locked
mmap 0x1fc000 0x4000 rw- private-anon fixed
mlock 0x1fc000 0x4000 onfault
maps
munmap 0x1fc000 0xc000

# Over a hole: the VMAs before it are locked on fault, then ENOMEM.
mmap 0x300000 0x2000 rw- private-anon fixed
mmap 0x303000 0x2000 rw- private-anon fixed
mlock 0x300000 0x5000 onfault
maps
mlock 0x2ff000 0x2000 onfault
mlock 0x300fff 0x2 onfault
maps
munmap 0x300000 0x5000

# PROT_NONE, read-only, shared, files: all take lf, none is faulted in.
mmap 0x400000 0x2000 --- private-anon fixed
mmap 0x402000 0x2000 r-- private-anon fixed
mmap 0x404000 0x2000 rw- shared-anon fixed
mmap 0x406000 0x2000 rw- private-file:data:0x0 fixed
mmap 0x408000 0x2000 rw- shared-file:data:0x2000 fixed
mlock 0x400000 0xa000 onfault
maps
mprotect 0x400000 0x2000 rw-
touch 0x401000 w
maps
munlock 0x400000 0xa000
maps
munmap 0x400000 0xa000

# Bad input.
mlock 0x500000 0x0 onfault
mlock 0x500000 0xffffffffffffffff onfault
mlock 0x500000 0xffffffffffffe000 onfault
mlock 0x800000000000 0x1000 onfault
mlock 0x500000 0x1000 onfault
