# mremap rules that surprised: the order of its checks, what DONTUNMAP does
# to the VMA it leaves behind, merges at the destination and in place, and
# the mremap scenarios of merge.c (handle_uprobe_upon_merged_vma) and
# tools/testing/vma (test_copy_vma).

# Checks come in this order: a new length above TASK_SIZE is EINVAL even
# without a move; overlapping ranges are EINVAL before the old address is
# looked up; a fixed grow whose old range runs past its VMA is EFAULT
# before the new range is unmapped.
mmap 0x100000 0x4000 rw- private-anon fixed
mmap 0x104000 0x2000 r-- private-anon fixed
mremap 0x100000 0x1000 0xffffffffffff0000
mremap 0x200000 0x2000 0x1000 fixed 0x201000
mmap 0x300000 0x1000 rw- private-anon fixed
mremap 0x100000 0x5000 0x6000 fixed 0x300000
maps
munmap 0x100000 0x300000

# DONTUNMAP unlocks the whole VMA it leaves behind, even the part that
# did not move, without splitting it; the new VMA stays locked.
mmap 0x100000 0x4000 rw- private-anon fixed locked
mremap 0x101000 0x1000 0x1000 fixed 0x200000 dontunmap
maps
munmap 0x100000 0x200000

# DONTUNMAP of a whole VMA takes its anon_vma away (unlink_anon_vmas), so
# it can merge with a neighbour of another anon_vma afterwards; after a
# partial one it keeps its anon_vma and cannot.
mmap 0x100000 0x2000 rw- private-anon fixed
mmap 0x102000 0x2000 rw- private-anon fixed
madvise 0x102000 0x2000 dontfork
touch 0x100000 w
touch 0x102000 w
madvise 0x102000 0x2000 dofork
mremap 0x100000 0x2000 0x2000 fixed 0x200000 dontunmap
mprotect 0x100000 0x2000 r--
mprotect 0x100000 0x2000 rw-
mmap 0x300000 0x2000 rw- private-anon fixed
mmap 0x302000 0x2000 rw- private-anon fixed
madvise 0x302000 0x2000 dontfork
touch 0x300000 w
touch 0x302000 w
madvise 0x302000 0x2000 dofork
mremap 0x300000 0x1000 0x1000 fixed 0x400000 dontunmap
mprotect 0x300000 0x2000 r--
mprotect 0x300000 0x2000 rw-
maps
munmap 0x100000 0x400000

# Growing in place fills the gap and merges with the next VMA.
mmap 0x100000 0x2000 rw- private-anon fixed
mmap 0x104000 0x2000 rw- private-anon fixed
mremap 0x100000 0x2000 0x4000
maps
munmap 0x100000 0x100000

# A fixed move that shrinks: the tail is unmapped first, the rest moves.
mmap 0x100000 0x4000 rw- private-anon fixed
mremap 0x100000 0x4000 0x2000 fixed 0x200000
maps
munmap 0x100000 0x200000

# An unfaulted VMA's tail moved just past its end: copy_vma merges it with
# the source itself, then the old range is unmapped.
mmap 0x100000 0x4000 rw- private-anon fixed
mremap 0x103000 0x1000 0x1000 fixed 0x104000
mmap 0x103000 0x1000 rw- private-anon fixed
maps
munmap 0x100000 0x100000

# The same with dontunmap: the VMA left behind is the one the copy merged
# into, so one VMA covers both ranges.
mmap 0x100000 0x4000 rw- private-anon fixed
mremap 0x103000 0x1000 0x1000 fixed 0x104000 dontunmap
maps
munmap 0x100000 0x100000

# Old length 0 of a shared mapping, without maymove: it cannot grow in
# place (ENOMEM).
mmap 0x100000 0x2000 rw- shared-anon fixed
mremap 0x100000 0 0x1000
maps
munmap 0x100000 0x100000

# merge.c handle_uprobe_upon_merged_vma: a file page grown while moved,
# then moved back.
mmap 0x101000 0xa000 --x private-file:data:0x0 fixed
mremap 0x101000 0x1000 0x2000 fixed 0x106000
mremap 0x106000 0x1000 0x1000 fixed 0x101000
maps
munmap 0x100000 0x100000

# tools/testing/vma test_copy_vma: a move backwards that merges with
# nothing, then a move next to a VMA that it merges with.
mmap 0x103000 0x2000 rw- private-anon fixed
mremap 0x103000 0x2000 0x2000 fixed 0x100000
maps
munmap 0x100000 0x100000
mmap 0x100000 0x2000 rw- private-anon fixed
mmap 0x106000 0x2000 rw- private-anon fixed
mremap 0x100000 0x2000 0x2000 fixed 0x104000
maps
