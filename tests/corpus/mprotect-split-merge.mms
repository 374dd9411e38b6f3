# mprotect splits at both ends of its range and merges with compatible
# neighbours; VM_ACCOUNT comes and goes with write permission.
mmap 0x100000 0x6000 rw- private-anon fixed
mprotect 0x100000 0x2000 r--
mprotect 0x104000 0x2000 r--
maps
mprotect 0x102000 0x2000 r--
maps
mprotect 0x100000 0x6000 rw-
maps
mprotect 0x102000 0x1000 ---
mprotect 0x103000 0x1000 r-x
mprotect 0x104000 0x1000 rwx
mprotect 0x105000 0x1000 -w-
maps
mprotect 0x100000 0x6000 rw-
maps
munmap 0x100000 0x100000

# Across two VMAs of different kinds.
mmap 0x200000 0x2000 rw- private-anon fixed
mmap 0x202000 0x2000 rw- shared-anon fixed
mprotect 0x201000 0x2000 r--
maps
munmap 0x200000 0x100000

# Private file: made writable, it becomes accounted.
mmap 0x300000 0x2000 r-- private-file:data:0x0 fixed
mprotect 0x300000 0x1000 rw-
maps
mprotect 0x300000 0x1000 r--
maps
munmap 0x300000 0x100000

# Shared file and shared anonymous memory are never accounted.
mmap 0x400000 0x2000 r-- shared-file:data:0x0 fixed
mprotect 0x400000 0x2000 rw-
mmap 0x402000 0x2000 --- shared-anon fixed
mprotect 0x402000 0x1000 rwx
maps
munmap 0x400000 0x100000

# A hole in the range: ENOMEM, after the VMAs before the hole changed.
mmap 0x500000 0x1000 rw- private-anon fixed
mmap 0x502000 0x1000 rw- private-anon fixed
mprotect 0x500000 0x3000 r--
maps
