# A read fault past the end of a file (here a shmem object moved and grown
# by mremap) raises SIGBUS, but do_read_fault maps the page-cache pages
# around it first (->map_pages before ->fault): the page the first touch
# read in shows up in the moved VMA's Rss. (Random seed 2674.)
mmap 0x341000 0x5000 -w- shared-anon fixed
mremap 0x342000 0x1000 0x23000 fixed 0xa4000
touch 0x345d1e r
touch 0xaaa8f r
maps
