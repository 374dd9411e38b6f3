# Page effects of the v1.1 advice: pageout unmaps file pages mapped once (shmem, private file) and drops clean ones from the page cache (a written one stays), keeps anonymous pages; cold changes no page; both split anonymous THPs (cold: one covered in part; pageout: any), whose zero subpages leave Rss; collapse of anonymous blocks with a page table, of empty and NOHUGEPAGE ones
mmap 0x10000 0x8000 rw- private-anon fixed
touch 0x10000 w
touch 0x11000 r
madvise 0x10000 0x8000 pageout
madvise 0x10000 0x8000 cold
mmap 0x100000 0x4000 rw- shared-anon fixed
touch 0x100000 w
touch 0x101000 r
mmap 0x200000 0x4000 rw- shared-file:data:0 fixed
touch 0x200000 w
touch 0x201000 r
mmap 0x300000 0x4000 rw- private-file:data:0 fixed
touch 0x300000 r
touch 0x302000 w
mmap 0x400000 0x4000 rw- private-file:other:0 fixed
touch 0x400000 r
touch 0x402000 w
maps
madvise 0x100000 0x4000 cold
madvise 0x200000 0x4000 cold
madvise 0x400000 0x4000 cold
maps
madvise 0x100000 0x4000 pageout
madvise 0x200000 0x4000 pageout
madvise 0x400000 0x4000 pageout
maps
touch 0x401000 r
touch 0x101000 r
maps
mlock 0x10000 0x1000
madvise 0x10000 0x1000 pageout
madvise 0x10000 0x1000 cold
mmap 0x1200000 0x1400000 rw- private-anon fixed
madvise 0x1200000 0x1400000 hugepage
touch 0x1200000 w
touch 0x1400000 w
maps
madvise 0x1200000 0x1200000 cold
madvise 0x1400000 0x1000 cold
maps
madvise 0x1200000 0x1200000 pageout
maps
madvise 0x1400000 0x1200000 collapse
madvise 0x1200000 0x1200000 collapse
maps
mmap 0x1800000 0x1200000 rw- private-anon fixed
touch 0x1800000 w
madvise 0x1800000 0x1200000 collapse
maps
mmap 0x1a00000 0x1200000 rw- private-anon fixed
madvise 0x1a00000 0x1200000 collapse
madvise 0x1a00000 0x1000 collapse
madvise 0x1800000 0x1200000 nohugepage
madvise 0x1800000 0x1200000 collapse
maps
