//! Every error type of the public API is a `core::error::Error` whose
//! message says what happened (users put them behind `?` and
//! `Box<dyn Error>`), and chains to its cause.

use core::error::Error;
use pervma::{Access, Errno, FaultError, MapFlags, Mm, Prot};

fn message(e: &dyn Error) -> String {
    e.to_string()
}

#[test]
fn fault_and_copy_errors_explain_themselves() {
    let mm: Mm<()> = Mm::new();
    let addr = 0x10_0000;
    mm.mmap(
        addr,
        4096,
        Prot::READ,
        MapFlags::PRIVATE | MapFlags::FIXED,
        None,
        (),
    )
    .unwrap();
    let fault = mm.handle_fault(addr, Access::Write).unwrap_err();
    assert_eq!(fault, FaultError::AccErr);
    assert!(message(&fault).contains("SEGV_ACCERR"), "{fault}");

    let copy = mm.access_write(addr, b"x").unwrap_err();
    let text = message(&copy);
    assert!(
        text.contains("EFAULT") && text.contains("0x100000"),
        "{text}"
    );
    let source = copy.source().expect("the fault behind the copy");
    assert_eq!(source.to_string(), fault.to_string());

    let vma = mm.lock_vma(addr).unwrap();
    let nofault = vma.read_nofault(addr, &mut [0; 8]).unwrap_err();
    assert!(message(&nofault).contains("needs a fault"), "{nofault}");
}

#[test]
fn mmap_error_chains_to_its_errno() {
    let mm: Mm<&str> = Mm::new();
    let err = mm
        .mmap(
            0x10_0001,
            4096,
            Prot::READ,
            MapFlags::PRIVATE | MapFlags::FIXED,
            None,
            "p",
        )
        .unwrap_err();
    assert_eq!((err.errno, err.payload), (Errno::EINVAL, "p"));
    let boxed: Box<dyn Error> = Box::new(err);
    assert!(boxed.to_string().starts_with("mmap: "), "{boxed}");
    assert_eq!(
        boxed.source().unwrap().to_string(),
        Errno::EINVAL.to_string()
    );
}

/// Where Linux's errno alone is ambiguous the error says why; equality
/// (and so every test against Linux's errno) looks at the number only.
#[test]
fn ambiguous_errnos_carry_a_reason() {
    let mm: Mm<()> = Mm::new();
    let fixed = MapFlags::PRIVATE | MapFlags::FIXED;
    mm.mmap(0x10_0000, 0x2000, Prot::READ, fixed, None, ())
        .unwrap();
    let low = mm
        .mmap(0x1000, 0x1000, Prot::READ, fixed, None, ())
        .unwrap_err()
        .errno;
    assert_eq!(low, Errno::EPERM);
    assert_eq!(low.reason(), Some("below mmap_min_addr"));
    let hole = mm.mprotect(0x10_0000, 0x4000, Prot::NONE).unwrap_err();
    assert_eq!(hole, Errno::ENOMEM);
    assert!(hole.to_string().contains("hole"), "{hole}");
    let key = mm
        .pkey_mprotect(0x10_0000, 0x1000, Prot::READ, 3)
        .unwrap_err();
    assert_eq!(key, Errno::EINVAL);
    assert!(key.reason().is_some_and(|r| r.contains("not allocated")));
    assert_eq!(Errno::EINVAL.because("x"), Errno::EINVAL);
    assert_eq!(format!("{:?}", Errno::EINVAL.because("x")), "EINVAL(\"x\")");
}
