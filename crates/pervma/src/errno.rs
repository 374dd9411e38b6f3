//! Errors as values: Linux's errno, by its symbolic name.
//!
//! Linux: include/uapi/asm-generic/errno-base.h, errno.h.

#![deny(unsafe_code)]

use core::fmt;

macro_rules! errnos {
    ($($name:ident = $num:literal, $text:literal;)*) => {
        /// A Linux error number. Operations that mirror a system call
        /// return the errno Linux returns for the same input.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        #[non_exhaustive]
        #[allow(clippy::upper_case_acronyms)]
        pub enum Errno {
            $(#[doc = $text] $name = $num,)*
        }

        impl Errno {
            /// The symbolic name, as `strerrorname_np` gives it (`"EINVAL"`).
            pub const fn name(self) -> &'static str {
                match self { $(Errno::$name => stringify!($name),)* }
            }

            /// The description, as `strerror` gives it.
            pub const fn description(self) -> &'static str {
                match self { $(Errno::$name => $text,)* }
            }

            /// The errno for a number, if pervma knows it.
            pub const fn from_raw(raw: i32) -> Option<Errno> {
                match raw { $($num => Some(Errno::$name),)* _ => None }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
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
        self as i32
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.description())
    }
}

impl core::error::Error for Errno {}
