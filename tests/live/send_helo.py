#!/usr/bin/env python3
"""A second real SMTP client for the live capture test (tests/live_smtp.rs).

Usage: send_helo.py PORT

Sends one mail to 127.0.0.1:PORT with Python's smtplib, introducing itself
with HELO rather than EHLO. smtplib writes its commands in lower case
(`helo`, `mail FROM:`, `rcpt TO:`, `data`, `quit`) and dot-stuffs the
content, so this also exercises the case-insensitive command table and the
unstuffing of a line that starts with a dot.
"""

import smtplib
import sys

MESSAGE = (
    b"Subject: sent by smtplib after HELO\r\n"
    b"\r\n"
    b"Hello from smtplib.\r\n"
    b".This line starts with a dot.\r\n"
)


def main(port):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        code, reply = client.helo("helo.client.test")
        if code != 250:
            sys.exit("HELO refused: %d %r" % (code, reply))
        refused = client.sendmail(
            "helo-sender@example.org", ["helo-rcpt@example.net"], MESSAGE
        )
        if refused:
            sys.exit("recipients refused: %r" % refused)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: send_helo.py PORT")
    main(int(sys.argv[1]))
