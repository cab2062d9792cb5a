#!/usr/bin/env python3
"""A real SMTP server with the extensions real clients use, for the live half
of tests/smtp_real.rs: aiosmtpd, storing mails as `smtp_sink.py` does.

Usage: smtp_features.py MAIL_DIR CERT KEY

Listens on 127.0.0.1, on a free port the kernel picks, and prints
`listening on PORT` once it accepts connections. On top of aiosmtpd's own
commands it offers:

- PIPELINING: advertised in the EHLO reply (aiosmtpd reads commands line by
  line, so groups of commands sent before any reply are served in order);
- AUTH PLAIN and LOGIN (aiosmtpd's), and CRAM-MD5 (below), without TLS, for
  the user `alice` with the password `secret`;
- STARTTLS with the certificate CERT and its key KEY.

Every mail is stored in MAIL_DIR as `NNN-PORT.eml` (the content as the
server keeps it) and `NNN-PORT.json` (the envelope), by `smtp_sink.py`'s
handler. The server runs until its stdin closes.
"""

import asyncio
import base64
import hmac
import os
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtp_sink import StoreMails  # noqa: E402  (the path is set just above)

USER = b"alice"
PASSWORD = b"secret"


class FeatureMails(StoreMails):
    """smtp_sink's handler, plus PIPELINING in EHLO and AUTH CRAM-MD5."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        # aiosmtpd's lines are `250-...` but the last `250 ...`.
        return responses[:1] + ["250-PIPELINING"] + responses[1:]

    # aiosmtpd names the mechanism after the method, `__` standing for `-`.
    async def auth_CRAM__MD5(self, server, args):
        challenge = ("<%d.%d@features.test>" % (os.getpid(), time.time_ns())).encode()
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


async def serve(mail_dir, cert, key):
    loop = asyncio.get_running_loop()
    handler = FeatureMails(mail_dir)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="features.test",
            tls_context=tls,
            authenticator=authenticate,
            auth_require_tls=False,
        ),
        host="127.0.0.1",
        port=0,
    )
    port = server.sockets[0].getsockname()[1]
    print("listening on %d" % port, flush=True)
    await loop.run_in_executor(None, sys.stdin.buffer.read)
    server.close()


if __name__ == "__main__":
    if len(sys.argv) != 4 or not os.path.isdir(sys.argv[1]):
        sys.exit("usage: smtp_features.py MAIL_DIR CERT KEY")
    asyncio.run(serve(sys.argv[1], sys.argv[2], sys.argv[3]))
