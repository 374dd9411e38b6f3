//! Linux error numbers with their symbolic names.
//!
//! Result lines print an errno by name (`err EINVAL`), so both sides need the
//! same number-to-name table. The numbers are Linux's generic ones
//! (`include/uapi/asm-generic/errno-base.h` and `errno.h`), which x86_64 and
//! arm64 use; a number outside the table prints as `E<number>`. Aliases
//! (`EWOULDBLOCK`, `EDEADLOCK`, `ENOTSUP`) print as the name they alias.

use core::fmt;

/// A Linux error number, printed by its symbolic name.
///
/// ```
/// use mmscript::Errno;
///
/// assert_eq!(Errno::EINVAL.to_string(), "EINVAL");
/// assert_eq!(Errno::new(12), Errno::ENOMEM);
/// assert_eq!(Errno::new(4095).to_string(), "E4095");
/// assert_eq!(Errno::from_name("EEXIST"), Some(Errno::EEXIST));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Errno(i32);

/// Every errno Linux defines, by number (41 and 58 are unused).
const TABLE: [(i32, &str); 131] = [
    (1, "EPERM"),
    (2, "ENOENT"),
    (3, "ESRCH"),
    (4, "EINTR"),
    (5, "EIO"),
    (6, "ENXIO"),
    (7, "E2BIG"),
    (8, "ENOEXEC"),
    (9, "EBADF"),
    (10, "ECHILD"),
    (11, "EAGAIN"),
    (12, "ENOMEM"),
    (13, "EACCES"),
    (14, "EFAULT"),
    (15, "ENOTBLK"),
    (16, "EBUSY"),
    (17, "EEXIST"),
    (18, "EXDEV"),
    (19, "ENODEV"),
    (20, "ENOTDIR"),
    (21, "EISDIR"),
    (22, "EINVAL"),
    (23, "ENFILE"),
    (24, "EMFILE"),
    (25, "ENOTTY"),
    (26, "ETXTBSY"),
    (27, "EFBIG"),
    (28, "ENOSPC"),
    (29, "ESPIPE"),
    (30, "EROFS"),
    (31, "EMLINK"),
    (32, "EPIPE"),
    (33, "EDOM"),
    (34, "ERANGE"),
    (35, "EDEADLK"),
    (36, "ENAMETOOLONG"),
    (37, "ENOLCK"),
    (38, "ENOSYS"),
    (39, "ENOTEMPTY"),
    (40, "ELOOP"),
    (42, "ENOMSG"),
    (43, "EIDRM"),
    (44, "ECHRNG"),
    (45, "EL2NSYNC"),
    (46, "EL3HLT"),
    (47, "EL3RST"),
    (48, "ELNRNG"),
    (49, "EUNATCH"),
    (50, "ENOCSI"),
    (51, "EL2HLT"),
    (52, "EBADE"),
    (53, "EBADR"),
    (54, "EXFULL"),
    (55, "ENOANO"),
    (56, "EBADRQC"),
    (57, "EBADSLT"),
    (59, "EBFONT"),
    (60, "ENOSTR"),
    (61, "ENODATA"),
    (62, "ETIME"),
    (63, "ENOSR"),
    (64, "ENONET"),
    (65, "ENOPKG"),
    (66, "EREMOTE"),
    (67, "ENOLINK"),
    (68, "EADV"),
    (69, "ESRMNT"),
    (70, "ECOMM"),
    (71, "EPROTO"),
    (72, "EMULTIHOP"),
    (73, "EDOTDOT"),
    (74, "EBADMSG"),
    (75, "EOVERFLOW"),
    (76, "ENOTUNIQ"),
    (77, "EBADFD"),
    (78, "EREMCHG"),
    (79, "ELIBACC"),
    (80, "ELIBBAD"),
    (81, "ELIBSCN"),
    (82, "ELIBMAX"),
    (83, "ELIBEXEC"),
    (84, "EILSEQ"),
    (85, "ERESTART"),
    (86, "ESTRPIPE"),
    (87, "EUSERS"),
    (88, "ENOTSOCK"),
    (89, "EDESTADDRREQ"),
    (90, "EMSGSIZE"),
    (91, "EPROTOTYPE"),
    (92, "ENOPROTOOPT"),
    (93, "EPROTONOSUPPORT"),
    (94, "ESOCKTNOSUPPORT"),
    (95, "EOPNOTSUPP"),
    (96, "EPFNOSUPPORT"),
    (97, "EAFNOSUPPORT"),
    (98, "EADDRINUSE"),
    (99, "EADDRNOTAVAIL"),
    (100, "ENETDOWN"),
    (101, "ENETUNREACH"),
    (102, "ENETRESET"),
    (103, "ECONNABORTED"),
    (104, "ECONNRESET"),
    (105, "ENOBUFS"),
    (106, "EISCONN"),
    (107, "ENOTCONN"),
    (108, "ESHUTDOWN"),
    (109, "ETOOMANYREFS"),
    (110, "ETIMEDOUT"),
    (111, "ECONNREFUSED"),
    (112, "EHOSTDOWN"),
    (113, "EHOSTUNREACH"),
    (114, "EALREADY"),
    (115, "EINPROGRESS"),
    (116, "ESTALE"),
    (117, "EUCLEAN"),
    (118, "ENOTNAM"),
    (119, "ENAVAIL"),
    (120, "EISNAM"),
    (121, "EREMOTEIO"),
    (122, "EDQUOT"),
    (123, "ENOMEDIUM"),
    (124, "EMEDIUMTYPE"),
    (125, "ECANCELED"),
    (126, "ENOKEY"),
    (127, "EKEYEXPIRED"),
    (128, "EKEYREVOKED"),
    (129, "EKEYREJECTED"),
    (130, "EOWNERDEAD"),
    (131, "ENOTRECOVERABLE"),
    (132, "ERFKILL"),
    (133, "EHWPOISON"),
];

impl Errno {
    /// `EPERM` (1): Operation not permitted.
    pub const EPERM: Errno = Errno(1);
    /// `ENOENT` (2): No such file or directory.
    pub const ENOENT: Errno = Errno(2);
    /// `ESRCH` (3): No such process.
    pub const ESRCH: Errno = Errno(3);
    /// `EINTR` (4): Interrupted system call.
    pub const EINTR: Errno = Errno(4);
    /// `EIO` (5): I/O error.
    pub const EIO: Errno = Errno(5);
    /// `ENXIO` (6): No such device or address.
    pub const ENXIO: Errno = Errno(6);
    /// `E2BIG` (7): Argument list too long.
    pub const E2BIG: Errno = Errno(7);
    /// `ENOEXEC` (8): Exec format error.
    pub const ENOEXEC: Errno = Errno(8);
    /// `EBADF` (9): Bad file number.
    pub const EBADF: Errno = Errno(9);
    /// `ECHILD` (10): No child processes.
    pub const ECHILD: Errno = Errno(10);
    /// `EAGAIN` (11): Try again.
    pub const EAGAIN: Errno = Errno(11);
    /// `ENOMEM` (12): Out of memory.
    pub const ENOMEM: Errno = Errno(12);
    /// `EACCES` (13): Permission denied.
    pub const EACCES: Errno = Errno(13);
    /// `EFAULT` (14): Bad address.
    pub const EFAULT: Errno = Errno(14);
    /// `ENOTBLK` (15): Block device required.
    pub const ENOTBLK: Errno = Errno(15);
    /// `EBUSY` (16): Device or resource busy.
    pub const EBUSY: Errno = Errno(16);
    /// `EEXIST` (17): File exists.
    pub const EEXIST: Errno = Errno(17);
    /// `EXDEV` (18): Cross-device link.
    pub const EXDEV: Errno = Errno(18);
    /// `ENODEV` (19): No such device.
    pub const ENODEV: Errno = Errno(19);
    /// `ENOTDIR` (20): Not a directory.
    pub const ENOTDIR: Errno = Errno(20);
    /// `EISDIR` (21): Is a directory.
    pub const EISDIR: Errno = Errno(21);
    /// `EINVAL` (22): Invalid argument.
    pub const EINVAL: Errno = Errno(22);
    /// `ENFILE` (23): File table overflow.
    pub const ENFILE: Errno = Errno(23);
    /// `EMFILE` (24): Too many open files.
    pub const EMFILE: Errno = Errno(24);
    /// `ENOTTY` (25): Not a typewriter.
    pub const ENOTTY: Errno = Errno(25);
    /// `ETXTBSY` (26): Text file busy.
    pub const ETXTBSY: Errno = Errno(26);
    /// `EFBIG` (27): File too large.
    pub const EFBIG: Errno = Errno(27);
    /// `ENOSPC` (28): No space left on device.
    pub const ENOSPC: Errno = Errno(28);
    /// `ESPIPE` (29): Illegal seek.
    pub const ESPIPE: Errno = Errno(29);
    /// `EROFS` (30): Read-only file system.
    pub const EROFS: Errno = Errno(30);
    /// `EMLINK` (31): Too many links.
    pub const EMLINK: Errno = Errno(31);
    /// `EPIPE` (32): Broken pipe.
    pub const EPIPE: Errno = Errno(32);
    /// `EDOM` (33): Math argument out of domain of func.
    pub const EDOM: Errno = Errno(33);
    /// `ERANGE` (34): Math result not representable.
    pub const ERANGE: Errno = Errno(34);
    /// `EDEADLK` (35): Resource deadlock would occur.
    pub const EDEADLK: Errno = Errno(35);
    /// `ENAMETOOLONG` (36): File name too long.
    pub const ENAMETOOLONG: Errno = Errno(36);
    /// `ENOLCK` (37): No record locks available.
    pub const ENOLCK: Errno = Errno(37);
    /// `ENOSYS` (38): Invalid system call number.
    pub const ENOSYS: Errno = Errno(38);
    /// `ENOTEMPTY` (39): Directory not empty.
    pub const ENOTEMPTY: Errno = Errno(39);
    /// `ELOOP` (40): Too many symbolic links encountered.
    pub const ELOOP: Errno = Errno(40);
    /// `ENOMSG` (42): No message of desired type.
    pub const ENOMSG: Errno = Errno(42);
    /// `EIDRM` (43): Identifier removed.
    pub const EIDRM: Errno = Errno(43);
    /// `ECHRNG` (44): Channel number out of range.
    pub const ECHRNG: Errno = Errno(44);
    /// `EL2NSYNC` (45): Level 2 not synchronized.
    pub const EL2NSYNC: Errno = Errno(45);
    /// `EL3HLT` (46): Level 3 halted.
    pub const EL3HLT: Errno = Errno(46);
    /// `EL3RST` (47): Level 3 reset.
    pub const EL3RST: Errno = Errno(47);
    /// `ELNRNG` (48): Link number out of range.
    pub const ELNRNG: Errno = Errno(48);
    /// `EUNATCH` (49): Protocol driver not attached.
    pub const EUNATCH: Errno = Errno(49);
    /// `ENOCSI` (50): No CSI structure available.
    pub const ENOCSI: Errno = Errno(50);
    /// `EL2HLT` (51): Level 2 halted.
    pub const EL2HLT: Errno = Errno(51);
    /// `EBADE` (52): Invalid exchange.
    pub const EBADE: Errno = Errno(52);
    /// `EBADR` (53): Invalid request descriptor.
    pub const EBADR: Errno = Errno(53);
    /// `EXFULL` (54): Exchange full.
    pub const EXFULL: Errno = Errno(54);
    /// `ENOANO` (55): No anode.
    pub const ENOANO: Errno = Errno(55);
    /// `EBADRQC` (56): Invalid request code.
    pub const EBADRQC: Errno = Errno(56);
    /// `EBADSLT` (57): Invalid slot.
    pub const EBADSLT: Errno = Errno(57);
    /// `EBFONT` (59): Bad font file format.
    pub const EBFONT: Errno = Errno(59);
    /// `ENOSTR` (60): Device not a stream.
    pub const ENOSTR: Errno = Errno(60);
    /// `ENODATA` (61): No data available.
    pub const ENODATA: Errno = Errno(61);
    /// `ETIME` (62): Timer expired.
    pub const ETIME: Errno = Errno(62);
    /// `ENOSR` (63): Out of streams resources.
    pub const ENOSR: Errno = Errno(63);
    /// `ENONET` (64): Machine is not on the network.
    pub const ENONET: Errno = Errno(64);
    /// `ENOPKG` (65): Package not installed.
    pub const ENOPKG: Errno = Errno(65);
    /// `EREMOTE` (66): Object is remote.
    pub const EREMOTE: Errno = Errno(66);
    /// `ENOLINK` (67): Link has been severed.
    pub const ENOLINK: Errno = Errno(67);
    /// `EADV` (68): Advertise error.
    pub const EADV: Errno = Errno(68);
    /// `ESRMNT` (69): Srmount error.
    pub const ESRMNT: Errno = Errno(69);
    /// `ECOMM` (70): Communication error on send.
    pub const ECOMM: Errno = Errno(70);
    /// `EPROTO` (71): Protocol error.
    pub const EPROTO: Errno = Errno(71);
    /// `EMULTIHOP` (72): Multihop attempted.
    pub const EMULTIHOP: Errno = Errno(72);
    /// `EDOTDOT` (73): RFS specific error.
    pub const EDOTDOT: Errno = Errno(73);
    /// `EBADMSG` (74): Not a data message.
    pub const EBADMSG: Errno = Errno(74);
    /// `EOVERFLOW` (75): Value too large for defined data type.
    pub const EOVERFLOW: Errno = Errno(75);
    /// `ENOTUNIQ` (76): Name not unique on network.
    pub const ENOTUNIQ: Errno = Errno(76);
    /// `EBADFD` (77): File descriptor in bad state.
    pub const EBADFD: Errno = Errno(77);
    /// `EREMCHG` (78): Remote address changed.
    pub const EREMCHG: Errno = Errno(78);
    /// `ELIBACC` (79): Can not access a needed shared library.
    pub const ELIBACC: Errno = Errno(79);
    /// `ELIBBAD` (80): Accessing a corrupted shared library.
    pub const ELIBBAD: Errno = Errno(80);
    /// `ELIBSCN` (81): .lib section in a.out corrupted.
    pub const ELIBSCN: Errno = Errno(81);
    /// `ELIBMAX` (82): Attempting to link in too many shared libraries.
    pub const ELIBMAX: Errno = Errno(82);
    /// `ELIBEXEC` (83): Cannot exec a shared library directly.
    pub const ELIBEXEC: Errno = Errno(83);
    /// `EILSEQ` (84): Illegal byte sequence.
    pub const EILSEQ: Errno = Errno(84);
    /// `ERESTART` (85): Interrupted system call should be restarted.
    pub const ERESTART: Errno = Errno(85);
    /// `ESTRPIPE` (86): Streams pipe error.
    pub const ESTRPIPE: Errno = Errno(86);
    /// `EUSERS` (87): Too many users.
    pub const EUSERS: Errno = Errno(87);
    /// `ENOTSOCK` (88): Socket operation on non-socket.
    pub const ENOTSOCK: Errno = Errno(88);
    /// `EDESTADDRREQ` (89): Destination address required.
    pub const EDESTADDRREQ: Errno = Errno(89);
    /// `EMSGSIZE` (90): Message too long.
    pub const EMSGSIZE: Errno = Errno(90);
    /// `EPROTOTYPE` (91): Protocol wrong type for socket.
    pub const EPROTOTYPE: Errno = Errno(91);
    /// `ENOPROTOOPT` (92): Protocol not available.
    pub const ENOPROTOOPT: Errno = Errno(92);
    /// `EPROTONOSUPPORT` (93): Protocol not supported.
    pub const EPROTONOSUPPORT: Errno = Errno(93);
    /// `ESOCKTNOSUPPORT` (94): Socket type not supported.
    pub const ESOCKTNOSUPPORT: Errno = Errno(94);
    /// `EOPNOTSUPP` (95): Operation not supported on transport endpoint.
    pub const EOPNOTSUPP: Errno = Errno(95);
    /// `EPFNOSUPPORT` (96): Protocol family not supported.
    pub const EPFNOSUPPORT: Errno = Errno(96);
    /// `EAFNOSUPPORT` (97): Address family not supported by protocol.
    pub const EAFNOSUPPORT: Errno = Errno(97);
    /// `EADDRINUSE` (98): Address already in use.
    pub const EADDRINUSE: Errno = Errno(98);
    /// `EADDRNOTAVAIL` (99): Cannot assign requested address.
    pub const EADDRNOTAVAIL: Errno = Errno(99);
    /// `ENETDOWN` (100): Network is down.
    pub const ENETDOWN: Errno = Errno(100);
    /// `ENETUNREACH` (101): Network is unreachable.
    pub const ENETUNREACH: Errno = Errno(101);
    /// `ENETRESET` (102): Network dropped connection because of reset.
    pub const ENETRESET: Errno = Errno(102);
    /// `ECONNABORTED` (103): Software caused connection abort.
    pub const ECONNABORTED: Errno = Errno(103);
    /// `ECONNRESET` (104): Connection reset by peer.
    pub const ECONNRESET: Errno = Errno(104);
    /// `ENOBUFS` (105): No buffer space available.
    pub const ENOBUFS: Errno = Errno(105);
    /// `EISCONN` (106): Transport endpoint is already connected.
    pub const EISCONN: Errno = Errno(106);
    /// `ENOTCONN` (107): Transport endpoint is not connected.
    pub const ENOTCONN: Errno = Errno(107);
    /// `ESHUTDOWN` (108): Cannot send after transport endpoint shutdown.
    pub const ESHUTDOWN: Errno = Errno(108);
    /// `ETOOMANYREFS` (109): Too many references: cannot splice.
    pub const ETOOMANYREFS: Errno = Errno(109);
    /// `ETIMEDOUT` (110): Connection timed out.
    pub const ETIMEDOUT: Errno = Errno(110);
    /// `ECONNREFUSED` (111): Connection refused.
    pub const ECONNREFUSED: Errno = Errno(111);
    /// `EHOSTDOWN` (112): Host is down.
    pub const EHOSTDOWN: Errno = Errno(112);
    /// `EHOSTUNREACH` (113): No route to host.
    pub const EHOSTUNREACH: Errno = Errno(113);
    /// `EALREADY` (114): Operation already in progress.
    pub const EALREADY: Errno = Errno(114);
    /// `EINPROGRESS` (115): Operation now in progress.
    pub const EINPROGRESS: Errno = Errno(115);
    /// `ESTALE` (116): Stale file handle.
    pub const ESTALE: Errno = Errno(116);
    /// `EUCLEAN` (117): Structure needs cleaning.
    pub const EUCLEAN: Errno = Errno(117);
    /// `ENOTNAM` (118): Not a XENIX named type file.
    pub const ENOTNAM: Errno = Errno(118);
    /// `ENAVAIL` (119): No XENIX semaphores available.
    pub const ENAVAIL: Errno = Errno(119);
    /// `EISNAM` (120): Is a named type file.
    pub const EISNAM: Errno = Errno(120);
    /// `EREMOTEIO` (121): Remote I/O error.
    pub const EREMOTEIO: Errno = Errno(121);
    /// `EDQUOT` (122): Quota exceeded.
    pub const EDQUOT: Errno = Errno(122);
    /// `ENOMEDIUM` (123): No medium found.
    pub const ENOMEDIUM: Errno = Errno(123);
    /// `EMEDIUMTYPE` (124): Wrong medium type.
    pub const EMEDIUMTYPE: Errno = Errno(124);
    /// `ECANCELED` (125): Operation Canceled.
    pub const ECANCELED: Errno = Errno(125);
    /// `ENOKEY` (126): Required key not available.
    pub const ENOKEY: Errno = Errno(126);
    /// `EKEYEXPIRED` (127): Key has expired.
    pub const EKEYEXPIRED: Errno = Errno(127);
    /// `EKEYREVOKED` (128): Key has been revoked.
    pub const EKEYREVOKED: Errno = Errno(128);
    /// `EKEYREJECTED` (129): Key was rejected by service.
    pub const EKEYREJECTED: Errno = Errno(129);
    /// `EOWNERDEAD` (130): Owner died.
    pub const EOWNERDEAD: Errno = Errno(130);
    /// `ENOTRECOVERABLE` (131): State not recoverable.
    pub const ENOTRECOVERABLE: Errno = Errno(131);
    /// `ERFKILL` (132): Operation not possible due to RF-kill.
    pub const ERFKILL: Errno = Errno(132);
    /// `EHWPOISON` (133): Memory page has hardware error.
    pub const EHWPOISON: Errno = Errno(133);

    /// The errno with this number (as in `errno` after a failed call, or the
    /// negated return value of a raw system call).
    pub const fn new(raw: i32) -> Errno {
        Errno(raw)
    }

    /// The number.
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// The symbolic name, if the number is one of Linux's.
    pub fn name(self) -> Option<&'static str> {
        TABLE
            .iter()
            .find(|(raw, _)| *raw == self.0)
            .map(|(_, name)| *name)
    }

    /// The errno that [`Display`](fmt::Display) prints as `name`: a name from
    /// Linux's table, or `E` and a decimal number that has no name.
    pub fn from_name(name: &str) -> Option<Errno> {
        if let Some((raw, _)) = TABLE.iter().find(|(_, n)| *n == name) {
            return Some(Errno(*raw));
        }
        let digits = name.strip_prefix('E')?;
        let unsigned = digits.strip_prefix('-').unwrap_or(digits);
        if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let errno = Errno(digits.parse::<i32>().ok()?);
        // `E22` is spelled `EINVAL`: only numbers without a name parse.
        errno.name().is_none().then_some(errno)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "E{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_linux_numbering() {
        assert_eq!(Errno::EPERM.raw(), 1);
        assert_eq!(Errno::EAGAIN.raw(), 11);
        assert_eq!(Errno::EINVAL.raw(), 22);
        assert_eq!(Errno::EOVERFLOW.raw(), 75);
        assert_eq!(Errno::EOPNOTSUPP.raw(), 95);
        assert_eq!(Errno::EHWPOISON.raw(), 133);
        for (raw, name) in TABLE {
            assert_eq!(Errno::new(raw).name(), Some(name));
            assert_eq!(Errno::from_name(name), Some(Errno::new(raw)));
        }
    }

    #[test]
    fn unknown_numbers_print_as_numbers() {
        for raw in [0, -3, 41, 58, 134, 4095] {
            let errno = Errno::new(raw);
            assert_eq!(errno.to_string(), format!("E{raw}"));
            assert_eq!(Errno::from_name(&errno.to_string()), Some(errno));
        }
        assert_eq!(Errno::from_name("E22"), None);
        assert_eq!(Errno::from_name("E"), None);
        assert_eq!(Errno::from_name("E-"), None);
        assert_eq!(Errno::from_name("EWHAT"), None);
    }
}
