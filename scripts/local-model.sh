#!/usr/bin/env bash
# The local model's script lives inside the `extract` crate, which embeds it (`extract/src/local.rs`)
# so that the published crate can start the server on a user's machine; this is the same script at
# the path the README and the test command use.
exec bash "$(dirname "$0")/../extract/scripts/local-model.sh" "$@"
