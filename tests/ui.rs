//! Compile-fail tests of `#[derive(Extract)]`: each file in `tests/ui/` makes one mistake a user could
//! make, and its `.stderr` is the message they would read. `tests/ui-pass/` holds what must compile.
//!
//! The expected output depends on the compiler version; regenerate it with
//! `TRYBUILD=overwrite cargo test --test ui` and read every changed `.stderr` before committing.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui-pass/*.rs");
}
