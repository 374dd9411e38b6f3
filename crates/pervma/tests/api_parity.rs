//! The public API is the same with and without `std`: this test documents
//! the crate in both builds (into its own target directory) and compares
//! every item page and every member anchor (methods, fields, variants,
//! constants, trait impls) of the two.
#![cfg(all(feature = "std", not(loom)))]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn document(features: &[&str], dir: &Path) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["doc", "-q", "--no-deps", "-p", "pervma", "--target-dir"])
        .arg(dir)
        .args(features)
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTDOCFLAGS")
        .status()
        .expect("run cargo doc");
    assert!(status.success(), "cargo doc {features:?} failed");
    let mut items = BTreeSet::new();
    collect(&dir.join("doc/pervma"), &dir.join("doc/pervma"), &mut items);
    items
}

fn collect(root: &Path, dir: &Path, items: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("read doc dir") {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, items);
            continue;
        }
        if path.extension().is_none_or(|e| e != "html") {
            continue;
        }
        let page = path.strip_prefix(root).unwrap().display().to_string();
        items.insert(page.clone());
        let html = std::fs::read_to_string(&path).unwrap();
        for anchor in html.split("id=\"").skip(1) {
            let id = &anchor[..anchor.find('"').unwrap_or(0)];
            let kinds = [
                "method.",
                "tymethod.",
                "structfield.",
                "variant.",
                "associatedconstant.",
                "associatedtype.",
                "impl-",
            ];
            if kinds.iter().any(|k| id.starts_with(k)) {
                items.insert(format!("{page}#{id}"));
            }
        }
    }
}

#[test]
fn no_public_item_is_cfg_gated_away() {
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/api-parity");
    let with_std = document(&[], &target.join("std"));
    let without = document(&["--no-default-features"], &target.join("nostd"));
    assert!(
        with_std.iter().any(|i| i.contains("method.lock_vma")),
        "no items found: {with_std:?}"
    );
    let only_std: Vec<_> = with_std.difference(&without).collect();
    let only_nostd: Vec<_> = without.difference(&with_std).collect();
    assert!(
        only_std.is_empty() && only_nostd.is_empty(),
        "public API differs between builds:\n only with std: {only_std:#?}\n only without: {only_nostd:#?}"
    );
    println!(
        "{} public items and members, identical in both builds",
        with_std.len()
    );
}
