//! The incremental JSON parser against serde_json, in several chunkings.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| extract::__fuzz::stream_json(data));
