#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target of fuzz/ and runs each for a
# few seconds, starting from its committed seeds (fuzz/corpus/<target>/) and
# its regression inputs (fuzz/regressions/<target>/, every one of which runs
# first). Exits non-zero as soon as a target crashes, hangs (-timeout) or
# allocates too much (-malloc_limit_mb, -rss_limit_mb); the input that did it
# is kept under fuzz/work/smoke/artifacts/<target>/.
#
# Usage: scripts/fuzz-smoke.sh [SECONDS_PER_TARGET]     (default 20)
# Environment: FUZZ_TARGET_DIR  cargo target directory (default fuzz/target)
#              FUZZ_TARGETS     targets to run (default: all, `cargo fuzz list`)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). The machine's toolchain is
# stable: RUSTC_BOOTSTRAP=1 lets it take the -Z flags cargo-fuzz passes.
set -euo pipefail

seconds=${1:-20}
case $seconds in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2
    exit 2
fi
export RUSTC_BOOTSTRAP=1
target_dir=()
if [[ -n ${FUZZ_TARGET_DIR:-} ]]; then
    target_dir=(--target-dir "$FUZZ_TARGET_DIR")
fi

started=$(date +%s)
echo "fuzz-smoke: building the targets"
cargo fuzz build "${target_dir[@]}"
built=$(date +%s)
echo "fuzz-smoke: built in $((built - started)) s"

targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
work="$root/fuzz/work/smoke"
failed=()
for target in $targets; do
    corpus="$work/corpus/$target"
    artifacts="$work/artifacts/$target/"
    rm -rf "$corpus" "$artifacts"
    mkdir -p "$corpus" "$artifacts" "corpus/$target" "regressions/$target"
    log="$work/$target.log"
    echo "fuzz-smoke: $target for ${seconds} s (log: $log)"
    # The first directory receives new inputs; seeds and regressions are read only.
    if cargo fuzz run "${target_dir[@]}" "$target" "$corpus" "corpus/$target" "regressions/$target" -- \
        -max_total_time="$seconds" -timeout=10 -malloc_limit_mb=512 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)' "$log" |
            sed "s/^/  $target: /"
    else
        echo "fuzz-smoke: $target FAILED; the input that did it:" >&2
        ls "$artifacts" >&2 || true
        grep -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" | head -5 >&2 || true
        failed+=("$target")
    fi
done

echo "fuzz-smoke: done in $(($(date +%s) - started)) s"
if ((${#failed[@]} > 0)); then
    echo "fuzz-smoke: failed: ${failed[*]}" >&2
    exit 1
fi
