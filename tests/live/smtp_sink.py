#!/usr/bin/env python3
"""A real SMTP server for the live capture test (tests/live_smtp.rs).

Usage: smtp_sink.py MAIL_DIR

Listens with aiosmtpd on 127.0.0.1, on a free port the kernel picks, and
prints `listening on PORT` on stdout once it accepts connections. Every mail
it receives is stored in MAIL_DIR as two files named after the order of
arrival and the client's port, `NNN-PORT`:

- `NNN-PORT.eml`: aiosmtpd's `envelope.original_content`, the raw bytes of
  the DATA section as the server keeps them (dot-stuffing undone, the
  end-of-data line `.` removed, the last line's CRLF kept);
- `NNN-PORT.json`: the envelope: `mail_from`, `rcpt_tos`, `peer_port`.

Each file is written to a temporary name and renamed, so a reader never sees
half a mail. The server runs until it is killed or its stdin closes.
"""

import asyncio
import json
import os
import sys

from aiosmtpd.smtp import SMTP


class StoreMails:
    """aiosmtpd handler: writes each mail of DATA into the mail directory."""

    def __init__(self, mail_dir):
        self.mail_dir = mail_dir
        self.received = 0

    async def handle_DATA(self, server, session, envelope):
        self.received += 1
        name = "%03d-%d" % (self.received, session.peer[1])
        self._write(name + ".eml", envelope.original_content)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "peer_port": session.peer[1],
        }
        self._write(name + ".json", json.dumps(meta).encode())
        return "250 OK stored as " + name

    def _write(self, name, data):
        temporary = os.path.join(self.mail_dir, "." + name + ".part")
        with open(temporary, "wb") as f:
            f.write(data)
        os.rename(temporary, os.path.join(self.mail_dir, name))


async def serve(mail_dir):
    loop = asyncio.get_running_loop()
    handler = StoreMails(mail_dir)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.test"), host="127.0.0.1", port=0
    )
    port = server.sockets[0].getsockname()[1]
    print("listening on %d" % port, flush=True)
    # Serve until stdin closes: the test holds the other end of the pipe, so
    # the server cannot outlive it, even if the test dies without killing it.
    await loop.run_in_executor(None, sys.stdin.buffer.read)
    server.close()


if __name__ == "__main__":
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        sys.exit("usage: smtp_sink.py MAIL_DIR (an existing directory)")
    asyncio.run(serve(sys.argv[1]))
