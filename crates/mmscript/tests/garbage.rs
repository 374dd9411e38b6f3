//! Random input never panics the parser, random operations print and parse
//! back to themselves, and generated scripts are valid.

use mmscript::{
    generate, lines, parse, parse_line, parse_prefix, range_allowed, Advice, ForkSide, Kind,
    MapsLine, MlockallFlags, MmapFlags, MremapFlags, Op, Outcome, PkeyRights, Prot,
};
use proptest::prelude::*;

/// Words a script is made of, and near misses.
const VOCABULARY: &[&str] = &[
    "mmap",
    "munmap",
    "mprotect",
    "mremap",
    "madvise",
    "mlock",
    "munlock",
    "touch",
    "maps",
    "0x1000",
    "0",
    "4096",
    "0x",
    "0xffffffffffffffff",
    "18446744073709551616",
    "-1",
    "rw-",
    "r--",
    "---",
    "rwx",
    "rw",
    "private-anon",
    "shared-anon",
    "private-file:data:0",
    "shared-file:x:0x1000",
    "private-file:",
    "shared-file:a:",
    "fixed",
    "noreplace",
    "noreserve",
    "populate",
    "locked",
    "maymove",
    "dontunmap",
    "dontneed",
    "hugepage",
    "r",
    "w",
    "#",
    "\t",
    "é",
    "\u{0}",
    ":",
    "0x800000000000",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "noaccess",
    "nowrite",
    "default",
    "--x",
    "16",
    "-2147483649",
    "2147483647",
];

fn prot() -> impl Strategy<Value = Prot> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(r, w, x)| Prot::new(r, w, x))
}

fn addr() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..0x20_0000_0000,
        (0u64..0x200_0000).prop_map(|page| page << 12),
        Just(1u64 << 47),
        any::<u64>(),
    ]
}

fn len() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..0x10_0000, Just(0u64), Just(u64::MAX), any::<u64>()]
}

fn kind() -> impl Strategy<Value = Kind> {
    let name = "[a-z0-9_]{1,8}".prop_filter("reserved", |n| n != "anon" && n != "shmem");
    prop_oneof![
        Just(Kind::PrivateAnon),
        Just(Kind::SharedAnon),
        (name.clone(), any::<u64>()).prop_map(|(name, offset)| Kind::PrivateFile { name, offset }),
        (name, any::<u64>()).prop_map(|(name, offset)| Kind::SharedFile { name, offset }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let mmap_flags = any::<[bool; 7]>().prop_map(|f| MmapFlags {
        fixed: f[0],
        noreplace: f[1],
        noreserve: f[2],
        populate: f[3],
        locked: f[4],
        growsdown: f[5],
        stack: f[6],
    });
    let mlockall_flags = any::<[bool; 3]>()
        .prop_filter("at least one word", |f| f.contains(&true))
        .prop_map(|f| MlockallFlags {
            current: f[0],
            future: f[1],
            onfault: f[2],
        });
    let name = "[a-z0-9_]{1,8}".prop_filter("reserved", |n| n != "anon" && n != "shmem");
    let mremap_flags = (any::<bool>(), proptest::option::of(addr()), any::<bool>()).prop_map(
        |(maymove, fixed, dontunmap)| MremapFlags {
            maymove,
            fixed,
            dontunmap,
        },
    );
    prop_oneof![
        (addr(), len(), prot(), kind(), mmap_flags).prop_map(|(addr, len, prot, kind, flags)| {
            Op::Mmap {
                addr,
                len,
                prot,
                kind,
                flags,
            }
        }),
        (addr(), len()).prop_map(|(addr, len)| Op::Munmap { addr, len }),
        (addr(), len(), prot()).prop_map(|(addr, len, prot)| Op::Mprotect { addr, len, prot }),
        (addr(), len(), len(), mremap_flags).prop_map(|(old_addr, old_len, new_len, flags)| {
            Op::Mremap {
                old_addr,
                old_len,
                new_len,
                flags,
            }
        }),
        (
            addr(),
            len(),
            proptest::sample::select(Advice::ALL.to_vec())
        )
            .prop_map(|(addr, len, advice)| Op::Madvise { addr, len, advice }),
        (addr(), len(), any::<bool>()).prop_map(|(addr, len, onfault)| Op::Mlock {
            addr,
            len,
            onfault
        }),
        mlockall_flags.prop_map(|flags| Op::Mlockall { flags }),
        Just(Op::Munlockall),
        (name, any::<u64>()).prop_map(|(name, size)| Op::Truncate { name, size }),
        (addr(), len()).prop_map(|(addr, len)| Op::Munlock { addr, len }),
        (addr(), any::<bool>()).prop_map(|(addr, write)| Op::Touch { addr, write }),
        Just(Op::Maps),
        proptest::sample::select(PkeyRights::ALL.to_vec())
            .prop_map(|rights| Op::PkeyAlloc { rights }),
        key().prop_map(|key| Op::PkeyFree { key }),
        (addr(), len(), prot(), key()).prop_map(|(addr, len, prot, pkey)| Op::PkeyMprotect {
            addr,
            len,
            prot,
            pkey,
        }),
        proptest::sample::select(ForkSide::ALL.to_vec()).prop_map(|side| Op::Fork { side }),
    ]
}

fn key() -> impl Strategy<Value = i32> {
    prop_oneof![-2i32..18, Just(-1), any::<i32>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC*") {
        let _ = parse(&text);
        let _ = parse_prefix(&text);
        for item in lines(&text) {
            let _ = item;
        }
        for line in text.lines() {
            let _ = line.parse::<Outcome>();
            let _ = line.parse::<MapsLine>();
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse(&text);
    }

    #[test]
    fn word_soup_never_panics_and_errors_name_a_real_line(
        script in proptest::collection::vec(
            proptest::collection::vec(proptest::sample::select(VOCABULARY), 0..8),
            0..12,
        )
    ) {
        let text: String = script.iter().map(|words| words.join(" ") + "\n").collect();
        if let Err(error) = parse(&text) {
            prop_assert!(error.line() >= 1 && error.line() <= script.len());
            prop_assert!(!error.message().is_empty());
        }
    }

    #[test]
    fn ops_print_and_parse_back(op in op()) {
        let line = op.to_string();
        match parse_line(&line) {
            Ok(parsed) => prop_assert_eq!(parsed, Some(op)),
            // Only an out-of-zone range may fail, and only if it is one.
            Err(message) => {
                prop_assert!(message.contains("leaves [0, 0x2000000000)"), "{}", message);
                prop_assert!(op.check_ranges().is_err());
            }
        }
    }

    #[test]
    fn allowed_ranges_stay_in_the_zone_or_are_always_rejected(start in addr(), len in len()) {
        if range_allowed(start, len) {
            let end = u128::from(start) + u128::from(len);
            prop_assert!(
                end <= 0x20_0000_0000
                    || start >= 1 << 47
                    || u128::from(start) + u128::from(len).div_ceil(4096) * 4096 > u128::from(u64::MAX)
            );
        }
    }
}

#[test]
fn generated_scripts_parse() {
    for seed in 0..300 {
        let text = generate(seed, 120);
        let script = parse(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        assert_eq!(script.len(), 121, "seed {seed}");
        assert_eq!(
            text,
            generate(seed, 120),
            "seed {seed} is not deterministic"
        );
        // Every mmap is fixed or noreplace; every mremap that may grow
        // out of place uses fixed.
        for op in script.iter() {
            match op {
                Op::Mmap { flags, .. } => assert!(!flags.is_hint(), "{op}"),
                Op::Mremap {
                    old_len,
                    new_len,
                    flags,
                    ..
                } if flags.maymove && flags.fixed.is_none() => assert!(new_len <= old_len, "{op}"),
                _ => {}
            }
        }
    }
}

#[test]
fn generated_scripts_use_every_operation() {
    let text: String = (0..40).map(|seed| generate(seed, 200)).collect();
    for word in [
        "mmap",
        "munmap",
        "mprotect",
        "mremap",
        "madvise",
        "mlock",
        "munlock",
        "touch",
        "maps",
        "pkey_alloc\n",
        "pkey_alloc noaccess\n",
        "pkey_alloc nowrite\n",
        "pkey_free",
        "pkey_free -1\n",
        "pkey_mprotect",
        " default\n",
        " --x ",
        "shared-anon",
        "private-file",
        "shared-file",
        "noreplace",
        "hugepage",
        "dontunmap",
        " w\n",
        " r\n",
        " onfault\n",
        "mlockall current",
        "mlockall onfault\n",
        "munlockall\n",
        "truncate data",
        "truncate other",
        " growsdown",
        " stack",
        "mseal",
        "guard_install",
        "guard_remove",
        "populate_write",
        "pageout",
        "mergeable",
    ] {
        assert!(text.contains(word), "{word}");
    }
}
