#!/usr/bin/env bash
#
# scripts/fuzz.sh -- runs every cargo-fuzz target in fuzz/ for a while, one after the other.
#
# Usage:
#   ./scripts/fuzz.sh [SECONDS]        # SECONDS per target, default 600
#   FUZZ_TARGETS="tile osm" ./scripts/fuzz.sh 60    # only these targets
#
#   Each target starts from its corpus in fuzz/corpus/<target> and adds what it finds
#   there; a crash, a panic, a leak past libFuzzer's RSS limit (2 GiB, which also caps any
#   single allocation) or an input slower than 10 s is saved under
#   fuzz/artifacts/<target>/ and reported at the end (exit status 1). Reproduce one with
#   `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <artifact>`.
#   Before committing a grown corpus, shrink it:
#   `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz cmin <target>`.
#
# Needs cargo-fuzz (installed from crates.io when missing). cargo-fuzz passes nightly-only
# flags (-Zsanitizer=address, sanitizer coverage); RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them. Not part of scripts/test.sh: it takes minutes per target.
# Runs one fuzzing process at a time (libFuzzer -jobs=1); CARGO_BUILD_JOBS limits the build.
set -euo pipefail

seconds="${1:-600}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "usage: $0 [seconds per target, default 600]" >&2
  exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "== installing cargo-fuzz from crates.io"
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
echo "== building ${targets//$'\n'/ }"
for target in $targets; do
  cargo fuzz build "$target"
done

failed=()
for target in $targets; do
  mkdir -p "corpus/$target"
  before=$(find "corpus/$target" -type f | wc -l)
  echo "== $target: ${seconds} s from ${before} corpus inputs"
  log="$(mktemp)"
  if cargo fuzz run "$target" "corpus/$target" --jobs 1 -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      2>&1 | tee "$log" | grep -E '^#[0-9]+ +(DONE|pulse)|^(==|SUMMARY|Done)|stat::(number_of_executed_units|average_exec_per_sec)|panicked|Test unit written'; then
    :
  fi
  if grep -qE 'Test unit written|ERROR: libFuzzer|deadly signal' "$log"; then
    failed+=("$target")
  fi
  rm -f "$log"
  after=$(find "corpus/$target" -type f | wc -l)
  echo "== $target: corpus ${before} -> ${after} inputs"
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "== crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
echo "== no crashes in: ${targets//$'\n'/ }"
