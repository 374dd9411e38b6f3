# truncate NAME SIZE (ftruncate of the script's memfd): SIGBUS past the new
# end for shared and private mappings, mappings kept, growth faultable
# again; a file not mapped yet; bad sizes.
mmap 0x100000 0x8000 rw- shared-file:data:0x0 fixed
mmap 0x108000 0x8000 rw- private-file:data:0x0 fixed
touch 0x100000 w
touch 0x107000 w
touch 0x108000 w
touch 0x10f000 w
truncate data 0x3000
maps
touch 0x102fff r
touch 0x103000 r
touch 0x107000 w
touch 0x10a000 r
touch 0x10b000 w
touch 0x10f000 r
maps
# Unaligned: the page holding the end stays reachable.
truncate data 0x4001
touch 0x104000 r
touch 0x105000 r
touch 0x10c000 w
touch 0x10d000 w
truncate data 0x40000000
touch 0x107000 w
touch 0x10f000 w
maps
munmap 0x100000 0x10000

# Truncation to nothing, and a file that was never mapped.
truncate other 0x0
mmap 0x200000 0x2000 r-- private-file:other:0x0 fixed
touch 0x200000 r
truncate other 0x1000
touch 0x200000 r
touch 0x201000 r
truncate fresh 0x2000
mmap 0x300000 0x4000 rw- shared-file:fresh:0x0 fixed
touch 0x301000 w
touch 0x302000 w
maps
# Locked mappings keep their VMAs; populate stops at the end of the file.
mmap 0x400000 0x4000 rw- shared-file:fresh:0x0 fixed locked
mlock 0x300000 0x4000
maps
truncate fresh 0x1000
touch 0x401000 r
maps

# Bad sizes: off_t is signed.
truncate data 0x8000000000000000
truncate data 0xffffffffffffffff
truncate data 0x7fffffffffffffff
truncate data 0x40000000
