//! Malformed lines: each kind of error names the right line, says what is
//! wrong, and stops a replay after the lines above it ran.

use mmscript::{lines, parse, parse_prefix, replay, MapsLine, Op, Outcome, ReplayError, Runner};

/// `(line text, expected message)`; each is put at line 3 of a script.
const CASES: &[(&str, &str)] = &[
    ("mmapp 0x1000 0x1000", "unknown operation \"mmapp\""),
    ("MMAP 0x1000 0x1000 rw- private-anon", "unknown operation \"MMAP\""),
    ("mmap 0x1000 0x1000 rw-", "mmap: expected at least 4 arguments (ADDR LEN PROT KIND [OPT...]), got 3"),
    ("mmap 0x1000 0x1000 rwz private-anon", "mmap: bad PROT \"rwz\": expected three characters r/-, w/-, x/-"),
    ("mmap 0x1000 0x1000 rw private-anon", "mmap: bad PROT \"rw\""),
    ("mmap 0x1000 0x1000 wr- private-anon", "mmap: bad PROT \"wr-\""),
    ("mmap 0x1000 0x1000 rw- private", "mmap: bad KIND \"private\""),
    ("mmap 0x1000 0x1000 rw- private-file:data", "mmap: bad KIND \"private-file:data\": expected NAME:OFF"),
    ("mmap 0x1000 0x1000 rw- private-file:Data:0", "mmap: bad NAME \"Data\": expected [a-z0-9_]+ other than anon and shmem"),
    ("mmap 0x1000 0x1000 rw- shared-file:anon:0", "mmap: bad NAME \"anon\""),
    ("mmap 0x1000 0x1000 rw- shared-file:shmem:0", "mmap: bad NAME \"shmem\""),
    ("mmap 0x1000 0x1000 rw- shared-file::0", "mmap: bad NAME \"\""),
    ("mmap 0x1000 0x1000 rw- shared-file:my-file:0", "mmap: bad NAME \"my-file\""),
    ("mmap 0x1000 0x1000 rw- shared-file:data:", "mmap: bad OFF \"\": expected a decimal number or 0x and hexadecimal digits"),
    ("mmap 0x1000 0x1000 rw- shared-file:data:1:2", "mmap: bad OFF \"1:2\""),
    ("mmap 0x1000 0x1000 rw- private-anon fixd", "mmap: bad OPT \"fixd\": expected fixed, noreplace, noreserve, populate, locked, growsdown or stack"),
    ("mmap 0x1000 0x1000 rw- private-anon fixed fixed", "mmap: duplicate option \"fixed\""),
    ("mmap 0xg000 0x1000 rw- private-anon fixed", "mmap: bad ADDR \"0xg000\": expected a decimal number or 0x and hexadecimal digits"),
    ("mmap 0x1000 -4096 rw- private-anon fixed", "mmap: bad LEN \"-4096\""),
    ("mmap 0x1000 0x10000000000000000 rw- private-anon fixed", "mmap: bad LEN \"0x10000000000000000\": does not fit in 64 bits"),
    ("mmap 18446744073709551616 0x1000 rw- private-anon fixed", "mmap: bad ADDR \"18446744073709551616\": does not fit in 64 bits"),
    ("mmap 0x2000000000 0x1000 rw- private-anon fixed", "mmap: range 0x2000000000+0x1000 leaves [0, 0x2000000000)"),
    ("mmap 0x1fffff0000 0x20000 rw- private-anon noreplace", "mmap: range 0x1fffff0000+0x20000 leaves"),
    ("munmap 0x1000", "munmap: expected 2 arguments (ADDR LEN), got 1"),
    ("munmap 0x1000 0x1000 0x1000", "munmap: expected 2 arguments (ADDR LEN), got 3"),
    ("munmap 0x0 0x800000000000", "munmap: range 0x0+0x800000000000 leaves"),
    ("mprotect 0x1000 0x1000", "mprotect: expected 3 arguments (ADDR LEN PROT), got 2"),
    ("mprotect 0x1000 0x1000 RW-", "mprotect: bad PROT \"RW-\""),
    ("mremap 0x1000 0x1000", "mremap: expected at least 3 arguments (OLD OLDLEN NEWLEN [maymove] [fixed NEW] [dontunmap]), got 2"),
    ("mremap 0x1000 0x1000 0x2000 fixed", "mremap: \"fixed\" needs an address: fixed NEW"),
    ("mremap 0x1000 0x1000 0x2000 fixed maymove", "mremap: bad NEW \"maymove\""),
    ("mremap 0x1000 0x1000 0x2000 maymove maymove", "mremap: duplicate option \"maymove\""),
    ("mremap 0x1000 0x1000 0x2000 fixed 0x5000 fixed 0x6000", "mremap: duplicate option \"fixed\""),
    ("mremap 0x1000 0x1000 0x2000 dontunmap dontunmap", "mremap: duplicate option \"dontunmap\""),
    ("mremap 0x1000 0x1000 0x2000 move", "mremap: bad option \"move\": expected maymove, fixed NEW or dontunmap"),
    ("mremap 0x1000 0x1000 0x2000 fixed 0x3000000000", "mremap: range 0x3000000000+0x2000 leaves"),
    ("mremap 0x1000 0x1000 0x2000000000", "mremap: range 0x1000+0x2000000000 leaves"),
    ("madvise 0x1000 0x1000", "madvise: expected 3 arguments (ADDR LEN ADVICE), got 2"),
        ("mlock 0x1000", "mlock: expected 2 arguments (ADDR LEN [onfault]), got 1"),
    ("mlock 0x1000 0x1000 onfalt", "mlock: bad option \"onfalt\": expected onfault"),
    ("mlock 0x1000 0x1000 onfault onfault", "mlock: expected 2 arguments (ADDR LEN [onfault]), got 4"),
    ("mlockall", "mlockall: expected 1 argument (current|future|onfault), got 0"),
    ("mlockall current future", "mlockall: expected 1 argument (current|future|onfault), got 2"),
    ("mlockall current|current", "mlockall: bad flags \"current|current\": \"current\" appears twice"),
    ("mlockall current|", "mlockall: bad flags \"current|\": \"\" is not current, future or onfault"),
    ("mlockall CURRENT", "mlockall: bad flags \"CURRENT\""),
    ("munlockall 0", "munlockall: expected no arguments, got 1"),
    ("truncate data", "truncate: expected 2 arguments (NAME SIZE), got 1"),
    ("truncate anon 0x1000", "truncate: bad NAME \"anon\""),
    ("truncate Data 0x1000", "truncate: bad NAME \"Data\""),
    ("truncate data -1", "truncate: bad SIZE \"-1\""),
    ("mmap 0x1000 0x1000 rw- private-anon fixed stack stack", "mmap: duplicate option \"stack\""),
    ("madvise 0x1000 0x1000 will_need", "madvise: bad ADVICE \"will_need\": expected one of dontneed free dontfork dofork wipeonfork keeponfork hugepage nohugepage random sequential normal willneed cold pageout populate_read populate_write remove dontdump dodump dontneed_locked guard_install guard_remove mergeable unmergeable collapse"),
    ("madvise 0x1000 0x1000 guard", "madvise: bad ADVICE \"guard\": expected one of "),
    ("mseal 0x1000", "mseal: expected 2 arguments (ADDR LEN), got 1"),
    ("mseal 0x1000 0x1000 0", "mseal: expected 2 arguments (ADDR LEN), got 3"),
    ("mseal 0x1000 -1", "mseal: bad LEN \"-1\""),
    ("mseal 0x1000 0x2000000000", "mseal: range 0x1000+0x2000000000 leaves"),
    ("munlock 0x1000 0x1000 rw-", "munlock: expected 2 arguments (ADDR LEN), got 3"),
    ("touch 0x1000", "touch: expected 2 arguments (ADDR r|w), got 1"),
    ("touch 0x1000 x", "touch: bad access \"x\": expected r or w"),
    ("touch 0x1000 rw", "touch: bad access \"rw\""),
    ("touch 0x2000000000 r", "touch: range 0x2000000000+0x1 leaves"),
    ("maps all", "maps: expected no arguments, got 1"),
    ("pkey_alloc noaccess nowrite", "pkey_alloc: expected at most 1 argument ([noaccess|nowrite]), got 2"),
    ("pkey_alloc none", "pkey_alloc: bad RIGHTS \"none\": expected noaccess or nowrite"),
    ("pkey_alloc NOACCESS", "pkey_alloc: bad RIGHTS \"NOACCESS\""),
    ("pkey_alloc 1", "pkey_alloc: bad RIGHTS \"1\""),
    ("pkey_alloc no-access", "pkey_alloc: bad RIGHTS \"no-access\""),
    ("PKEY_ALLOC", "unknown operation \"PKEY_ALLOC\""),
    ("pkey_free", "pkey_free: expected 1 argument (PKEY), got 0"),
    ("pkey_free 1 2", "pkey_free: expected 1 argument (PKEY), got 2"),
    ("pkey_free one", "pkey_free: bad PKEY \"one\": expected a decimal number, optionally negative"),
    ("pkey_free 0x1", "pkey_free: bad PKEY \"0x1\": expected a decimal number, optionally negative"),
    ("pkey_free +1", "pkey_free: bad PKEY \"+1\""),
    ("pkey_free -", "pkey_free: bad PKEY \"-\""),
    ("pkey_free default", "pkey_free: bad PKEY \"default\": expected a decimal number, optionally negative"),
    ("pkey_free 2147483648", "pkey_free: bad PKEY \"2147483648\": does not fit in 32 bits (the kernel's int)"),
    ("pkey_free -2147483649", "pkey_free: bad PKEY \"-2147483649\": does not fit in 32 bits"),
    ("pkey_free 4294967295", "pkey_free: bad PKEY \"4294967295\": does not fit in 32 bits"),
    ("pkey_mprotect 0x1000 0x1000 rw-", "pkey_mprotect: expected 4 arguments (ADDR LEN PROT PKEY), got 3"),
    ("pkey_mprotect 0x1000 0x1000 rw- 1 2", "pkey_mprotect: expected 4 arguments (ADDR LEN PROT PKEY), got 5"),
    ("pkey_mprotect 0x1000 0x1000 1 rw-", "pkey_mprotect: bad PROT \"1\""),
    ("pkey_mprotect 0x1000 0x1000 rwz 1", "pkey_mprotect: bad PROT \"rwz\": expected three characters r/-, w/-, x/-"),
    ("pkey_mprotect 0x1000 0x1000 rw- Default", "pkey_mprotect: bad PKEY \"Default\": expected a decimal number (optionally negative) or default"),
    ("pkey_mprotect 0x1000 0x1000 rw- 0x1", "pkey_mprotect: bad PKEY \"0x1\": expected a decimal number (optionally negative) or default"),
    ("pkey_mprotect 0x1000 0x1000 rw- 2147483648", "pkey_mprotect: bad PKEY \"2147483648\": does not fit in 32 bits (the kernel's int)"),
    ("pkey_mprotect -1 0x1000 rw- 1", "pkey_mprotect: bad ADDR \"-1\""),
    ("pkey_mprotect 0x1000 -4096 rw- 1", "pkey_mprotect: bad LEN \"-4096\""),
    ("pkey_mprotect 0x2000000000 0x1000 rw- 1", "pkey_mprotect: range 0x2000000000+0x1000 leaves [0, 0x2000000000)"),
    ("pkey_mprotect 0x1000 0x2000000000 --x default", "pkey_mprotect: range 0x1000+0x2000000000 leaves"),
    ("0x1000", "unknown operation \"0x1000\""),
    ("mmap\u{a0}0x1000 0x1000 rw- private-anon fixed", "unknown operation \"mmap\\u{a0}0x1000\""),
];

const BEFORE: &str = "# a comment on line 1\nmmap 0x1000 0x1000 rw- private-anon fixed\n";
const AFTER: &str = "\nmunmap 0x1000 0x1000\nmaps\n";

#[test]
fn every_error_names_its_line_and_says_what_is_wrong() {
    for (line, expected) in CASES {
        let text = format!("{BEFORE}{line}{AFTER}");
        let error = parse(&text).unwrap_err();
        assert_eq!(error.line(), 3, "{line:?}");
        assert!(
            error.message().starts_with(expected),
            "{line:?}: got {:?}, expected it to start with {expected:?}",
            error.message()
        );
        assert_eq!(error.to_string(), format!("line 3: {}", error.message()));

        // The prefix before the error is intact.
        let (prefix, error2) = parse_prefix(&text);
        assert_eq!(error2, Some(error.clone()));
        assert_eq!(prefix.ops.len(), 1);
        assert_eq!(prefix.ops[0].0, 2);

        // The iterator yields the prefix, the error, and then nothing.
        let items: Vec<_> = lines(&text).collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1], Err(error));
    }
}

#[test]
fn accepted_edge_cases() {
    let text = "\
        \t mmap 0x1000 4096 rw- private-anon fixed   # tabs, spaces, comment\n\
        #\n\
        \n\
        mmap 0x0 0xffffffffffffffff rw- private-anon fixed\n\
        mmap 0x800000000000 0x1000 rw- private-anon fixed\n\
        munmap 0xffffffffffff0000 0x10000\n\
        mprotect 0x1000 0xffffffffffffe001 r--\n\
        mmap 0x1fffff0000 0x10000 rw- private-anon noreplace\n\
        mmap 0x7fffffff0000 0x10000 rw- private-anon\n\
        mremap 0x1000 0 0x1000 maymove\n\
        mremap 0x1000 0x1000 0x1000 dontunmap fixed 0x5000 maymove\n\
        mmap 0x1000 0x1000 --- shared-file:a_1:0x3ffff000 populate locked noreserve noreplace fixed\n\
        touch 0x1fffffffff w\n\
        touch 0xffffffffffffffff r\n\
        maps # comment\n\
        maps#comment\n\
        mlock 0x1000 0x1000\r\n\
        pkey_alloc\n\
        pkey_alloc noaccess # a comment\n\
        \tpkey_alloc   nowrite\n\
        pkey_free -1\n\
        pkey_free -2147483648\n\
        pkey_free 007\n\
        pkey_mprotect 0x800000000000 0x1000 --x default\n\
        pkey_mprotect 0x1000 0 rw- 2147483647\n\
        pkey_mprotect 0x1001 0xffffffffffffe001 r-- -2\n";
    let script = parse(text).unwrap();
    let numbers: Vec<_> = script.ops.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        numbers,
        [1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26]
    );
}

#[test]
fn pkey_lines_parse_to_these_ops_and_print_back() {
    use mmscript::{PkeyRights, Prot, DEFAULT_PKEY};
    let cases = [
        (
            "pkey_alloc",
            Op::PkeyAlloc {
                rights: PkeyRights::None,
            },
        ),
        (
            "pkey_alloc noaccess",
            Op::PkeyAlloc {
                rights: PkeyRights::NoAccess,
            },
        ),
        (
            "pkey_alloc nowrite",
            Op::PkeyAlloc {
                rights: PkeyRights::NoWrite,
            },
        ),
        ("pkey_free 0", Op::PkeyFree { key: 0 }),
        ("pkey_free -1", Op::PkeyFree { key: -1 }),
        ("pkey_free 16", Op::PkeyFree { key: 16 }),
        (
            "pkey_mprotect 0x1000 0x2000 --x default",
            Op::PkeyMprotect {
                addr: 0x1000,
                len: 0x2000,
                prot: Prot::new(false, false, true),
                pkey: DEFAULT_PKEY,
            },
        ),
        (
            "pkey_mprotect 0x1000 0x2000 rw- 3",
            Op::PkeyMprotect {
                addr: 0x1000,
                len: 0x2000,
                prot: Prot::RW,
                pkey: 3,
            },
        ),
        (
            "pkey_mprotect 0x1000 0x0 r-- -2",
            Op::PkeyMprotect {
                addr: 0x1000,
                len: 0,
                prot: Prot::R,
                pkey: -2,
            },
        ),
    ];
    for (line, op) in cases {
        assert_eq!(mmscript::parse_line(line), Ok(Some(op.clone())), "{line}");
        assert_eq!(op.to_string(), line);
    }
    // -1 is `default`, however it is written; keys are decimal.
    let op = mmscript::parse_line("pkey_mprotect 4096 8192 rw- -1")
        .unwrap()
        .unwrap();
    assert_eq!(op.to_string(), "pkey_mprotect 0x1000 0x2000 rw- default");
    let op = mmscript::parse_line("pkey_free 007").unwrap().unwrap();
    assert_eq!(op.to_string(), "pkey_free 7");
    assert_eq!(op.name(), "pkey_free");
    assert!(op.ranges().is_empty());
    assert_eq!(PkeyRights::ALL.map(PkeyRights::bits), [0, 1, 2]);
}

#[test]
fn an_empty_script_has_no_ops() {
    assert!(parse("").unwrap().is_empty());
    assert!(parse("\n\n# nothing\n   \n").unwrap().is_empty());
}

/// Counts calls and prints nothing interesting.
#[derive(Default)]
struct Counting {
    ops: Vec<Op>,
}

impl Runner for Counting {
    fn run_op(&mut self, op: &Op) -> Outcome {
        self.ops.push(op.clone());
        Outcome::Ok
    }

    fn maps(&mut self) -> Vec<MapsLine> {
        self.ops.push(Op::Maps);
        Vec::new()
    }
}

#[test]
fn replay_runs_the_lines_above_a_malformed_line_and_nothing_after() {
    let text = "mmap 0x1000 0x1000 rw- private-anon fixed\nmaps\n\n# x\nmprotect 0x1000 0x1000 rwz\nmunmap 0x1000 0x1000\n";
    let mut runner = Counting::default();
    let mut out = Vec::new();
    let error = replay(text, &mut runner, &mut out).unwrap_err();
    assert_eq!(runner.ops.len(), 2);
    assert_eq!(String::from_utf8(out).unwrap(), "ok\nend\n");
    match error {
        ReplayError::Parse(error) => {
            assert_eq!(error.line(), 5);
            assert_eq!(
                error.to_string(),
                "line 5: mprotect: bad PROT \"rwz\": expected three characters r/-, w/-, x/-"
            );
        }
        ReplayError::Io(error) => panic!("{error}"),
    }
}
