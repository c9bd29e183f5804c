//! The SSE and NDJSON stream decoder: the same payloads whatever the chunking.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| extract::__fuzz::sse(data));
