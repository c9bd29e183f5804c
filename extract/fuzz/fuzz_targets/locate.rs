//! The Prompt mode's JSON locator and repair, and the judge's fast reading of a reply.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| extract::__fuzz::locate(data));
