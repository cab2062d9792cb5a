#!/usr/bin/env python3
"""Runs one command and appends `WALL CPU PEAK_KB OTHERS` as a line to OUT.

Usage: timeit.py OUT COMMAND [ARG...]

WALL is the elapsed time in seconds (a monotonic clock read just before the
start and just after the end), CPU the user + system seconds of the command
and everything it waited for (the kernel's accounting, to the microsecond),
PEAK_KB its peak resident memory as `/usr/bin/time -f %M` reports it (the
command runs under /usr/bin/time). OTHERS is how many cores, on average over
the run, were busy with anything else than the command: the machine's busy
time from /proc/stat (user, nice, system, irq, softirq, steal) over the run,
less the command's CPU, divided by WALL (a load figure for the very seconds
measured, coarse for runs under a second: /proc/stat counts 10 ms ticks).
The command's standard output and error are inherited. The exit status is
the command's; a command that did not finish normally (killed by `timeout`,
a signal, an error) writes `nan nan nan nan` instead.
"""
import os
import subprocess
import sys
import time


def busy_seconds() -> float:
    """Seconds of CPU the whole machine spent busy since boot (all cores)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return float("nan")
    # cpu user nice system idle iowait irq softirq steal guest guest_nice
    ticks = [int(x) for x in fields[1:]]
    busy = ticks[0] + ticks[1] + ticks[2] + sum(ticks[5:8])
    return busy / os.sysconf("SC_CLK_TCK")


def main() -> int:
    out, command = sys.argv[1], sys.argv[2:]
    peak_file = out + ".peak"
    busy_before = busy_seconds()
    start = time.perf_counter()
    child = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", peak_file, *command])
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    busy_after = busy_seconds()
    code = os.waitstatus_to_exitcode(status)
    try:
        with open(peak_file) as f:
            lines = f.read().split()
        peak = lines[-1] if lines and lines[-1].isdigit() else "nan"
        os.remove(peak_file)
    except OSError:
        peak = "nan"
    cpu = usage.ru_utime + usage.ru_stime
    others = max(0.0, busy_after - busy_before - cpu) / max(wall, 1e-9)
    # 0: success; 2: protoc-rs read a damaged capture up to the damage.
    # 124: stopped by `timeout`; other codes: the command failed.
    ok = code in (0, 2) and peak != "nan"
    with open(out, "a") as f:
        if ok:
            f.write(f"{wall:.6f} {cpu:.6f} {peak} {others:.2f}\n")
        else:
            f.write("nan nan nan nan\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
