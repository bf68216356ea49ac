#!/usr/bin/python3
"""smtp_sink.py - a local SMTP sink for tests (python3-aiosmtpd).

    smtp_sink.py PORT DIR [REFUSE_FIRST]

Listens on 127.0.0.1:PORT. Each message accepted is written to
DIR/<n>-<recipient>.eml (one file per recipient). The first REFUSE_FIRST
messages (default 0) are refused at DATA with "451 4.3.0 try again later",
and each refusal leaves DIR/refused-<n>. Runs until SIGTERM.
"""
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out, refuse):
        self.out, self.refuse, self.n = out, refuse, 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.n += 1
            n = self.n
        if n <= self.refuse:
            open(os.path.join(self.out, "refused-%d" % n), "w").close()
            return "451 4.3.0 try again later"
        for rcpt in envelope.rcpt_tos:
            name = "%d-%s.eml" % (n, rcpt.replace("/", "_"))
            tmp = os.path.join(self.out, "." + name)
            with open(tmp, "wb") as f:
                f.write(envelope.original_content or envelope.content)
            os.rename(tmp, os.path.join(self.out, name))   # whole files only
        return "250 OK"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    refuse = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    os.makedirs(out, exist_ok=True)
    controller = Controller(Sink(out, refuse), hostname="127.0.0.1", port=port)
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print("ready", flush=True)
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
