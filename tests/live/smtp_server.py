#!/usr/bin/env python3
"""The real SMTP server of the live tests: aiosmtpd, storing what it receives.

Usage: smtp_server.py --store DIR [--keep-content] [--extensions CERT KEY]

Listens on 127.0.0.1, on a free port the kernel picks, and prints
`listening on PORT` once it accepts connections. It writes in DIR:

- `commands.log`: every MAIL FROM and RCPT TO as it arrives (`MAIL <address>`
  / `RCPT <address>`), so a test can check that a command never reached it;
- `envelopes.jsonl`: one JSON line per accepted mail, appended in one write
  once the mail is stored: `n` (1, 2, ... in order of arrival), `peer_port`
  (the client's port), `mail_from`, `rcpt_tos`, and `size` and `sha256` of
  the content as aiosmtpd keeps it (`envelope.original_content`:
  dot-stuffing undone, the end-of-data line removed, the last line's CRLF
  kept);
- with --keep-content, that content as `NNN.eml` (`001.eml` for `n` 1),
  written to a temporary name and renamed before its envelope line, so a
  reader never sees half a mail.

With --extensions CERT KEY it offers, on top of aiosmtpd's own commands:

- PIPELINING, advertised in the EHLO reply (aiosmtpd reads commands line by
  line, so groups of commands sent before any reply are served in order);
- AUTH PLAIN and LOGIN (aiosmtpd's) and CRAM-MD5 (below), without TLS, for
  the user `alice` with the password `secret`;
- STARTTLS with the certificate CERT and its key KEY.

The server runs until SIGINT or SIGTERM, or until its stdin closes (a test
holds the other end of the pipe, so the server cannot outlive it).
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import logging
import os
import signal
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

USER = b"alice"
PASSWORD = b"secret"


class Store:
    """aiosmtpd handler: writes what the server receives into the store."""

    def __init__(self, store, keep_content):
        self.store = store
        self.keep_content = keep_content
        self.received = 0
        self.commands = open(os.path.join(store, "commands.log"), "a", buffering=1)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        self.envelopes = os.open(os.path.join(store, "envelopes.jsonl"), flags, 0o644)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.commands.write("MAIL %s\n" % address)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.commands.write("RCPT %s\n" % address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or b""
        self.received += 1
        if self.keep_content:
            name = "%03d.eml" % self.received
            temporary = os.path.join(self.store, "." + name + ".part")
            with open(temporary, "wb") as out:
                out.write(content)
            os.rename(temporary, os.path.join(self.store, name))
        record = {
            "n": self.received,
            "peer_port": session.peer[1],
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
        os.write(self.envelopes, (json.dumps(record) + "\n").encode())
        return "250 Message accepted for delivery"


class StoreWithExtensions(Store):
    """Store, plus PIPELINING in the EHLO reply and AUTH CRAM-MD5."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        # aiosmtpd's lines are `250-...` but the last `250 ...`.
        return responses[:1] + ["250-PIPELINING"] + responses[1:]

    # aiosmtpd names the mechanism after the method, `__` standing for `-`.
    async def auth_CRAM__MD5(self, server, args):
        challenge = ("<%d.%d@mx.test>" % (os.getpid(), time.time_ns())).encode()
        response = await server.challenge_auth(challenge)
        if not isinstance(response, bytes) or b" " not in response:
            return AuthResult(success=False, handled=False)
        user, digest = response.rsplit(b" ", 1)
        expected = hmac.new(PASSWORD, challenge, "md5").hexdigest().encode()
        ok = user == USER and hmac.compare_digest(digest, expected)
        return AuthResult(success=ok, auth_data=user)


def authenticate(server, session, envelope, mechanism, auth_data):
    """PLAIN and LOGIN: aiosmtpd decodes the login and password."""
    if isinstance(auth_data, LoginPassword):
        ok = auth_data.login == USER and auth_data.password == PASSWORD
        return AuthResult(success=ok)
    return AuthResult(success=False, handled=False)


def smtp_factory(args):
    """What makes one SMTP session: the plain server or the one with extensions."""
    # A fixed hostname: aiosmtpd would otherwise resolve the FQDN per session.
    options = {"hostname": "mx.test", "data_size_limit": 64 * 1024 * 1024}
    if args.extensions is None:
        handler = Store(args.store, args.keep_content)
    else:
        cert, key = args.extensions
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        handler = StoreWithExtensions(args.store, args.keep_content)
        options.update(
            tls_context=tls, authenticator=authenticate, auth_require_tls=False
        )
    return lambda: SMTP(handler, **options)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--keep-content", action="store_true")
    parser.add_argument("--extensions", nargs=2, metavar=("CERT", "KEY"))
    args = parser.parse_args()
    os.makedirs(args.store, exist_ok=True)
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        smtp_factory(args), host="127.0.0.1", port=0, backlog=1024
    )
    port = server.sockets[0].getsockname()[1]
    print("listening on %d" % port, flush=True)
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
