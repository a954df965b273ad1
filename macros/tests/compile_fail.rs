//! Misuse of `#[kiln::main]` / `#[kiln::test]` is a compile error that names the mistake.
//! Each `tests/ui/*.rs` must fail to compile with exactly the message in its `.stderr`
//! (regenerate with `TRYBUILD=overwrite cargo test -p kiln-macros --test compile_fail`).

#[test]
fn misuse_is_a_clear_compile_error() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
