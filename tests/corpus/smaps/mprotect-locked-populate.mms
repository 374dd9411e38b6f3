# mprotect making a locked read-only part writable populates that part
# only (mprotect_fixup: populate_vma_page_range over the VMA part that was
# read-only), not the writable locked neighbour it merges with, which a
# failed mlock (a hole at the end: ENOMEM after locking) left unpopulated.
# Random seed 751.
mmap 0x199000 0x1c000 rw- private-anon fixed
mlock 0x1ab000 0x17000
maps
mprotect 0x1b3000 0x1e000 r-x
mprotect 0x1b0000 0x4000 rw-
maps
