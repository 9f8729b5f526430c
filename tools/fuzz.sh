#!/usr/bin/env bash
# libFuzzer + AddressSanitizer over every parser of untrusted bytes (Sources/fuzz-tnt):
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      (default 60 s, every target)
#   FUZZ_RUNS=N tools/fuzz.sh 0 TARGET...                (N executions per target instead)
# protobuf-c is compiled from Debian's source package with coverage instrumentation and
# linked into the fuzz build only (it overrides the system libprotobuf-c there), so the
# fuzzer sees inside it. New corpus entries go to .build-fuzz/corpus/TARGET; the committed
# seeds are fuzz/corpus/TARGET; crashes are written to fuzz/crashes/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(frame messages png jpeg safetensors modeljson config)
scratch=.build-fuzz
mkdir -p "$scratch"

# protobuf-c 1.4.1 from Debian's source package, fetched through a private apt list.
src=$scratch/protobuf-c-src
if [ ! -f "$src/protobuf-c/protobuf-c.c" ]; then
    apt_dir=$PWD/$scratch/apt
    mkdir -p "$apt_dir/lists/partial"
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || echo http://deb.debian.org/debian)
    echo "deb-src $uri bookworm main" > "$apt_dir/sources.list"
    apt_opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$apt_dir/lists")
    apt-get "${apt_opts[@]}" update -qq
    (cd "$scratch" && apt-get "${apt_opts[@]}" source --download-only protobuf-c=1.4.1-1+b1 >/dev/null 2>&1 ||
        apt-get "${apt_opts[@]}" source --download-only protobuf-c >/dev/null)
    mkdir -p "$src"
    tar -xzf "$scratch"/protobuf-c_*.orig.tar.gz -C "$src" --strip-components=1
fi
[ "$scratch/protobuf-c.o" -nt "$src/protobuf-c/protobuf-c.c" ] || clang -g -O1 -fsanitize=fuzzer-no-link,address -I"$src" -I"$src/protobuf-c" -c "$src/protobuf-c/protobuf-c.c" -o "$scratch/protobuf-c.o"

# SwiftPM's --sanitize=fuzzer links libFuzzer but leaves Swift code without coverage
# counters: they are asked for explicitly.
TNT_FUZZ_BUILD=1 swift build -c release --product fuzz-tnt --sanitize=fuzzer --sanitize=address -Xswiftc -DFUZZING \
    -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
    -Xlinker "$PWD/$scratch/protobuf-c.o" --scratch-path "$scratch"

summary=$scratch/summary-$(IFS=-; echo "${targets[*]}").md
printf '| target | seconds | executions | exec/s | cov | ft | crashes |\n|---|---:|---:|---:|---:|---:|---:|\n' > "$summary"
status=0
for target in "${targets[@]}"; do
    mkdir -p "$scratch/corpus/$target" "fuzz/crashes/$target"
    log=$scratch/$target.log
    touch "$log.start"
    max_len=4096
    case $target in png|jpeg) max_len=65536 ;; esac
    set +e
    TNT_FUZZ_TARGET=$target SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=1 "$scratch/release/fuzz-tnt" \
        -max_total_time="$seconds" -runs="${FUZZ_RUNS:--1}" -max_len=$max_len -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="fuzz/crashes/$target/" "$scratch/corpus/$target" "fuzz/corpus/$target" >"$log" 2>&1
    code=$?
    set -e
    runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
    rate=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log")
    cov=$( (grep -o 'cov: [0-9]*' "$log" || true) | tail -1 | awk '{print $2}')
    ft=$( (grep -o 'ft: [0-9]*' "$log" || true) | tail -1 | awk '{print $2}')
    crashes=$(find "fuzz/crashes/$target" -type f \( -name "crash-*" -o -name "leak-*" -o -name "timeout-*" -o -name "oom-*" \) -newer "$log.start" | wc -l)
    took=$(awk '/^Done [0-9]+ runs in/ {print $5}' "$log")
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$target" "${took:-$seconds}" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$crashes" >> "$summary"
    if [ $code -ne 0 ]; then status=1; echo "fuzz-tnt $target exited $code: see $log"; fi
done
cat "$summary"
exit $status
