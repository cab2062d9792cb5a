#!/usr/bin/env bash
# `--threads 2` against one thread on one capture, in quiet moments only.
#
# Usage: bench/threads.sh CAPTURE [ROUNDS]     (env: BIN, MODE=json|full|both, QUIET, QUIET_WAIT)
#
# Each round waits (up to QUIET_WAIT seconds, default 60) for a second in
# which other processes kept less than QUIET cores busy (default 0.15, from
# /proc/stat), then runs, back to back, `protoc-rs pcap CAPTURE` with one
# thread and with `--threads 2` (json: `--format json`; full: also both rule
# files and `--extract-dir` on /dev/shm), each through bench/timeit.py. It
# prints every run (wall s, CPU s, peak KiB, others: the cores other
# processes kept busy during it), then per mode the runs whose `others` is
# lowest: the speed-up (one thread's wall over two threads') and the CPU
# ratio (two threads' CPU over one thread's), from the quietest pair of
# each kind, and from the medians of the runs with others < QUIET.
# The machine is shared: a run next to another busy process measures the
# sharing, not protoc-rs; `others` says which runs to trust.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CAP=${1:?usage: bench/threads.sh CAPTURE [ROUNDS]}
ROUNDS=${2:-5}
BIN=${BIN:-$ROOT/target/release/protoc-rs}
MODE=${MODE:-both}
QUIET=${QUIET:-0.15}
QUIET_WAIT=${QUIET_WAIT:-60}
OUT=$(mktemp -d /dev/shm/threads-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
wait_quiet() {
    local hz deadline=$((SECONDS + QUIET_WAIT)) b0 b1
    hz=$(getconf CLK_TCK)
    while [ $SECONDS -lt $deadline ]; do
        b0=$(busy); sleep 1; b1=$(busy)
        if awk -v d=$((b1 - b0)) -v hz="$hz" -v q="$QUIET" 'BEGIN{exit !(d/hz < q)}'; then
            return 0
        fi
    done
    echo "(no quiet second in ${QUIET_WAIT}s: measuring anyway)" >&2
}

modes=(json full)
[ "$MODE" != both ] && modes=("$MODE")
for round in $(seq "$ROUNDS"); do
    for mode in "${modes[@]}"; do
        wait_quiet
        for threads in 1 2; do
            args=(pcap "$CAP" --format json --threads "$threads")
            if [ "$mode" = full ]; then
                rm -rf "$OUT/mails"
                args+=(--rules "$ROOT/rules/spam_filter.rules" --rules "$ROOT/rules/mail_content.rules"
                    --extract-dir "$OUT/mails")
            fi
            python3 "$ROOT/bench/timeit.py" "$OUT/$mode.t$threads" "$BIN" "${args[@]}" \
                >/dev/null 2>"$OUT/stderr" || { cat "$OUT/stderr" >&2; exit 1; }
        done
    done
    echo "round $round done ($(uptime | sed 's/.*load/load/'))" >&2
done

for mode in "${modes[@]}"; do
    python3 - "$OUT/$mode.t1" "$OUT/$mode.t2" "$mode" "$QUIET" <<'EOF'
import statistics, sys
def runs(path):
    rows = [tuple(map(float, line.split())) for line in open(path) if "nan" not in line]
    return rows  # (wall, cpu, peak_kb, others)
one, two, mode, quiet = runs(sys.argv[1]), runs(sys.argv[2]), sys.argv[3], float(sys.argv[4])
print(f"== {mode}: wall s, cpu s, peak KiB, others (cores busy elsewhere)")
for name, rows in (("1 thread ", one), ("2 threads", two)):
    for r in rows:
        print(f"  {name}  {r[0]:.3f}  {r[1]:.3f}  {r[2]:.0f}  {r[3]:.2f}")
q1 = min(one, key=lambda r: (r[3], r[0]))
q2 = min(two, key=lambda r: (r[3], r[0]))
print(f"  quietest: 1 thread {q1[0]:.3f} s (cpu {q1[1]:.3f}, others {q1[3]:.2f}); "
      f"2 threads {q2[0]:.3f} s (cpu {q2[1]:.3f}, others {q2[3]:.2f}): "
      f"speed-up {q1[0]/q2[0]:.2f}x, cpu ratio {q2[1]/q1[1]:.2f}")
c1 = [r for r in one if r[3] < quiet]
c2 = [r for r in two if r[3] < quiet]
if c1 and c2:
    w1, w2 = statistics.median(r[0] for r in c1), statistics.median(r[0] for r in c2)
    p1, p2 = statistics.median(r[1] for r in c1), statistics.median(r[1] for r in c2)
    print(f"  medians of runs with others < {quiet} ({len(c1)} and {len(c2)} runs): "
          f"1 thread {w1:.3f} s (cpu {p1:.3f}), 2 threads {w2:.3f} s (cpu {p2:.3f}): "
          f"speed-up {w1/w2:.2f}x, cpu ratio {p2/p1:.2f}")
else:
    print(f"  no run pair with others < {quiet}")
EOF
done
