# What truncation takes from Rss: page-cache pages of shared and private
# mappings past the new end, the private copies there too (even_cows),
# locked or not; the page holding an unaligned end stays; pages before
# it stay; growing brings nothing back; a second mapping of the file at
# another offset loses its pages past the end as well.
mmap 0x100000 0x8000 rw- shared-file:data:0x0 fixed
mmap 0x108000 0x8000 rw- private-file:data:0x0 fixed
mmap 0x110000 0x4000 r-- shared-file:data:0x4000 fixed
mmap 0x120000 0x8000 rw- private-file:data:0x0 fixed locked
mmap 0x128000 0x4000 rw- shared-anon fixed
touch 0x100000 w
touch 0x103000 w
touch 0x105000 w
touch 0x107000 w
touch 0x108000 w
touch 0x10a000 r
touch 0x10c000 w
touch 0x10e000 r
touch 0x111000 r
touch 0x125000 w
touch 0x128000 w
maps
truncate data 0x5800
maps
truncate data 0x40000000
maps
touch 0x107000 r
touch 0x10f000 w
maps
truncate data 0x0
maps
