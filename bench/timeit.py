#!/usr/bin/env python3
"""Runs one command and prints `WALL CPU PEAK_KB` on the last line of OUT.

Usage: timeit.py OUT COMMAND [ARG...]

WALL is the elapsed time in seconds (a monotonic clock read just before the
start and just after the end), CPU the user + system seconds of the command
and everything it waited for (the kernel's accounting, to the microsecond),
PEAK_KB its peak resident memory as `/usr/bin/time -f %M` reports it (the
command runs under /usr/bin/time). The command's standard output and error
are inherited. The exit status is the command's; a command that did not
finish normally (killed by `timeout`, a signal, an error) writes `nan nan
nan` instead.
"""
import os
import subprocess
import sys
import time


def main() -> int:
    out, command = sys.argv[1], sys.argv[2:]
    peak_file = out + ".peak"
    start = time.perf_counter()
    child = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", peak_file, *command])
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    try:
        with open(peak_file) as f:
            lines = f.read().split()
        peak = lines[-1] if lines and lines[-1].isdigit() else "nan"
        os.remove(peak_file)
    except OSError:
        peak = "nan"
    cpu = usage.ru_utime + usage.ru_stime
    # 124: stopped by `timeout`; other codes: the command failed.
    ok = code in (0, 2) and peak != "nan"
    with open(out, "a") as f:
        if ok:
            f.write(f"{wall:.6f} {cpu:.6f} {peak}\n")
        else:
            f.write("nan nan nan\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
