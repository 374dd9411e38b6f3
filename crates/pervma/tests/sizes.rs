//! The series' "bloat" question: how big are `Mm`, `Vma` and tree nodes?
//! Run with `--nocapture` to see the figures; the build (std or no_std)
//! is part of the line.

#[test]
fn print_sizes() {
    let (mm, vma, leaf, internal) = pervma::__sizes();
    let build = if cfg!(feature = "std") {
        "std"
    } else {
        "no_std"
    };
    println!("sizes ({build}): Mm<()> = {mm} B, Vma<()> = {vma} B, tree leaf = {leaf} B, tree internal node = {internal} B");
    // The bound on the VMA header (Linux's vm_area_struct is 192 B
    // without lockdep).
    assert!(
        vma <= 128,
        "Vma<()> is {vma} bytes, over the 128-byte budget"
    );
}
