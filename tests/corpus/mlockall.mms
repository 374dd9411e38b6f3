# mlockall: current locks every VMA (and populates what is not onfault),
# future makes new mappings locked (def_flags), onfault alone is EINVAL;
# munlockall undoes both; VMAs that become alike merge.
mlockall onfault
mmap 0x100000 0x4000 rw- private-anon fixed
mmap 0x104000 0x4000 rw- private-anon fixed locked
mmap 0x108000 0x2000 r-- private-anon fixed
mmap 0x10a000 0x2000 --- private-anon fixed
mmap 0x10c000 0x2000 rw- shared-anon fixed
mmap 0x10e000 0x2000 r-- private-file:data:0x0 fixed
maps
mlockall current
maps
munlockall
maps
mlockall current|onfault
maps
mlock 0x101000 0x1000
maps
munlockall
maps

# future: new mappings are born locked (populated), and merge with
# locked neighbours; current alone ends future.
mlockall future
mmap 0x200000 0x2000 rw- private-anon fixed
mmap 0x202000 0x2000 rw- private-anon fixed
mmap 0x204000 0x2000 rw- private-anon fixed noreserve
maps
mremap 0x200000 0x4000 0x6000
maps
munlock 0x200000 0x1000
maps
mlockall current
mmap 0x300000 0x2000 rw- private-anon fixed
maps
munlockall
maps

# future|onfault: born locked on fault (nothing populated); MAP_LOCKED
# and MAP_POPULATE then too.
mlockall future|onfault
mmap 0x400000 0x2000 rw- private-anon fixed
mmap 0x402000 0x2000 rw- private-anon fixed locked
mmap 0x404000 0x2000 rw- private-anon fixed populate
mmap 0x406000 0x2000 rw- shared-anon fixed
maps
touch 0x400000 w
maps
mlockall future
mmap 0x408000 0x2000 rw- private-anon fixed
maps
mlockall current|future|onfault
maps
munlockall
mmap 0x40a000 0x2000 rw- private-anon fixed
maps
munmap 0x100000 0x400000
maps
