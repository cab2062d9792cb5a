#!/usr/bin/env python3
"""SMTP load client for the proxy's load test: many real sessions, bounded.

Runs SESSIONS complete SMTP sessions (greeting, EHLO, MAIL, RCPT, DATA with a
body of about SIZE bytes, QUIT) against TARGET, at most CONCURRENCY at once,
and prints one JSON object: how many completed, the wall time, sessions per
second, and latency percentiles in milliseconds — of whole sessions and of
single command round trips (command sent to reply line read). Each session's
sender is `load-TAG-N@example.org`, so the server's records tell which
arrived. Every step has a timeout; the run as a whole stops after --deadline.

Usage: load.py --target 127.0.0.1:2525 --sessions 2000 --concurrency 200 --tag run1
"""

import argparse
import asyncio
import json
import sys
import time


async def reply(reader):
    """Reads one SMTP reply (all its lines); returns its code."""
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed while waiting for a reply")
        if len(line) < 4 or line[3:4] != b"-":
            return line[:3].decode("ascii", "replace")


async def command(reader, writer, line, expect, rtts):
    started = time.perf_counter()
    writer.write(line)
    await writer.drain()
    code = await reply(reader)
    rtts.append(time.perf_counter() - started)
    if code != expect:
        raise ValueError(f"{line[:20]!r}: expected {expect}, got {code}")


async def session(host, port, n, tag, body, rtts, step_timeout):
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), step_timeout)
    try:
        async def run():
            if await reply(reader) != "220":
                raise ValueError("no 220 greeting")
            await command(reader, writer, b"EHLO load.example\r\n", "250", rtts)
            await command(reader, writer, f"MAIL FROM:<load-{tag}-{n}@example.org>\r\n".encode(), "250", rtts)
            await command(reader, writer, b"RCPT TO:<sink@example.com>\r\n", "250", rtts)
            await command(reader, writer, b"DATA\r\n", "354", rtts)
            await command(reader, writer, body + b".\r\n", "250", rtts)
            await command(reader, writer, b"QUIT\r\n", "221", rtts)
        await asyncio.wait_for(run(), step_timeout)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index] * 1000.0


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--tag", default="run")
    parser.add_argument("--step-timeout", type=float, default=30.0)
    parser.add_argument("--deadline", type=float, default=300.0)
    args = parser.parse_args()
    host, port = args.target.rsplit(":", 1)
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n"
    body = b"Subject: load\r\n\r\n" + line * max(1, args.size // len(line))

    gate = asyncio.Semaphore(args.concurrency)
    durations, rtts, errors = [], [], []

    async def one(n):
        async with gate:
            started = time.perf_counter()
            try:
                await session(host, int(port), n, args.tag, body, rtts, args.step_timeout)
                durations.append(time.perf_counter() - started)
            except Exception as err:  # every failure is counted and reported
                errors.append(f"{n}: {type(err).__name__}: {err}")

    started = time.perf_counter()
    tasks = [asyncio.ensure_future(one(n)) for n in range(args.sessions)]
    done, pending = await asyncio.wait(tasks, timeout=args.deadline)
    for task in pending:
        task.cancel()
    wall = time.perf_counter() - started
    result = {
        "sessions": args.sessions,
        "completed": len(durations),
        "failed": len(errors) + len(pending),
        "errors": errors[:5],
        "wall_s": round(wall, 3),
        "sessions_per_s": round(len(durations) / wall, 1) if wall > 0 else None,
        "session_ms_p50": percentile(durations, 50),
        "session_ms_p99": percentile(durations, 99),
        "rtt_ms_p50": percentile(rtts, 50),
        "rtt_ms_p99": percentile(rtts, 99),
    }
    print(json.dumps(result), flush=True)
    return 0 if not errors and not pending else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
