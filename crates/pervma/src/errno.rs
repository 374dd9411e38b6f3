//! Errors as values: Linux's errno, by its symbolic name.
//!
//! Linux: include/uapi/asm-generic/errno-base.h, errno.h.

#![deny(unsafe_code)]

use core::fmt;

macro_rules! errnos {
    ($($name:ident = $num:literal, $text:literal;)*) => {
        impl Errno {
            $(#[doc = $text] pub const $name: Errno = Errno { code: $num, reason: None };)*

            /// The symbolic name, as `strerrorname_np` gives it (`"EINVAL"`).
            pub const fn name(self) -> &'static str {
                match self.code { $($num => stringify!($name),)* _ => "E?" }
            }

            /// The description, as `strerror` gives it.
            pub const fn description(self) -> &'static str {
                match self.code { $($num => $text,)* _ => "Unknown error" }
            }

            /// The errno for a number, if pervma knows it.
            pub const fn from_raw(raw: i32) -> Option<Errno> {
                match raw { $($num => Some(Errno::$name),)* _ => None }
            }
        }
    };
}

/// A Linux error number, and where Linux's choice is not obvious, why
/// (`EINVAL` is many things). Operations that mirror a system call return
/// the errno Linux returns for the same input.
///
/// Two `Errno`s are equal when their numbers are: the reason is for
/// people ([`Errno::reason`], `Display`), not for matching.
///
/// ```
/// use pervma::{Errno, MapFlags, Mm, Prot};
/// let mm: Mm<()> = Mm::new();
/// let flags = MapFlags::PRIVATE | MapFlags::FIXED_NOREPLACE;
/// mm.mmap(0x10_0000, 0x1000, Prot::READ, flags, None, ()).unwrap();
/// let err = mm.mmap(0x10_0000, 0x1000, Prot::READ, flags, None, ()).unwrap_err().errno;
/// assert_eq!(err, Errno::EEXIST);
/// assert_eq!(err.to_string(), "EEXIST (File exists): MAP_FIXED_NOREPLACE over a mapping");
/// ```
#[derive(Clone, Copy)]
pub struct Errno {
    code: i32,
    reason: Option<&'static str>,
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    ESRCH = 3, "No such process";
    EINTR = 4, "Interrupted system call";
    EIO = 5, "Input/output error";
    EBADF = 9, "Bad file descriptor";
    EAGAIN = 11, "Resource temporarily unavailable";
    ENOMEM = 12, "Cannot allocate memory";
    EACCES = 13, "Permission denied";
    EFAULT = 14, "Bad address";
    EBUSY = 16, "Device or resource busy";
    EEXIST = 17, "File exists";
    ENODEV = 19, "No such device";
    EINVAL = 22, "Invalid argument";
    EFBIG = 27, "File too large";
    ENOSPC = 28, "No space left on device";
    ENOSYS = 38, "Function not implemented";
    EOVERFLOW = 75, "Value too large for defined data type";
    EOPNOTSUPP = 95, "Operation not supported";
    EHWPOISON = 133, "Memory page has hardware error";
}

impl Errno {
    /// The number (`EINVAL` is 22).
    pub const fn raw(self) -> i32 {
        self.code
    }

    /// Why, where pervma says (Linux's errno alone is ambiguous there).
    pub const fn reason(self) -> Option<&'static str> {
        self.reason
    }

    /// This errno with a short reason, for the places where Linux's choice
    /// needs one (as Asterinas's `return_errno_with_message!`).
    pub const fn because(self, reason: &'static str) -> Errno {
        Errno {
            code: self.code,
            reason: Some(reason),
        }
    }
}

impl PartialEq for Errno {
    fn eq(&self, other: &Errno) -> bool {
        self.code == other.code
    }
}

impl Eq for Errno {}

impl core::hash::Hash for Errno {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.code.hash(state);
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            Some(reason) => write!(f, "{}({reason:?})", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.description())?;
        match self.reason {
            Some(reason) => write!(f, ": {reason}"),
            None => Ok(()),
        }
    }
}

impl core::error::Error for Errno {}
