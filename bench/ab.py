#!/usr/bin/env python3
"""Interleaved A/B runs: several commands run in turn, ROUNDS times, then the
medians of each one's wall time, user and system CPU and minor page faults.

Usage: ab.py ROUNDS 'LABEL=[VAR=VALUE ...] COMMAND [ARG...]' ...

Example (one thread against two, and two pinned to one core):

    bench/ab.py 8 "t1=target/release/protoc-rs pcap CAP --format json" \\
        "t2=target/release/protoc-rs pcap CAP --format json --threads 2" \\
        "t2one=taskset -c 0 target/release/protoc-rs pcap CAP --format json --threads 2"

Each command's output is discarded. Taking the commands in turn spreads the
machine's slow minutes over all of them; CPU times come from the kernel's
accounting of the finished process (`wait4`, to the microsecond), so they
split user from system time, which `bench/timeit.py` (one number) does not.
Leading `VAR=VALUE` words set the command's environment.
"""
import os
import shlex
import statistics
import subprocess
import sys
import time


def parse(spec: str):
    """`LABEL=VAR=VALUE ... COMMAND ARG...` -> (label, environment, argv)."""
    label, _, command = spec.partition("=")
    words = shlex.split(command)
    env = dict(os.environ)
    while words and "=" in words[0] and not words[0].startswith(("/", ".")):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if not words:
        sys.exit(f"ab.py: no command in {spec!r}")
    return label, env, words


def run(env, argv):
    """One run: (wall s, user s, system s, minor faults), or None if it failed."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        return None
    return wall, usage.ru_utime, usage.ru_stime, usage.ru_minflt


def main():
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    commands = [parse(spec) for spec in sys.argv[2:]]
    results = {label: [] for label, _, _ in commands}
    for _ in range(rounds):
        for label, env, argv in commands:
            measured = run(env, argv)
            if measured is None:
                sys.exit(f"ab.py: {label} failed: {shlex.join(argv)}")
            results[label].append(measured)
    print(f"medians of {rounds} runs (ms): wall, user, system, cpu; minor faults; fastest wall")
    for label, runs in results.items():
        med = [statistics.median(r[k] for r in runs) for k in range(4)]
        cpu = statistics.median(r[1] + r[2] for r in runs)
        fastest = min(r[0] for r in runs)
        print(f"{label:12} wall {med[0] * 1e3:8.1f}  user {med[1] * 1e3:7.1f}  sys {med[2] * 1e3:6.1f}"
              f"  cpu {cpu * 1e3:8.1f}  faults {med[3]:7.0f}  fastest {fastest * 1e3:7.1f}")


if __name__ == "__main__":
    main()
