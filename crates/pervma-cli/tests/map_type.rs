//! `mmap`'s mapping type against the live kernel: every value of
//! `flags & MAP_TYPE` (0x0 to 0xf), for anonymous memory and for a file,
//! with `MAP_FIXED_NOREPLACE` or `MAP_FIXED` and with or without
//! `MAP_LOCKED`, through the real `mmap` and through pervma's
//! [`Mm::mmap`]; the errno (or success) must be the same.
//!
//! mmscript cannot say `MAP_SHARED_VALIDATE` or `MAP_DROPPABLE`, so this
//! test calls the kernel itself, in a free window of its own process far
//! from everything else (it checks that the window is free, and skips
//! with a message if not, or where not on Linux x86-64).
//!
//! Linux: mm/mmap.c `do_mmap`'s two `switch (flags & MAP_TYPE)`.

use pervma::{File, MapFlags, Mm, Prot};

/// A free, 1 GiB-aligned address far from the runner's window
/// (`0x200000000000`) and from the process's own mappings.
const BASE: u64 = 0x3000_0000_0000;
/// Two pages.
const LEN: u64 = 0x2000;
/// The size of the file (a memfd).
const FILE_SIZE: u64 = 1 << 20;

/// What `mmap` gave: `Ok(())` or the errno number.
type Result = core::result::Result<(), i32>;

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod kernel {
    use super::{Result, BASE, FILE_SIZE, LEN};

    /// A memfd of `FILE_SIZE` bytes, opened read-write.
    pub(super) fn memfd() -> i32 {
        // SAFETY: a NUL-terminated name and no flags.
        let fd = unsafe { libc::memfd_create(c"map_type".as_ptr(), 0) };
        assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
        // SAFETY: `fd` is the memfd just created.
        let r = unsafe { libc::ftruncate(fd, FILE_SIZE as libc::off_t) };
        assert_eq!(r, 0, "ftruncate: {}", std::io::Error::last_os_error());
        fd
    }

    /// Whether `[BASE, BASE + LEN)` is free (a `MAP_FIXED_NOREPLACE`
    /// probe, unmapped again).
    pub(super) fn window_is_free() -> bool {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE;
        match mmap(libc::PROT_NONE, flags, None) {
            Ok(()) => true,
            Err(_) => false,
        }
    }

    /// The real `mmap(BASE, LEN, prot, flags, fd, 0)`, unmapped again
    /// if it succeeded.
    pub(super) fn mmap(prot: i32, flags: i32, fd: Option<i32>) -> Result {
        // SAFETY: `BASE` is a free range of this process (checked by
        // `window_is_free` before any `MAP_FIXED` call, and
        // `MAP_FIXED_NOREPLACE` never replaces), so the new mapping
        // aliases nothing Rust knows of.
        let p = unsafe {
            libc::mmap(
                BASE as *mut libc::c_void,
                LEN as usize,
                prot,
                flags,
                fd.unwrap_or(-1),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error().raw_os_error().unwrap());
        }
        assert_eq!(p as u64, BASE, "mmap placed the mapping elsewhere");
        // SAFETY: the mapping just made, which nothing references.
        let r = unsafe { libc::munmap(p, LEN as usize) };
        assert_eq!(r, 0, "munmap: {}", std::io::Error::last_os_error());
        Ok(())
    }
}

/// pervma's `mmap` with the same arguments, on a fresh address space.
fn model(prot: Prot, flags: u32, file: bool) -> Result {
    let mm: Mm<()> = Mm::new();
    let file = file.then(|| (File::new("map_type", FILE_SIZE), 0));
    match mm.mmap(BASE, LEN, prot, MapFlags::from_bits_retain(flags), file, ()) {
        Ok(addr) => {
            assert_eq!(addr, BASE);
            Ok(())
        }
        Err(e) => Err(e.errno.raw()),
    }
}

fn show(r: Result) -> String {
    match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => pervma::Errno::from_raw(e).map_or(format!("errno {e}"), |e| e.name().to_owned()),
    }
}

#[test]
fn every_map_type_as_the_kernel() {
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    {
        println!("skipped: the live-kernel comparison needs Linux on x86-64");
    }
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        if !kernel::window_is_free() {
            println!("skipped: {BASE:#x} is not free in this process");
            return;
        }
        let fd = kernel::memfd();
        let mut diffs = Vec::new();
        let mut cases = 0;
        for file in [false, true] {
            for placement in [libc::MAP_FIXED_NOREPLACE, libc::MAP_FIXED] {
                for extra in [0, libc::MAP_LOCKED, libc::MAP_NORESERVE] {
                    for ty in 0..=0xf {
                        let anon = if file { 0 } else { libc::MAP_ANONYMOUS };
                        let flags = ty | placement | extra | anon;
                        let prot = libc::PROT_READ | libc::PROT_WRITE;
                        let live = kernel::mmap(prot, flags, file.then_some(fd));
                        let ours = model(Prot::READ | Prot::WRITE, flags as u32, file);
                        cases += 1;
                        if live != ours {
                            diffs.push(format!(
                                "{} flags {flags:#x} (type {ty:#x}): kernel {}, pervma {}",
                                if file { "file" } else { "anon" },
                                show(live),
                                show(ours),
                            ));
                        }
                    }
                }
            }
        }
        // SAFETY: the memfd this test opened.
        unsafe { libc::close(fd) };
        assert!(
            diffs.is_empty(),
            "{} of {cases} mmap calls differ:\n{}",
            diffs.len(),
            diffs.join("\n")
        );
        println!("{cases} mmap calls agree with the kernel");
    }
}
