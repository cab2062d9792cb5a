#!/usr/bin/env python3
"""Python's smtplib with the shapes real mail takes, for tests/smtp_real.rs.

Usage: send_edges.py PORT

One session on 127.0.0.1:PORT, three transactions:

1. a mail whose body does not end with a line break (smtplib adds the CRLF
   before the end-of-data line, as RFC 5321 asks);
2. a DATA the server refuses (503: no recipient yet), a NOOP after it, then
   a recipient and an empty mail: the end-of-data line right after the 354;
3. a mail with bare LF line ends (bytes, which smtplib sends as they are).

Exits 0 only if the server answered each step as expected.
"""

import smtplib
import sys


def expect(reply, code):
    if reply[0] != code:
        sys.exit("expected %d, got %r" % (code, reply))


def main(port):
    with smtplib.SMTP("127.0.0.1", port, local_hostname="edges.client.test") as s:
        s.ehlo()
        s.sendmail(
            "no-newline@example.org",
            ["one@example.net"],
            b"Subject: no final line break\r\n\r\nthe last line has no line break",
        )
        expect(s.docmd("MAIL", "FROM:<empty@example.org>"), 250)
        expect(s.docmd("DATA"), 503)
        expect(s.docmd("NOOP"), 250)
        expect(s.docmd("RCPT", "TO:<two@example.net>"), 250)
        expect(s.docmd("DATA"), 354)
        s.send(b".\r\n")
        expect(s.getreply(), 250)
        s.sendmail(
            "bare-lf@example.org",
            ["three@example.net"],
            b"Subject: bare LF\n\nline one\nline two\n",
        )
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: send_edges.py PORT")
    sys.exit(main(int(sys.argv[1])))
