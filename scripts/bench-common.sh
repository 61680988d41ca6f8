# Shared by the scripts/bench-* scripts (sourced, not run): installs what the benchmarks
# need, builds a release `tessera`, and starts servers on 127.0.0.1 that stop with the script.
# Only processes started here are stopped, by their pid.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps"
if ! command -v redis-benchmark >/dev/null || ! command -v redis-server >/dev/null; then
    sudo_cmd=""
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get install -y -qq redis-server redis-tools >/dev/null
fi
# TESSERA_BIN=PATH measures that binary instead (a before/after comparison in one sitting).
if [ -n "${TESSERA_BIN:-}" ]; then
    tessera="$TESSERA_BIN"
else
    swift build -c release --package-path "$root" >/dev/null
    tessera="$root/.build/release/tessera"
fi
work="$(mktemp -d)"
started_pids=()
cleanup() {
    for pid in "${started_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "${KEEP_WORK:-}" ]; then echo "kept $work (KEEP_WORK)"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# start_tessera NAME [ARGS...]: starts `tessera single` with its data in $work/NAME; sets $port.
start_tessera() {
    local name="$1"
    shift
    "$tessera" single --endpoint tcp://127.0.0.1:0 --data "$work/$name" "$@" >"$work/$name.out" 2>&1 &
    started_pids+=($!)
    for _ in $(seq 1 400); do grep -q "listening on" "$work/$name.out" && break; sleep 0.05; done
    port="$(grep -o '127.0.0.1:[0-9]*' "$work/$name.out" | head -1 | cut -d: -f2)"
    [ -n "$port" ] || { cat "$work/$name.out"; exit 1; }
}

# start_redis PORT [ARGS...]: starts redis-server on 127.0.0.1:PORT with its files in $work.
start_redis() {
    local redis_port="$1"
    shift
    mkdir -p "$work/redis-$redis_port"
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --dir "$work/redis-$redis_port" "$@" \
        >"$work/redis-$redis_port.out" 2>&1 &
    started_pids+=($!)
    for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return; sleep 0.05; done
    cat "$work/redis-$redis_port.out"
    exit 1
}

machine_line() {
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(redis-server --version | cut -d' ' -f1-3)"
}
