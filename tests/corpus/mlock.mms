# mlock/munlock split and merge VMAs on VM_LOCKED; MAP_LOCKED mappings
# merge with locked neighbours; a range over a hole locks what it can.
mmap 0x100000 0x8000 rw- private-anon fixed
mlock 0x102000 0x2000
maps
munlock 0x102000 0x2000
maps
mlock 0x100000 0x8000
mmap 0x108000 0x2000 rw- private-anon fixed locked
maps
munlock 0x101000 0x1000
maps
mlock 0x100fff 0x2
maps
mlock 0x100000 0x20000
maps
munlock 0x0ff000 0x4000
maps
munlock 0x100000 0x20000
maps
munmap 0x100000 0x100000

# Locked shared, file and read-only mappings.
mmap 0x200000 0x2000 rw- shared-anon fixed locked
mmap 0x300000 0x2000 r-- private-file:data:0x0 fixed locked
mmap 0x400000 0x2000 --- private-anon fixed
mlock 0x400000 0x2000
mmap 0x500000 0x2000 rw- private-anon fixed populate
mmap 0x502000 0x2000 rw- private-anon fixed populate locked
maps
munlock 0x200000 0x300000
maps
