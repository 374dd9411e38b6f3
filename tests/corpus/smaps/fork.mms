# fork in the smaps mode: which pages the child gets (copy_page_range only
# for VMAs with an anon_vma), copy-on-write, and Locked as a PSS of pages
# shared by parent and child.

# Anonymous memory, written (anon_vma) and only read (zero pages, no
# anon_vma); populated and locked; a THP; a shared mapping; private and
# shared file mappings, read only and written.
mmap 0x100000 0x4000 rw- private-anon fixed
touch 0x100000 w
touch 0x101000 w
touch 0x102000 r
mmap 0x110000 0x4000 r-- private-anon fixed
touch 0x110000 r
mmap 0x120000 0x4000 rw- private-anon fixed populate
mmap 0x130000 0x4000 rw- private-anon fixed locked
mmap 0x400000 0x200000 rw- private-anon fixed
madvise 0x400000 0x200000 hugepage
touch 0x400000 w
mmap 0x140000 0x2000 rw- shared-anon fixed
touch 0x140000 w
mmap 0x150000 0x4000 rw- private-file:data:0x0 fixed
touch 0x150000 r
touch 0x151000 r
touch 0x152000 w
mmap 0x160000 0x4000 r-- private-file:data:0x0 fixed
touch 0x160000 r
mmap 0x170000 0x2000 rw- shared-file:data:0x0 fixed
touch 0x170000 w
madvise 0x120000 0x1000 wipeonfork
maps

# fork parent: the parent's Locked counts the pages it now shares half.
fork parent
maps
# A store in the parent copies the page: counted whole again.
touch 0x130000 w
maps
munlock 0x130000 0x4000
mlock 0x100000 0x4000
maps

# fork child: the child's entries are those of VMAs with an anon_vma;
# shared and read-only file mappings and zero pages come back at faults.
fork child
maps
# Locked in the child: shared pages count half, copied ones whole.
mlock 0x100000 0x4000
mlock 0x150000 0x4000
maps
touch 0x101000 w
touch 0x103000 w
maps
# The THP: a store copies one page; the rest stays shared.
mlock 0x400000 0x200000
touch 0x401000 w
maps
# Faults bring back the shared mapping's pages.
touch 0x140000 r
touch 0x170000 r
touch 0x160000 r
maps
