# pkey_alloc hands out the lowest free key; the execute-only key that the
# first --x mapping needs is taken from the same keys; pkey_free makes a
# key the lowest free one again; 16 keys in all (key 0 is the default
# key), then ENOSPC. Where the CPU has no protection keys, pkey_alloc
# fails (and keeps failing).
pkey_alloc
pkey_alloc noaccess
mmap 0x100000 0x2000 --x private-anon fixed
touch 0x100000 r
pkey_alloc nowrite
maps
pkey_free 1
pkey_alloc
pkey_free 2
pkey_free 1
pkey_alloc nowrite
pkey_alloc
pkey_alloc
# The execute-only key is not the script's to free.
pkey_free 3
# Use up every key.
pkey_alloc
pkey_alloc
pkey_alloc
pkey_alloc
pkey_alloc
pkey_alloc
pkey_alloc
pkey_alloc
pkey_alloc
pkey_alloc
pkey_alloc
pkey_alloc
pkey_alloc
pkey_alloc noaccess
pkey_alloc nowrite
# Free two and take them back, lowest first.
pkey_free 9
pkey_free 5
pkey_alloc
pkey_alloc
pkey_alloc
# A second --x mapping reuses the execute-only key.
mmap 0x200000 0x2000 --x private-anon fixed
touch 0x200000 r
mprotect 0x100000 0x2000 rw-
pkey_alloc
maps
