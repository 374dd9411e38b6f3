//! The uapi structs and ioctl numbers of `pervma_uffd::sys` against the
//! kernel's: the machine's `/usr/include/linux/userfaultfd.h` through a C
//! compiler when both exist, and the values of torvalds/linux
//! include/uapi/linux/userfaultfd.h written out here for what older
//! headers lack (`UFFDIO_POISON`, `UFFD_FEATURE_POISON`,
//! `UFFD_FEATURE_WP_UNPOPULATED`).

use pervma_uffd::sys::*;
use std::process::Command;

#[test]
fn sizes_and_numbers_match_linux_source() {
    assert_eq!(size_of::<uffdio_api>(), 24);
    assert_eq!(size_of::<uffdio_range>(), 16);
    assert_eq!(size_of::<uffdio_register>(), 32);
    assert_eq!(size_of::<uffdio_copy>(), 40);
    assert_eq!(size_of::<uffdio_zeropage>(), 32);
    assert_eq!(size_of::<uffdio_continue>(), 32);
    assert_eq!(size_of::<uffdio_poison>(), 32);
    assert_eq!(size_of::<uffdio_writeprotect>(), 24);
    assert_eq!(size_of::<uffd_msg>(), 32);
    assert_eq!(UFFDIO_API, 0xc018_aa3f);
    assert_eq!(UFFDIO_REGISTER, 0xc020_aa00);
    assert_eq!(UFFDIO_UNREGISTER, 0x8010_aa01);
    assert_eq!(UFFDIO_WAKE, 0x8010_aa02);
    assert_eq!(UFFDIO_COPY, 0xc028_aa03);
    assert_eq!(UFFDIO_ZEROPAGE, 0xc020_aa04);
    assert_eq!(UFFDIO_CONTINUE, 0xc020_aa07);
    // #define _UFFDIO_WRITEPROTECT (0x06), struct uffdio_writeprotect
    // { struct uffdio_range range; __u64 mode; }.
    assert_eq!(UFFDIO_WRITEPROTECT, 0xc018_aa06);
    assert_eq!(UFFDIO_WRITEPROTECT_MODE_WP, 1);
    assert_eq!(UFFDIO_WRITEPROTECT_MODE_DONTWAKE, 2);
    assert_eq!(
        [
            _UFFDIO_WAKE,
            _UFFDIO_COPY,
            _UFFDIO_ZEROPAGE,
            _UFFDIO_WRITEPROTECT,
            _UFFDIO_CONTINUE,
            _UFFDIO_POISON
        ],
        [2, 3, 4, 6, 7, 8]
    );
    assert_eq!(UFFD_FEATURE_PAGEFAULT_FLAG_WP, 1 << 0);
    assert_eq!(UFFD_FEATURE_MINOR_SHMEM, 1 << 10);
    assert_eq!(UFFD_FEATURE_WP_HUGETLBFS_SHMEM, 1 << 12);
    assert_eq!(UFFD_FEATURE_WP_UNPOPULATED, 1 << 13);
    // torvalds/linux: #define _UFFDIO_POISON (0x08), struct uffdio_poison
    // { struct uffdio_range range; __u64 mode; __s64 updated; }.
    assert_eq!(UFFDIO_POISON, 0xc020_aa08);
    assert_eq!(UFFD_FEATURE_POISON, 1 << 14);
    assert_eq!(USERFAULTFD_IOC_NEW, 0xaa00);
}

/// Prints every value from the header with a C compiler, and compares.
#[test]
fn sizes_and_numbers_match_the_installed_header() {
    let header = std::path::Path::new("/usr/include/linux/userfaultfd.h");
    if !header.exists() {
        eprintln!("skipped: no {}", header.display());
        return;
    }
    let dir = std::env::temp_dir().join(format!("pervma-uffd-uapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("uapi.c");
    let exe = dir.join("uapi");
    let values: &[(&str, u64)] = &[
        ("sizeof(struct uffdio_api)", size_of::<uffdio_api>() as u64),
        (
            "sizeof(struct uffdio_range)",
            size_of::<uffdio_range>() as u64,
        ),
        (
            "sizeof(struct uffdio_register)",
            size_of::<uffdio_register>() as u64,
        ),
        (
            "sizeof(struct uffdio_copy)",
            size_of::<uffdio_copy>() as u64,
        ),
        (
            "sizeof(struct uffdio_zeropage)",
            size_of::<uffdio_zeropage>() as u64,
        ),
        (
            "sizeof(struct uffdio_continue)",
            size_of::<uffdio_continue>() as u64,
        ),
        (
            "sizeof(struct uffdio_writeprotect)",
            size_of::<uffdio_writeprotect>() as u64,
        ),
        ("offsetof(struct uffdio_writeprotect, mode)", 16),
        ("sizeof(struct uffd_msg)", size_of::<uffd_msg>() as u64),
        ("offsetof(struct uffd_msg, arg.pagefault.flags)", 8),
        ("offsetof(struct uffd_msg, arg.pagefault.address)", 16),
        ("offsetof(struct uffd_msg, arg.pagefault.feat.ptid)", 24),
        ("offsetof(struct uffd_msg, arg.remap.len)", 24),
        ("offsetof(struct uffd_msg, arg.remove.end)", 16),
        ("offsetof(struct uffdio_copy, copy)", 32),
        ("UFFD_API", UFFD_API),
        ("UFFDIO_API", UFFDIO_API),
        ("UFFDIO_REGISTER", UFFDIO_REGISTER),
        ("UFFDIO_UNREGISTER", UFFDIO_UNREGISTER),
        ("UFFDIO_WAKE", UFFDIO_WAKE),
        ("UFFDIO_COPY", UFFDIO_COPY),
        ("UFFDIO_ZEROPAGE", UFFDIO_ZEROPAGE),
        ("UFFDIO_CONTINUE", UFFDIO_CONTINUE),
        ("UFFDIO_WRITEPROTECT", UFFDIO_WRITEPROTECT),
        ("UFFDIO_WRITEPROTECT_MODE_WP", UFFDIO_WRITEPROTECT_MODE_WP),
        (
            "UFFDIO_WRITEPROTECT_MODE_DONTWAKE",
            UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
        ),
        ("_UFFDIO_WAKE", _UFFDIO_WAKE),
        ("_UFFDIO_COPY", _UFFDIO_COPY),
        ("_UFFDIO_ZEROPAGE", _UFFDIO_ZEROPAGE),
        ("_UFFDIO_WRITEPROTECT", _UFFDIO_WRITEPROTECT),
        ("_UFFDIO_CONTINUE", _UFFDIO_CONTINUE),
        ("USERFAULTFD_IOC_NEW", USERFAULTFD_IOC_NEW),
        ("UFFD_USER_MODE_ONLY", UFFD_USER_MODE_ONLY as u64),
        ("UFFD_EVENT_PAGEFAULT", UFFD_EVENT_PAGEFAULT as u64),
        ("UFFD_EVENT_FORK", UFFD_EVENT_FORK as u64),
        ("UFFD_EVENT_REMAP", UFFD_EVENT_REMAP as u64),
        ("UFFD_EVENT_REMOVE", UFFD_EVENT_REMOVE as u64),
        ("UFFD_EVENT_UNMAP", UFFD_EVENT_UNMAP as u64),
        ("UFFD_PAGEFAULT_FLAG_WRITE", UFFD_PAGEFAULT_FLAG_WRITE),
        ("UFFD_PAGEFAULT_FLAG_WP", UFFD_PAGEFAULT_FLAG_WP),
        ("UFFD_PAGEFAULT_FLAG_MINOR", UFFD_PAGEFAULT_FLAG_MINOR),
        ("UFFD_FEATURE_EVENT_REMOVE", UFFD_FEATURE_EVENT_REMOVE),
        ("UFFD_FEATURE_EVENT_UNMAP", UFFD_FEATURE_EVENT_UNMAP),
        ("UFFD_FEATURE_EVENT_REMAP", UFFD_FEATURE_EVENT_REMAP),
        ("UFFD_FEATURE_THREAD_ID", UFFD_FEATURE_THREAD_ID),
        ("UFFD_FEATURE_MINOR_SHMEM", UFFD_FEATURE_MINOR_SHMEM),
        (
            "UFFD_FEATURE_PAGEFAULT_FLAG_WP",
            UFFD_FEATURE_PAGEFAULT_FLAG_WP,
        ),
        (
            "UFFD_FEATURE_WP_HUGETLBFS_SHMEM",
            UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
        ),
        ("UFFDIO_REGISTER_MODE_MISSING", UFFDIO_REGISTER_MODE_MISSING),
        ("UFFDIO_REGISTER_MODE_WP", UFFDIO_REGISTER_MODE_WP),
        ("UFFDIO_REGISTER_MODE_MINOR", UFFDIO_REGISTER_MODE_MINOR),
    ];
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <sys/ioctl.h>\n#include <linux/userfaultfd.h>\nint main(void) {\n",
    );
    for (expr, _) in values {
        c.push_str(&format!(
            "printf(\"%llu\\n\", (unsigned long long)({expr}));\n"
        ));
    }
    c.push_str("return 0; }\n");
    std::fs::write(&src, c).unwrap();
    let cc = Command::new("cc").arg(&src).arg("-o").arg(&exe).status();
    match cc {
        Ok(s) => assert!(s.success(), "the header did not compile"),
        Err(e) => {
            eprintln!("skipped: no C compiler ({e})");
            return;
        }
    }
    let out = Command::new(&exe).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for ((expr, ours), theirs) in values.iter().zip(text.lines()) {
        assert_eq!(*ours, theirs.parse::<u64>().unwrap(), "{expr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
