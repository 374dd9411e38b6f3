# Private anonymous memory: a read maps the zero page (not in Rss), a
# write an anonymous page; writes across pages, reads after writes.
mmap 0x100000 0x8000 rw- private-anon fixed
touch 0x100000 r
maps
touch 0x101000 w
maps
touch 0x102000 w
touch 0x103fff w
touch 0x104000 w
touch 0x100000 w
maps
touch 0x105000 r
touch 0x106000 r
touch 0x102000 r
maps
# Read-only and no-access memory cannot be written; -w- is readable.
mmap 0x200000 0x3000 r-- private-anon fixed
touch 0x200000 r
touch 0x201000 w
mmap 0x300000 0x3000 -w- private-anon fixed
touch 0x300000 r
touch 0x301000 w
mmap 0x400000 0x3000 --- private-anon fixed
touch 0x400000 r
maps
