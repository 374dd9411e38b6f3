# Stacks: mmap growsdown (MAP_GROWSDOWN, flag gd) and stack (MAP_STACK,
# which is VM_NOHUGEPAGE since 6.7); a touch below a gd VMA grows it down
# to the touched page (reads too); files and shared memory cannot grow
# down (EINVAL); the guard gap (256 pages) above an accessible VMA, not
# above a PROT_NONE one; RLIMIT_STACK (8 MiB, pinned by the runner) in
# all; gd neighbours merge; a stack without the access grows, then the
# touch is segv.
mmap 0x1000000 0x2000 rw- private-anon fixed growsdown
maps
touch 0xfff000 w
maps
touch 0xff0010 r
maps
mmap 0x2000000 0x1000 rw- private-anon fixed growsdown stack
mmap 0x3000000 0x1000 rw- private-anon fixed stack
mmap 0x4000000 0x1000 rw- shared-anon fixed growsdown
mmap 0x4000000 0x1000 rw- private-file:data:0x0 fixed growsdown
mmap 0x4000000 0x1000 rw- shared-file:data:0x0 fixed growsdown
maps
# guard gap: a VMA 256 pages below
mmap 0x5000000 0x1000 rw- private-anon fixed growsdown
mmap 0x4eff000 0x1000 rw- private-anon fixed
touch 0x4fff000 w
touch 0x5000000 w
maps
touch 0x4fff000 w
maps
mmap 0x4eff000 0x1000 --- private-anon fixed
touch 0x4f00000 w
maps
# rlimit: 8 MiB in all
mmap 0x10000000 0x1000 rw- private-anon fixed growsdown
touch 0xf801000 w
maps
touch 0xf800000 w
maps
touch 0xf7ff000 w
maps
# merging of gd neighbours
mmap 0x20000000 0x1000 rw- private-anon fixed growsdown
mmap 0x20001000 0x1000 rw- private-anon fixed growsdown
mmap 0x1ffff000 0x1000 rw- private-anon fixed growsdown
maps
# read-only stack: grows, then segv
mmap 0x30000000 0x1000 r-- private-anon fixed growsdown
touch 0x2ffff000 w
maps
mmap 0x31000000 0x1000 --- private-anon fixed growsdown
touch 0x30fff000 r
maps
mprotect 0x30fff000 0x1000 rw-
maps
# A stack grown by a read (which gives it an anon_vma) and a gd mapping
# made just below it merge, as do two never grown; mprotect keeps them one.
mmap 0x40000000 0x1000 rw- private-anon fixed growsdown
touch 0x3ffff000 r
mmap 0x3fffe000 0x1000 rw- private-anon fixed growsdown
touch 0x3fffe000 w
mprotect 0x3fffe000 0x3000 r--
maps
mmap 0x41000000 0x1000 rw- private-anon fixed growsdown
mmap 0x40fff000 0x1000 rw- private-anon fixed growsdown
touch 0x40fff000 w
mprotect 0x40fff000 0x2000 r--
maps
