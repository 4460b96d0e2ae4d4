#!/bin/sh
# tests/fuzz/run.sh [SECONDS] [TARGET...] — build the libFuzzer targets with
# clang (-fsanitize=fuzzer,address,undefined) and run each for SECONDS
# (default 20). The library is built by the project's own CMake into
# build/fuzz with the fuzzer instrumentation (no CMakeLists.txt here); the
# targets link its static archive.
#
#   tests/fuzz/run.sh            # CI: 20 s per target
#   tests/fuzz/run.sh 3600       # the long run (an hour per target)
#   tests/fuzz/run.sh 60 config  # one target
#
# Seeds are tests/fuzz/corpus/<target>/ (read-only); what a run discovers
# goes to build/fuzz/corpus/<target>/ (reused by the next run). A crash
# leaves build/fuzz/<target>-crash-<sha1>; replay it with
#   build/fuzz/fuzz_<target> build/fuzz/<target>-crash-<sha1>
# Needs clang with the libFuzzer runtime (Debian: clang-14, libclang-rt-14-dev).
set -eu
secs=${1:-20}
[ $# -gt 0 ] && shift
targets=${*:-record config otlp otlp_in json_print}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build/fuzz
CC=${CC:-clang}
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"

cmake -S "$root" -B "$out" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER="$CC" \
  -DTB_BUILD_TESTS=OFF -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link $san" >/dev/null
cmake --build "$out" --target tracebox_static -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
libs="$(pkg-config --libs libcjson libprotobuf-c) -lsqlite3 -lcurl -lz -lpthread -lm"
status=0
# earlier runs' findings; each target's own are named <target>-crash-… so a
# later target does not take an earlier one's away
rm -f "$out"/*crash-* "$out"/*leak-* "$out"/*timeout-* "$out"/*oom-*
for t in $targets; do
  [ -f "$root/tests/fuzz/fuzz_$t.c" ] || { echo "no target $t" >&2; exit 2; }
  if [ "${t#otlp}" != "$t" ] && [ ! -d "$root/src/otlp" ]; then
    echo "fuzz_otlp: skipped (no src/otlp)"; continue
  fi
  $CC -fsanitize=fuzzer $san -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
    -I"$root/include" -I"$root/src" -I"$root/src/base" -I"$root/src/model" -I"$root/src/store" \
    -I"$root/src/ship" -I"$root/src/net" -I"$out/generated/otlp" \
    "$root/tests/fuzz/fuzz_$t.c" "$out/libtracebox.a" $libs -o "$out/fuzz_$t"
  mkdir -p "$out/corpus/$t"
  echo "== fuzz_$t: ${secs}s"
  # -rss_limit_mb: the record decoder takes 10 MiB records; -max_len keeps
  # inputs near real record sizes
  if ! (cd "$out" && ./"fuzz_$t" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=4096 \
        -artifact_prefix="$t-" \
        -print_final_stats=1 "corpus/$t" "$root/tests/fuzz/corpus/$t" 2>&1 |
        grep -E "^(#[0-9]+ +DONE|stat::|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)|Done "); then
    :
  fi
  # libFuzzer exits non-zero on a finding; the pipeline above hides that
  for f in "$out/$t"-crash-* "$out/$t"-leak-* "$out/$t"-timeout-* "$out/$t"-oom-*; do
    if [ -e "$f" ]; then
      echo "FINDING: $f (replay: $out/fuzz_$t $f)"; status=1
    fi
  done
done
exit $status
