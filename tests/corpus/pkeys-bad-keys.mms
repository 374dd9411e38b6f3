# Bad keys: pkey_free of keys that are not allocated (the default key 0,
# -1, 16 and up, never allocated, already freed), and pkey_mprotect with
# them, against its other argument checks: a zero length succeeds before
# the key is looked at, an unaligned start fails first, an overflowing
# end too; the key is checked before the range is looked up.
mmap 0x100000 0x4000 rw- private-anon fixed
# With protection keys Linux lets key 0 be freed (and the next pkey_alloc
# returns it); the script then gives it no restricting rights, since a
# runner whose key 0 faults cannot reach its own memory.
pkey_free 0
pkey_free -1
pkey_free 16
pkey_free 17
pkey_free 5
pkey_free 2147483647
pkey_free -2147483648
pkey_alloc
pkey_free 1
pkey_free 1
pkey_mprotect 0x100000 0x1000 r-- 1
pkey_mprotect 0x100000 0x1000 r-- 5
pkey_mprotect 0x100000 0x1000 r-- 15
pkey_mprotect 0x100000 0x1000 r-- 16
pkey_mprotect 0x100000 0x1000 r-- 17
pkey_mprotect 0x100000 0x1000 r-- -2
pkey_mprotect 0x100000 0x1000 r-- 2147483647
pkey_mprotect 0x100000 0x1000 r-- -2147483648
maps
pkey_mprotect 0x100000 0 r-- 5
pkey_mprotect 0x100000 0 r-- -2
pkey_mprotect 0x100001 0x1000 r-- 5
pkey_mprotect 0x100001 0x1000 r-- default
pkey_mprotect 0x100001 0 r-- 5
pkey_mprotect 0x100000 0xffffffffffffe001 r-- 5
pkey_mprotect 0x800000000000 0x1000 r-- 5
pkey_mprotect 0x800000000000 0x1000 r-- default
pkey_mprotect 0x200000 0x1000 r-- 5
pkey_mprotect 0x200000 0x1000 r-- default
# The default key 0 itself.
pkey_mprotect 0x100000 0x1000 r-- 0
pkey_mprotect 0x101000 0x1000 r-- default
maps
