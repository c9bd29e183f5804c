//! Reply envelopes of every dialect: a typed result for any body, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| extract::__fuzz::envelope(data));
