# fork: what the child's address space is (fork child), and what fork
# changes in the parent's (fork parent). Linux: kernel/fork.c dup_mmap,
# mm/rmap.c anon_vma_fork.

# A faulted anonymous VMA, a DONTFORK piece, a WIPEONFORK piece, a locked
# piece, a LOCKONFAULT-free mlock, a shared mapping and a private file
# mapping.
mmap 0x100000 0x5000 rw- private-anon fixed
touch 0x100000 w
mmap 0x110000 0x4000 rw- private-anon fixed
madvise 0x110000 0x1000 dontfork
madvise 0x112000 0x1000 wipeonfork
touch 0x112000 w
mlock 0x113000 0x1000
mmap 0x120000 0x2000 rw- shared-anon fixed
touch 0x120000 w
mmap 0x130000 0x3000 rw- private-file:data:0x0 fixed
touch 0x130000 r
touch 0x131000 w
mmap 0x140000 0x3000 r-- shared-file:other:0x0 fixed locked
maps

# fork parent: the parent keeps everything as it was.
fork parent
maps

# merge.c forked_target_vma: in the child, a new mapping next to a faulted
# VMA does not merge with it, even after every page was copied.
fork child
maps
touch 0x100000 w
touch 0x101000 w
touch 0x102000 w
touch 0x103000 w
touch 0x104000 w
mmap 0x105000 0x5000 rw- private-anon fixed
maps

# merge.c forked_source_vma: the forked VMA made rwx next to an unfaulted
# rwx mapping does not merge either.
munmap 0x105000 0x5000
mmap 0x106000 0x5000 rwx private-anon fixed noreserve
mprotect 0x100000 0x5000 rwx
maps

# An unfaulted VMA of the parent is an ordinary one in the child: it merges.
mmap 0x200000 0x2000 rw- private-anon fixed
fork child
mmap 0x202000 0x2000 rw- private-anon fixed
maps

# Split and merged back inside a forked VMA: the parts share its anon_vma.
mprotect 0x101000 0x1000 r-x
mprotect 0x101000 0x1000 rwx
maps

# A fault next to a forked VMA does not borrow its anon_vma: a new mapping
# faulted beside it does not merge with it by mprotect either.
mmap 0x105000 0x1000 rw- private-anon fixed
touch 0x105000 w
mprotect 0x105000 0x1000 rwx
maps

# Locks are not inherited; mlock in the child locks again. (Not the
# shared file mapping: in the smaps mode its Locked counts the pages the
# waiting parent maps too, which the model does not see.)
mlock 0x113000 0x1000
maps
