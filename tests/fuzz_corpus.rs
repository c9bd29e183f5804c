//! Replays every seed of the fuzz targets' corpus (`extract/fuzz/corpus/<target>/`) through the
//! same entry points the fuzzers call, so that the entry points, their invariants and the corpus cannot
//! rot between fuzzing runs, and a minimized crash added to the corpus stays fixed.

use std::path::PathBuf;

fn replay(target: &str, entry: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("extract/fuzz/corpus")
        .join(target);
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    seeds.sort();
    assert!(
        seeds.len() >= 5,
        "{target}: a seed corpus of {} files",
        seeds.len()
    );
    for seed in seeds {
        let data = std::fs::read(&seed).unwrap_or_else(|e| panic!("{}: {e}", seed.display()));
        let outcome = std::panic::catch_unwind(|| entry(&data));
        assert!(
            outcome.is_ok(),
            "{target}: the seed {} fails",
            seed.display()
        );
    }
}

#[test]
fn envelope_seeds() {
    replay("envelope", extract::__fuzz::envelope);
}

#[test]
fn locate_seeds() {
    replay("locate", extract::__fuzz::locate);
}

#[test]
fn stream_json_seeds() {
    replay("stream_json", extract::__fuzz::stream_json);
}

#[test]
fn sse_seeds() {
    replay("sse", extract::__fuzz::sse);
}
