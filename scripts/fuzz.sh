#!/usr/bin/env bash
# Runs the fuzz targets of extract/fuzz (cargo-fuzz, libFuzzer) and prints, per target, the
# executions and the crashes.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   each target for SECONDS (default 600), all by default
#
# Environment: FUZZ_JOBS (targets run at once, default 1), FUZZ_NICE (niceness, default 19: the
# fuzzers yield to everything else on the machine), CARGO_TARGET_DIR (the build, default
# extract/fuzz/target), EXTRACT_CACHE_DIR (default ~/.cache/extract).
#
# cargo-fuzz is installed if missing. It needs a nightly compiler's flags (-Zsanitizer); a stable
# toolchain accepts them with RUSTC_BOOTSTRAP=1, which this script sets. Each target fuzzes a copy
# of its committed seed corpus kept outside the repository ($EXTRACT_CACHE_DIR/fuzz/<target>), which
# grows from run to run; what it finds goes to $EXTRACT_CACHE_DIR/fuzz/artifacts/<target>/. A
# finding stops its target's run: minimize it (`cargo fuzz tmin`), fix it, add the minimized input
# to extract/fuzz/corpus/<target>/ beside a regression test, and run again.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz_dir="$root/extract/fuzz"
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(envelope locate stream_json sse)
fi
jobs="${FUZZ_JOBS:-1}"
niceness="${FUZZ_NICE:-19}"
cache="${EXTRACT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/extract}/fuzz"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$fuzz_dir/target}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz (once)" >&2
    cargo install cargo-fuzz --locked
fi

cd "$fuzz_dir"
echo "fuzz.sh: building the targets" >&2
for target in "${targets[@]}"; do
    nice -n "$niceness" cargo fuzz build "$target" >&2
done

run_one() {
    local target="$1"
    local corpus="$cache/$target" artifacts="$cache/artifacts/$target" log="$cache/logs/$target.log"
    mkdir -p "$corpus" "$artifacts" "$cache/logs"
    cp -n "$fuzz_dir/corpus/$target/"* "$corpus/"
    local before
    before="$(find "$artifacts" -type f | wc -l)"
    local started=$SECONDS
    # -timeout: one input running longer than 10 s is a finding (a hang); -max_len: replies are long
    # but the parsers' states are not, and short inputs mutate faster.
    local dict=()
    case "$target" in
        sse) dict=(-dict="$fuzz_dir/dict/sse.dict") ;;
        locate | stream_json) dict=(-dict="$fuzz_dir/dict/json.dict") ;;
    esac
    nice -n "$niceness" cargo fuzz run "$target" "$corpus" -- "${dict[@]}" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || true
    local elapsed=$((SECONDS - started))
    local execs
    execs="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 |
        grep -o '[0-9]*$' || true)"
    if [ -z "$execs" ]; then
        # A crash ends the run before the final stats: the last status line's count.
        execs="$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true)"
    fi
    local crashes
    crashes=$(($(find "$artifacts" -type f | wc -l) - before))
    local found=""
    if [ "$crashes" -gt 0 ]; then
        found="$(find "$artifacts" -type f -newer "$log.start" | head -3 | tr '\n' ' ')"
    fi
    printf '%-12s %6ss %12s executions %3s crashes %s\n' \
        "$target" "$elapsed" "${execs:-?}" "$crashes" "$found"
}

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
running=0
for target in "${targets[@]}"; do
    mkdir -p "$cache/logs"
    touch "$cache/logs/$target.log.start"
    run_one "$target" >>"$results" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait
echo "target         time   executions           crashes (logs in $cache/logs)"
sort "$results"
