#!/usr/bin/env python3
"""A real SMTP server for the proxy's live tests: aiosmtpd, recording what it sees.

Listens on 127.0.0.1:PORT (0 picks a free port) and prints `listening on PORT`
once it accepts connections. Every MAIL FROM and RCPT TO it receives is
appended to the log file as it arrives (`MAIL <address>` / `RCPT <address>`),
so a test can check that a command never reached it. Every accepted message
appends one JSON line to `envelopes.jsonl` in the store directory: sender,
recipients, size and SHA-256 of the content as aiosmtpd stores it
(dot-unstuffed, CRLF line endings, ending with the last line's CRLF); with
--keep-content the content itself goes to `<n>.eml` beside it.

The server runs until SIGINT/SIGTERM or until its stdin closes (a test holds
the other end of the pipe, so the server cannot outlive it).

Usage: smtp_server.py --store DIR [--port PORT] [--keep-content]
"""

import argparse
import asyncio
import hashlib
import json
import logging
import os
import signal
import sys

from aiosmtpd.smtp import SMTP


class Recorder:
    """An aiosmtpd handler writing what the server sees to the store."""

    def __init__(self, store, keep_content):
        self.store = store
        self.keep_content = keep_content
        self.count = 0
        self.log = open(os.path.join(store, "commands.log"), "a", buffering=1)
        self.envelopes = open(os.path.join(store, "envelopes.jsonl"), "a", buffering=1)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.log.write(f"MAIL {address}\n")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.log.write(f"RCPT {address}\n")
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or b""
        self.count += 1
        if self.keep_content:
            with open(os.path.join(self.store, f"{self.count}.eml"), "wb") as out:
                out.write(content)
        record = {
            "n": self.count,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
        self.envelopes.write(json.dumps(record) + "\n")
        return "250 Message accepted for delivery"


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--keep-content", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.store, exist_ok=True)
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)

    handler = Recorder(args.store, args.keep_content)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        # A fixed hostname: aiosmtpd would otherwise resolve the FQDN per session.
        lambda: SMTP(handler, hostname="mx.test", data_size_limit=64 * 1024 * 1024),
        host="127.0.0.1",
        port=args.port,
        backlog=1024,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"listening on {port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stdin_closed = loop.run_in_executor(None, sys.stdin.buffer.read)
    await asyncio.wait(
        [asyncio.ensure_future(stop.wait()), stdin_closed],
        return_when=asyncio.FIRST_COMPLETED,
    )
    server.close()
    os._exit(0)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
