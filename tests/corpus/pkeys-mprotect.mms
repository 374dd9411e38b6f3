# pkey_mprotect splits and merges VMAs on the key as mprotect does on the
# protection: a key is part of the VMA's flags. Where the CPU has no
# protection keys, every key but -1 (default) is EINVAL and nothing splits.
mmap 0x100000 0x8000 rw- private-anon fixed
pkey_alloc
pkey_alloc
touch 0x100000 w

# The middle, then back to the neighbours' key: merged again.
pkey_mprotect 0x102000 0x2000 rw- 1
maps
pkey_mprotect 0x102000 0x2000 rw- 0
maps

# The head and the tail, then the middle with the same key: one VMA.
pkey_mprotect 0x100000 0x2000 rw- 1
pkey_mprotect 0x106000 0x2000 rw- 1
maps
pkey_mprotect 0x102000 0x4000 rw- 1
maps

# default (-1) keeps each VMA's key; so does plain mprotect.
pkey_mprotect 0x100000 0x8000 r-- default
maps
mprotect 0x102000 0x2000 rw-
maps
pkey_mprotect 0x102000 0x2000 rw- 2
maps
mprotect 0x100000 0x8000 rw-
maps
pkey_mprotect 0x101000 0x6000 rw- 0
maps
pkey_mprotect 0x100000 0x8000 rw- 0
maps

# A different protection and a different key at once.
pkey_mprotect 0x103000 0x1000 r-- 2
pkey_mprotect 0x104000 0x1000 r-- 0
maps
pkey_mprotect 0x104000 0x1000 r-- 2
maps
pkey_mprotect 0x100000 0x8000 rw- default
maps

# --x with an explicit key keeps that key (no execute-only key); --x with
# default gets the execute-only key; leaving --x with default goes back
# to key 0.
pkey_mprotect 0x100000 0x2000 --x 1
pkey_mprotect 0x102000 0x2000 --x default
pkey_mprotect 0x104000 0x2000 --x 0
maps
touch 0x100000 r
touch 0x102000 r
touch 0x104000 r
pkey_mprotect 0x100000 0x6000 rw- default
maps
pkey_mprotect 0x100000 0x8000 rw- 0
maps

# Over a hole: the part before the hole is changed, then ENOMEM.
mmap 0x200000 0x2000 rw- private-anon fixed
mmap 0x204000 0x2000 rw- private-anon fixed
pkey_mprotect 0x200000 0x6000 rw- 1
maps
pkey_mprotect 0x200000 0x6000 r-- default
maps
pkey_mprotect 0x1fe000 0x4000 rw- 2
maps

# A good key over unmapped memory: ENOMEM. A key that was freed while a
# VMA carries it cannot be given again (EINVAL), but the VMA keeps it;
# once allocated again it can.
pkey_mprotect 0x300000 0x1000 rw- 1
mmap 0x300000 0x4000 rw- private-anon fixed
pkey_mprotect 0x301000 0x1000 rw- 2
pkey_free 2
pkey_mprotect 0x302000 0x1000 rw- 2
maps
pkey_alloc
pkey_mprotect 0x302000 0x1000 rw- 2
maps

# mmap over a VMA with a key: the new VMA has key 0.
mmap 0x301000 0x1000 rw- private-anon fixed
maps
