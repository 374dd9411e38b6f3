//! Copies in and out of guest memory that other threads may store to at
//! the same time.
//!
//! Guest threads (vCPUs) write guest memory through host pointers while
//! pervma's user copies ([`Mm::access_read`](pervma::Mm::access_read),
//! ...) read it, as a kernel's `copy_from_user` races with user threads.
//! A `ptr::copy` there would be a data race, undefined behaviour in Rust;
//! relaxed atomic loads and stores of the same bytes are not. Whole
//! aligned words go as `AtomicU64`, the ragged ends as `AtomicU8`, so a
//! page costs 512 word copies; a racing store may tear between words,
//! as it can in Linux.

use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// Copies `buf.len()` bytes from `src` into `buf`.
///
/// # Safety
///
/// `[src, src + buf.len())` is mapped readable for the whole call, and
/// every other access to it during the call is atomic or made outside
/// Rust (by a guest).
pub(crate) unsafe fn copy_from_guest(src: *const u8, buf: &mut [u8]) {
    let mut i = 0;
    while i < buf.len() {
        // SAFETY: `src + i` is inside the readable range (`i < len`).
        let p = unsafe { src.add(i) };
        if p as usize % 8 == 0 && buf.len() - i >= 8 {
            // SAFETY: `p` is 8-aligned, its 8 bytes are in the range, and
            // the caller's contract makes every concurrent access atomic.
            let word = unsafe { AtomicU64::from_ptr(p.cast_mut().cast()) }.load(Ordering::Relaxed);
            buf[i..i + 8].copy_from_slice(&word.to_ne_bytes());
            i += 8;
        } else {
            // SAFETY: as above, one byte (any alignment).
            buf[i] = unsafe { AtomicU8::from_ptr(p.cast_mut()) }.load(Ordering::Relaxed);
            i += 1;
        }
    }
}

/// Copies `data` to `dst`.
///
/// # Safety
///
/// `[dst, dst + data.len())` is mapped writable for the whole call, and
/// every other access to it during the call is atomic or made outside
/// Rust (by a guest).
pub(crate) unsafe fn copy_to_guest(dst: *mut u8, data: &[u8]) {
    let mut i = 0;
    while i < data.len() {
        // SAFETY: `dst + i` is inside the writable range (`i < len`).
        let p = unsafe { dst.add(i) };
        if p as usize % 8 == 0 && data.len() - i >= 8 {
            let mut word = [0; 8];
            word.copy_from_slice(&data[i..i + 8]);
            // SAFETY: `p` is 8-aligned, its 8 bytes are in the range, and
            // the caller's contract makes every concurrent access atomic.
            unsafe { AtomicU64::from_ptr(p.cast()) }
                .store(u64::from_ne_bytes(word), Ordering::Relaxed);
            i += 8;
        } else {
            // SAFETY: as above, one byte (any alignment).
            unsafe { AtomicU8::from_ptr(p) }.store(data[i], Ordering::Relaxed);
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unaligned_copies_round_trip() {
        let mut mem = [0u64; 8];
        let base = mem.as_mut_ptr().cast::<u8>();
        let data: Vec<u8> = (0..45).collect();
        // SAFETY: `mem` is 64 bytes, 3 + 45 of them are used, nothing else
        // touches it.
        unsafe { copy_to_guest(base.add(3), &data) };
        let mut back = vec![0; 45];
        // SAFETY: as above.
        unsafe { copy_from_guest(base.add(3), &mut back) };
        assert_eq!(back, data);
        // SAFETY: as above.
        unsafe { copy_from_guest(base, &mut back[..3]) };
        assert_eq!(back[..3], [0, 0, 0]);
    }
}
