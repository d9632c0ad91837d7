#!/usr/bin/env python3
"""Meta as a webhook sender, for tests/integration/test_chaos.sh.

Posts a steady stream of distinct, signed WhatsApp text webhooks to one or
more parley processes, and delivers every body again, later, until it gets a
2xx, as Meta does: a non-2xx answer or a connection error puts the body back
with an exponential backoff (shortened to fit a test), and each new attempt
goes to the next URL, as a load balancer in front of several processes
would. A few bodies that did get their 200 are delivered once more (Meta's
at-least-once delivery), and some bodies carry two customers' messages.

  chaos_load.py --url URL [--url URL]... --out DIR [options]

Writes, in DIR:
  acked     every message id of a body answered 2xx, one per line
  unacked   every message id still without a 2xx when the run ended
  sent      customer number and text of every message generated, tab-separated
  started   the wall-clock time (Unix seconds) the run's times count from
  bodies    one line per body: its message ids (comma-separated), attempts,
            final status (0: connection error), seconds from the start of the
            run to its first attempt and to its 2xx (- when none), and the
            times of its attempts that got no 2xx (comma-separated, or -)
and prints one summary line, "chaos_load: key=value ...": retries counts the
attempts made because an earlier one got no 2xx; longest_unavailable_s is the
longest stretch from an answer that was not a 2xx (or a connection error) to
the next 2xx answer to any request, i.e. the longest time Meta would have seen
no webhook accepted; longest_wait_s the longest a single body took from its
first attempt to its 2xx. Exit status 0 when
the run went as planned (even with unacked messages: the caller decides), 2
on bad usage. Loopback only: the URLs must name 127.0.0.1 or localhost.
"""
import argparse
import hashlib
import heapq
import hmac
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse

PHONE_NUMBER_ID = "106540352242922"  # the corpus's WhatsApp channel (seed_channels)


def body_for(messages, now):
    """A WhatsApp notification carrying messages [(wamid, customer, text)]."""
    return json.dumps({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550001111",
                                 "phone_number_id": PHONE_NUMBER_ID},
                    "contacts": [{"profile": {"name": "Chaos"}, "wa_id": c}
                                 for _, c, _ in messages],
                    # The platform's own time: the 24-hour reply window
                    # (docs/protocol.md, Graph sends) counts from it, so it
                    # must be now, not a fixed date.
                    "messages": [{"from": c, "id": w, "timestamp": str(int(now)),
                                  "type": "text", "text": {"body": t}}
                                 for w, c, t in messages],
                },
            }],
        }],
    }, separators=(",", ":")).encode()


class Delivery:
    """One body and its delivery attempts so far."""

    def __init__(self, body, ids, redeliver):
        self.body = body
        self.ids = ids
        self.attempts = 0
        self.acked = False
        self.redeliver = redeliver  # deliver once more after its 2xx
        self.first = None  # time of the first attempt
        self.acked_at = None
        self.status = None  # of the last attempt
        self.fails = []  # answer times of the attempts without a 2xx


class Load:
    def __init__(self, a):
        self.a = a
        self.urls = [urllib.parse.urlsplit(u) for u in a.url]
        self.secret = a.secret.encode()
        self.lock = threading.Condition()
        self.queue = []  # (due, seq, Delivery)
        self.seq = 0
        self.pending = 0  # bodies not yet answered 2xx (queued or in flight)
        self.generating = True
        self.rng = random.Random(a.seed)
        self.stats = {"posts": 0, "ok": 0, "redelivered": 0, "conn_errors": 0, "retries": 0}
        self.answers = []  # (answer time, 2xx or not) of every attempt
        self.bodies = []
        self.codes = {}
        self.acked, self.unacked_bodies = [], []

    def push(self, d, due):
        with self.lock:
            self.seq += 1
            heapq.heappush(self.queue, (due, self.seq, d))
            self.lock.notify()

    def backoff(self, attempt):
        # Meta backs off for minutes; a test has seconds: 0.2 s doubling to
        # 2 s, with jitter so that the bodies refused together spread out.
        ceiling = min(0.2 * 2 ** (attempt - 1), 2.0)
        return ceiling / 2 + self.rng.random() * ceiling / 2

    def post(self, d):
        """One attempt; the HTTP status, or 0 for a connection error."""
        u = self.urls[d.attempts % len(self.urls)]
        sig = hmac.new(self.secret, d.body, hashlib.sha256).hexdigest()
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=self.a.timeout)
        try:
            conn.request("POST", "/webhooks/meta", body=d.body, headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": "sha256=" + sig,
            })
            r = conn.getresponse()
            r.read()
            return r.status
        except (OSError, http.client.HTTPException):
            return 0
        finally:
            conn.close()

    def worker(self, deadline):
        while True:
            with self.lock:
                while True:
                    now = time.monotonic()
                    if now >= deadline or (not self.generating and not self.queue
                                           and self.pending == 0):
                        self.lock.notify_all()
                        return
                    if self.queue and self.queue[0][0] <= now:
                        _, _, d = heapq.heappop(self.queue)
                        break
                    wait = deadline - now
                    if self.queue:
                        wait = min(wait, self.queue[0][0] - now)
                    self.lock.wait(min(wait, 0.5))
            sent_at = time.monotonic()
            status = self.post(d)
            answered = time.monotonic()
            d.attempts += 1
            with self.lock:
                if d.first is None:
                    d.first = sent_at
                self.stats["posts"] += 1
                self.answers.append((answered, 200 <= status < 300))
                if status == 0:
                    self.stats["conn_errors"] += 1
                else:
                    self.codes[status] = self.codes.get(status, 0) + 1
                if 200 <= status < 300:
                    if d.acked:
                        self.stats["redelivered"] += 1
                        continue
                    d.status = status
                    d.acked_at = answered
                    d.acked = True
                    self.pending -= 1
                    self.stats["ok"] += 1
                    self.acked.extend(d.ids)
                    if d.redeliver:
                        # Meta delivering a body again although it was
                        # answered: the copy goes to the next URL.
                        d.redeliver = False
                        self.push(d, time.monotonic() + 0.5)
                    continue
                if not d.acked:
                    d.status = status
                    d.fails.append(answered)
                    self.stats["retries"] += 1
            self.push(d, time.monotonic() + self.backoff(d.attempts))

    def run(self):
        a = self.a
        start = time.monotonic()
        with open(os.path.join(a.out, "started"), "w") as f:
            f.write("%.3f\n" % (time.time() - (time.monotonic() - start)))
        stop_new = start + a.seconds
        deadline = stop_new + a.settle
        threads = [threading.Thread(target=self.worker, args=(deadline,), daemon=True)
                   for _ in range(a.senders)]
        for t in threads:
            t.start()
        sent = open(os.path.join(a.out, "sent"), "w")
        next_m = [0] * a.customers
        n = 0
        while time.monotonic() < stop_new:
            due = start + n / a.rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            # Every fifth body carries two customers' messages (Meta batches).
            cs = [self.rng.randrange(a.customers)]
            if n % 5 == 4 and a.customers > 1:
                cs.append((cs[0] + 1 + self.rng.randrange(a.customers - 1)) % a.customers)
            msgs = []
            for c in cs:
                next_m[c] += 1
                customer = "3169%07d" % (c + 1)
                text = "%s c%d m%d" % (a.tag, c + 1, next_m[c])
                wamid = "wamid.%s.%d.%d" % (a.tag, c + 1, next_m[c])
                msgs.append((wamid, customer, text))
                sent.write("%s\t%s\t%s\n" % (wamid, customer, text))
            d = Delivery(body_for(msgs, time.time()), [m[0] for m in msgs],
                         self.rng.random() < a.redeliver)
            with self.lock:
                self.pending += 1
                self.bodies.append(d)
            self.push(d, time.monotonic())
            n += 1
        sent.close()
        with self.lock:
            self.generating = False
            self.lock.notify_all()
        for t in threads:
            t.join()
        with self.lock:
            left = [d for _, _, d in self.queue if not d.acked]
        unacked = [i for d in left for i in d.ids]
        with open(os.path.join(a.out, "acked"), "w") as f:
            f.writelines(i + "\n" for i in self.acked)
        with open(os.path.join(a.out, "unacked"), "w") as f:
            f.writelines(i + "\n" for i in unacked)
        with self.lock:
            # A body still queued at the deadline was not attempted again:
            # its last failure is not a retry made.
            self.stats["retries"] -= sum(1 for d in left if d.fails)
            answers = sorted(self.answers)
            bodies = list(self.bodies)
        longest, down_since = 0.0, None
        for t, good in answers:
            if not good and down_since is None:
                down_since = t
            elif good and down_since is not None:
                longest = max(longest, t - down_since)
                down_since = None
        if down_since is not None and answers:
            longest = max(longest, answers[-1][0] - down_since)
        waits = [d.acked_at - d.first for d in bodies if d.acked_at is not None]
        rel = lambda t: "%.3f" % (t - start)
        with open(os.path.join(a.out, "bodies"), "w") as f:
            for d in bodies:
                f.write("%s\t%d\t%s\t%s\t%s\t%s\n" % (
                    ",".join(d.ids), d.attempts, "-" if d.status is None else d.status,
                    "-" if d.first is None else rel(d.first),
                    "-" if d.acked_at is None else rel(d.acked_at),
                    ",".join(rel(t) for t in d.fails) or "-"))
        codes = ",".join("%d:%d" % kv for kv in sorted(self.codes.items()))
        print("chaos_load: bodies=%d messages=%d acked=%d unacked=%d posts=%d "
              "conn_errors=%d redelivered=%d codes=%s seconds=%.1f retries=%d "
              "longest_unavailable_s=%.3f longest_wait_s=%.3f" % (
                  n, sum(next_m), len(self.acked), len(unacked), self.stats["posts"],
                  self.stats["conn_errors"], self.stats["redelivered"], codes or "-",
                  time.monotonic() - start, self.stats["retries"], longest,
                  max(waits, default=0.0)), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", action="append", required=True, help="parley base URL (repeat)")
    p.add_argument("--out", required=True, help="directory for acked, unacked, sent")
    p.add_argument("--secret", default="test-meta-app-secret")
    p.add_argument("--tag", default="CHAOS", help="prefix of ids and texts")
    p.add_argument("--customers", type=int, default=40)
    p.add_argument("--rate", type=float, default=25.0, help="new bodies per second")
    p.add_argument("--seconds", type=float, default=20.0, help="how long new bodies come")
    p.add_argument("--settle", type=float, default=60.0,
                   help="how long retries may go on after the last new body")
    p.add_argument("--senders", type=int, default=8, help="requests at once")
    p.add_argument("--timeout", type=float, default=20.0, help="per request, seconds")
    p.add_argument("--redeliver", type=float, default=0.05,
                   help="share of answered bodies delivered once more")
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args()
    for u in a.url:
        s = urllib.parse.urlsplit(u)
        if s.scheme != "http" or s.hostname not in ("127.0.0.1", "localhost") or not s.port:
            p.error("--url must be http://127.0.0.1:PORT (loopback only): %s" % u)
    if a.customers < 1 or a.rate <= 0 or a.seconds <= 0 or a.senders < 1:
        p.error("--customers, --rate, --seconds and --senders must be positive")
    os.makedirs(a.out, exist_ok=True)
    Load(a).run()


if __name__ == "__main__":
    main()
