#!/usr/bin/env bash
# Builds and runs the libFuzzer targets in Fuzz/Targets (see Fuzz/README.md).
#
#   Fuzz/run.sh build                  compile every target into Fuzz/build/
#   Fuzz/run.sh smoke [SECONDS]        build if needed, fresh seed corpus, SECONDS (20) per target
#   Fuzz/run.sh run TARGET [SECONDS] [LIBFUZZER FLAGS...]
#                                      one target for longer (600 s), corpus kept between runs
#   Fuzz/run.sh repro                  run the saved crash-* inputs with every waiver off
#
# Each binary is one target file compiled together with Fuzz/Support/*.swift (what targets share),
# Sources/VelocyPack/**/*.swift, Sources/BinaryFormat, Sources/Replication, Sources/VelocyStream,
# Sources/ArangoAPI, Sources/AgencyStore, Sources/Query, Sources/Raft and Sources/ClusterLogic (found now, so new
# library files are included), the pure Storage files listed in storage_pure_files, the pure
# Auth files in auth_pure_files (token decoding; the rest of Auth needs swift-crypto, which the
# fuzz build leaves out) and the pure AgentStorage files in agent_storage_pure_files, as one
# module (with -package-name, for the `package` helpers of Storage). Everything is bounded in time.
set -euo pipefail

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$fuzz_dir")"
build_dir="$fuzz_dir/build"
work_dir="$fuzz_dir/corpus-work"
seeds_dir="$fuzz_dir/seeds"
vectors_dir="$root/Protocol/vectors/vpack"
vst_vectors_dir="$root/Protocol/vectors/vst"
replication_vectors_dir="$root/Protocol/vectors/replication"
# The pure library modules compiled into every target, lowest layer first.
library_dirs=("$root/Sources/VelocyPack" "$root/Sources/BinaryFormat" "$root/Sources/Replication" "$root/Sources/VelocyStream" "$root/Sources/ArangoAPI" "$root/Sources/AgencyStore" "$root/Sources/Query" "$root/Sources/Raft" "$root/Sources/ClusterLogic")
# The pure files of Sources/Storage (record and checkpoint decoding, the checks on replicated
# records and their error type); the rest of Storage does
# I/O and links libsnappy, which the fuzz build leaves out.
storage_pure_files=(LogRecord DocumentLocation Checkpoint StorageError ReplicatedRecord)
# The pure files of other modules compiled in, as paths: CRC32C from the platform seam (the
# rest of it is libuv and system calls).
pure_paths=("$root/Sources/TesseraPlatform/CRC32C.swift")
# The HTTP/1.1 decoder of the platform seam: Swift over Debian's http_parser (libhttp-parser-dev),
# found through its module map in Sources/CHTTPParser and linked with -lhttp_parser.
pure_paths+=("$root/Sources/TesseraPlatform/HTTPParser.swift")
for name in "${storage_pure_files[@]}"; do pure_paths+=("$root/Sources/Storage/$name.swift"); done
# The pure files of Sources/Auth (token decoding and claim checks); the rest of Auth needs
# swift-crypto, which the fuzz build leaves out (FuzzJWT passes its own signature check).
auth_pure_files=(Base64URL JWTError JSONWebToken)
for name in "${auth_pure_files[@]}"; do pure_paths+=("$root/Sources/Auth/$name.swift"); done
# The pure files of Sources/AgentStorage (the Raft disk's segment, hard-state and snapshot
# decoders; they use the Raft and pure Storage files above); the rest does I/O.
agent_storage_pure_files=(RaftDiskError RaftDiskFormat)
for name in "${agent_storage_pure_files[@]}"; do pure_paths+=("$root/Sources/AgentStorage/$name.swift"); done
# Copies of the VelocyStream files and the pure files without their imports of modules that
# are part of the one fuzz module (see stage_sources).
staged_dir="$build_dir/staged-sources"

smoke_seconds_default=20
run_seconds_default=600
build_seconds_max=900
# Grace beyond -max_total_time: libFuzzer finishes the input in hand (-timeout=10) and writes stats.
run_grace_seconds=60
libfuzzer_flags=(-seed=1 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1)

# The Swift runtime's own crash backtracer fights ASan and libFuzzer for the signal; let
# libFuzzer report crashes.
export SWIFT_BACKTRACE=enable=no

targets() {
    local file
    for file in "$fuzz_dir"/Targets/*.swift; do basename "$file" .swift; done
}

# The files that make up one target's module besides the target: Sources/VelocyPack as it is,
# the other library modules as staged by stage_sources.
library_sources() {
    find "${library_dirs[0]}" -name '*.swift' | LC_ALL=C sort
    find "$staged_dir" -name '*.swift' | LC_ALL=C sort
    find "$fuzz_dir/Support" -name '*.swift' | LC_ALL=C sort
}

# Everything is one module, so an `import VelocyPack` (or `import Raft`, `import Storage`) in a
# higher module would name a module that does not exist. Copies the files of every library
# module but the first into $staged_dir with such import lines turned into comments; nothing else changes, so line
# numbers in diagnostics and crash backtraces are those of the original file.
stage_sources() {
    rm -rf "$staged_dir"
    local dir file
    for dir in "${library_dirs[@]:1}"; do
        while IFS= read -r file; do stage_file "$file"; done < <(find "$dir" -name '*.swift' | LC_ALL=C sort)
    done
    for file in "${pure_paths[@]}"; do stage_file "$file"; done
}

# Copies one file below Sources/ into $staged_dir, imports of the modules that are part of
# the one fuzz module commented out.
stage_file() {
    local file="$1" relative="${1#"$root/Sources/"}"
    mkdir -p "$staged_dir/$(dirname "$relative")"
    awk '
        /^[ \t]*(@_exported[ \t]+)?((public|package|internal)[ \t]+)?import[ \t]+(VelocyPack|ArangoAPI|BinaryFormat|Replication|Raft|Storage|TesseraPlatform)[ \t]*$/ {
            print "// " $0 "  -- removed by Fuzz/run.sh: one module in the fuzz build"
            next
        }
        { print }
    ' "$file" >"$staged_dir/$relative"
}

# Drops the harmless ld.gold warnings about exporting local symbols.
filter_linker_noise() {
    grep -v -e 'Cannot export local symbol' -e '^$' || true
}

# True when the binary is missing or older than a source, the target file or this script.
needs_build() {
    local binary="$build_dir/$1"
    [[ ! -x "$binary" ]] && return 0
    [[ -n "$(find "${library_dirs[@]}" "${pure_paths[@]}" "$root/Sources/CTextScan" "$fuzz_dir/Support" "$fuzz_dir/Targets/$1.swift" "$fuzz_dir/run.sh" \
        -newer "$binary" \( -name '*.swift' -o -name '*.h' -o -name run.sh \) -print -quit)" ]]
}

build_one() {
    local target="$1"
    local log="$build_dir/$target.build.log"
    local -a sources
    mapfile -t sources < <(library_sources)
    local status=0
    timeout --kill-after=10 "$build_seconds_max" \
        swiftc -sanitize=fuzzer,address -parse-as-library -O -g \
        -swift-version 6 -package-name TesseraFuzz \
        -enable-upcoming-feature ExistentialAny -enable-upcoming-feature InternalImportsByDefault \
        -module-name "$target" -module-cache-path "$build_dir/module-cache" \
        -I "$root/Sources/CHTTPParser" -lhttp_parser -I "$root/Sources/CTextScan/include" \
        "${sources[@]}" "$fuzz_dir/Targets/$target.swift" \
        -o "$build_dir/$target.partial" >"$log.raw" 2>&1 || status=$?
    filter_linker_noise <"$log.raw" >"$log"
    rm -f "$log.raw"
    if [[ $status -ne 0 ]]; then
        echo "build of $target failed (exit $status):" >&2
        head -60 "$log" >&2
        rm -f "$build_dir/$target.partial"
        return 1
    fi
    mv "$build_dir/$target.partial" "$build_dir/$target"
    [[ -s "$log" ]] && cat "$log"
    return 0
}

# Builds the given targets (all by default) in parallel, two at a time.
build() {
    local -a wanted=("$@")
    [[ ${#wanted[@]} -eq 0 ]] && mapfile -t wanted < <(targets)
    mkdir -p "$build_dir"
    stage_sources
    local started=$SECONDS failed=0 target
    local -a pids=() names=()
    for target in "${wanted[@]}"; do
        if [[ ${#pids[@]} -ge 2 ]]; then
            wait "${pids[0]}" || failed=1
            pids=("${pids[@]:1}")
        fi
        echo "building $target"
        build_one "$target" &
        pids+=($!)
    done
    for target in "${pids[@]}"; do wait "$target" || failed=1; done
    [[ $failed -ne 0 ]] && { echo "build failed" >&2; return 1; }
    echo "built ${#wanted[@]} target(s) in $((SECONDS - started)) s into $build_dir"
}

build_if_needed() {
    local -a stale=() target
    for target in "$@"; do needs_build "$target" && stale+=("$target"); done
    [[ ${#stale[@]} -eq 0 ]] && return 0
    build "${stale[@]}"
}

# Copies the committed seeds (not the crash-* reproducers of open bugs) and, when present,
# the golden vectors into the target's corpus directory: the VelocyPack bytes ("hex") for
# the validator, the JSON texts ("json") for the parser, the VST streams ("stream", behind
# the control byte that names their version) for the VST decoder, the messages ("hex" and
# "body") for the VST header readers, the replication messages and refusals (behind the mode
# byte that picks their decoder) for FuzzReplicationMessage; valid and invalid ones alike.
prepare_corpus() {
    local target="$1" corpus="$work_dir/$1"
    mkdir -p "$corpus"
    if [[ -d "$seeds_dir/$target" ]]; then
        find "$seeds_dir/$target" -maxdepth 1 -type f ! -name 'crash-*' -exec cp {} "$corpus/" \;
    fi
    local field
    local -a files
    case "$target" in
        FuzzValidator) field=hex; files=("$vectors_dir/valid.jsonl" "$vectors_dir/invalid.jsonl") ;;
        FuzzJSONParser) field=json; files=("$vectors_dir/valid.jsonl" "$vectors_dir/json-invalid.jsonl") ;;
        FuzzVSTDecoder) field=stream; files=("$vst_vectors_dir/streams.jsonl") ;;
        FuzzVSTHeader) field=hex+body; files=("$vst_vectors_dir/headers.jsonl") ;;
        FuzzReplicationMessage) field=message+hex; files=("$replication_vectors_dir/messages.jsonl" "$replication_vectors_dir/refusals.jsonl") ;;
        *) return 0 ;;
    esac
    python3 - "$corpus" "$field" "${files[@]}" <<'PYTHON'
import json, os, sys
corpus, field, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
for path in paths:
    if not os.path.isfile(path):
        continue
    stem = os.path.basename(path).removesuffix(".jsonl")
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                vector = json.loads(line)
            except ValueError:
                continue
            if not isinstance(vector, dict):
                continue
            try:
                if field == "json":
                    data = vector["json"].encode("utf-8", "surrogatepass")
                elif field == "stream":  # FuzzVSTDecoder: control byte 0 (1.1) or 1 (1.0), then the stream
                    data = bytes([vector["version"] == "1.0"]) + bytes.fromhex(vector["stream"])
                elif field == "message+hex":  # FuzzReplicationMessage: the mode byte that picks the decoder
                    decoders = {"ApplyBatch": 0, "ApplyAnswer": 1, "ResyncBegin": 2, "ResyncSnapshot": 3, "RangeFetch": 4,
                                "RangeDocuments": 5, "StreamStart": 6, "RevisionList": 0x10, "DocumentFetch": 0x11}
                    data = bytes([decoders[vector["message"]]]) + bytes.fromhex(vector["hex"])
                elif field == "hex+body":
                    data = bytes.fromhex(vector["hex"]) + bytes.fromhex(vector.get("body", ""))
                else:
                    data = bytes.fromhex("".join(vector[field].split()))
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            with open(f"{corpus}/vector-{stem}-{number:04d}", "wb") as out:
                out.write(data)
PYTHON
}

# Runs one target for SECONDS; prints exec/s, and on a crash the input path and message.
run_target() {
    local target="$1" seconds="$2"
    shift 2
    local corpus="$work_dir/$target" artifacts="$work_dir/artifacts/$target"
    local log="$work_dir/$target.log"
    mkdir -p "$artifacts"
    local status=0
    timeout --kill-after=10 "$((seconds + run_grace_seconds))" \
        "$build_dir/$target" "${libfuzzer_flags[@]}" -max_total_time="$seconds" \
        -artifact_prefix="$artifacts/" "$@" "$corpus" >"$log" 2>&1 || status=$?
    local runs rate
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    if [[ $status -eq 0 ]]; then
        printf '  %-22s ok     %9s runs  %7s exec/s  corpus %s files\n' \
            "$target" "${runs:-?}" "${rate:-?}" "$(find "$corpus" -type f | wc -l)"
        return 0
    fi
    printf '  %-22s FAILED (exit %s) after %s runs; log: %s\n' "$target" "$status" "${runs:-?}" "$log"
    grep -m 5 -e 'Fatal error' -e 'ERROR:' -e 'property violated' -e 'SUMMARY' "$log" | sed 's/^/    /' || true
    local input
    input="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
    if [[ -n "$input" && -f "$input" ]]; then
        echo "    crash input: $input"
        echo "    hex: $(head -c 512 "$input" | od -An -v -tx1 | tr -d ' \n')"
        echo "    reproduce: Fuzz/run.sh build && Fuzz/build/$target $input"
    elif [[ $status -eq 124 || $status -eq 137 ]]; then
        echo "    killed after $((seconds + run_grace_seconds)) s (hang outside libFuzzer's -timeout)"
    fi
    return 1
}

smoke() {
    local seconds="${1:-$smoke_seconds_default}"
    local -a all
    mapfile -t all < <(targets)
    build_if_needed "${all[@]}"
    local started=$SECONDS failed=0 target
    echo "smoke: ${seconds} s per target, seed 1"
    for target in "${all[@]}"; do
        rm -rf "${work_dir:?}/$target" "$work_dir/artifacts/$target"
        prepare_corpus "$target"
        run_target "$target" "$seconds" || failed=1
    done
    echo "smoke took $((SECONDS - started)) s"
    return $failed
}

run_long() {
    local target="${1:?usage: Fuzz/run.sh run TARGET [SECONDS] [LIBFUZZER FLAGS...]}"
    [[ -f "$fuzz_dir/Targets/$target.swift" ]] || { echo "no target $target; have: $(targets | tr '\n' ' ')" >&2; return 2; }
    local seconds="${2:-$run_seconds_default}"
    shift $(( $# >= 2 ? 2 : 1 ))
    build_if_needed "$target"
    prepare_corpus "$target"
    run_target "$target" "$seconds" "$@"
}

# Runs every saved crash-* input with FUZZ_STRICT=1 (no waivers) and the -timeout of the
# fuzzing runs, so a saved slow input counts as failing; reports which still fail.
repro() {
    local -a all
    mapfile -t all < <(targets)
    build_if_needed "${all[@]}"
    local open=0 target input
    for target in "${all[@]}"; do
        for input in "$seeds_dir/$target"/crash-*; do
            [[ -f "$input" ]] || continue
            if FUZZ_STRICT=1 timeout --kill-after=10 120 "$build_dir/$target" -rss_limit_mb=2048 -timeout=10 "$input" \
                >"$work_dir/repro.log" 2>&1; then
                echo "  fixed       $target/$(basename "$input")"
            else
                open=1
                echo "  still fails $target/$(basename "$input"):"
                grep -m 2 -e 'property violated' -e 'SUMMARY' "$work_dir/repro.log" | cut -c1-200 | sed 's/^/      /' || true
            fi
        done
    done
    return $open
}

mkdir -p "$work_dir"
case "${1:-}" in
    build) shift; build "$@" ;;
    smoke) smoke "${2:-$smoke_seconds_default}" ;;
    run) shift; run_long "$@" ;;
    repro) repro ;;
    *)
        sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
