# Execute-only (--x) memory. Where the CPU has protection keys, mmap and
# mprotect give PROT_EXEC-only VMAs the execute-only key, so reads fault
# and the kernel cannot fault their pages in on our behalf (populate,
# mlock); where it has none, --x is readable, as r-x is on x86.
mmap 0x100000 0x4000 --x private-anon fixed
maps
touch 0x100000 r
touch 0x101000 w
touch 0x1ff000 r
maps

# mprotect to --x in the middle of faulted rw- memory, and back: the
# pieces merge again once the protection (and key) is the neighbours'.
mmap 0x200000 0x6000 rw- private-anon fixed
touch 0x200000 w
touch 0x202000 w
mprotect 0x202000 0x2000 --x
maps
touch 0x202000 r
touch 0x203000 r
touch 0x203000 w
touch 0x200000 r
mprotect 0x202000 0x2000 rw-
maps
touch 0x202000 r
mprotect 0x200000 0x6000 --x
maps
mprotect 0x200000 0x6000 r-x
touch 0x201000 r
maps
mprotect 0x202000 0x2000 --x
mprotect 0x200000 0x2000 --x
maps
mprotect 0x200000 0x6000 ---
maps
mprotect 0x200000 0x6000 --x
maps
touch 0x205000 r

# --x neighbours merge with each other, not with r-x or rwx.
mmap 0x300000 0x2000 --x private-anon fixed
mmap 0x302000 0x2000 --x private-anon fixed
mmap 0x2fe000 0x2000 --x private-anon noreplace
mmap 0x304000 0x2000 r-x private-anon fixed
mmap 0x306000 0x2000 --x private-anon fixed
mmap 0x308000 0x2000 rwx private-anon fixed
maps
mprotect 0x304000 0x2000 --x
maps

# mlock and munlock of --x (ending inside the VMA: a split).
mlock 0x2fe000 0x8000
maps
touch 0x2fe000 r
munlock 0x2fe000 0x8000
maps

# populate and locked mmap of --x, alone and together.
mmap 0x400000 0x4000 --x private-anon fixed populate
mmap 0x500000 0x4000 --x private-anon fixed locked
mmap 0x600000 0x4000 --x private-anon fixed populate locked
mmap 0x604000 0x4000 --x private-anon fixed
maps
touch 0x400000 r
touch 0x500000 r
touch 0x600000 r
touch 0x604000 r

# Shared anonymous and file mappings.
mmap 0x700000 0x2000 --x shared-anon fixed
mmap 0x800000 0x2000 --x private-file:data:0x0 fixed
mmap 0x802000 0x2000 --x shared-file:data:0x2000 fixed
touch 0x700000 r
touch 0x700000 w
touch 0x800000 r
touch 0x800000 w
touch 0x802000 r
maps
mprotect 0x800000 0x4000 r-x
maps
