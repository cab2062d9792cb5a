#!/usr/bin/env python3
"""Sends one mail with Python's smtplib (a real client) for the proxy's live tests.

Usage: send_mail.py --server HOST:PORT --sender A --to B --message FILE
Exit status: 0 sent; 3 the connection was closed under the client (what a
proxy's drop looks like); 1 any other failure. The outcome is printed.
"""

import argparse
import smtplib
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--sender", required=True)
    parser.add_argument("--to", required=True)
    parser.add_argument("--message", required=True)
    args = parser.parse_args()
    host, port = args.server.rsplit(":", 1)
    with open(args.message, "rb") as f:
        message = f.read()
    try:
        with smtplib.SMTP(host, int(port), local_hostname="client.example", timeout=60) as smtp:
            smtp.sendmail(args.sender, [args.to], message)
    except smtplib.SMTPServerDisconnected as err:
        print(f"disconnected: {err}")
        return 3
    except (smtplib.SMTPException, OSError) as err:
        print(f"failed: {type(err).__name__}: {err}")
        return 1
    print("sent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
