#!/usr/bin/env python3
"""Webhook bodies for tests/integration/test_field_widths.sh.

For every file of tests/corpus, every string value in it (ids, names, texts,
types…) is replaced, one at a time, by a value of each length in LENGTHS:
0, 1, and each id or name column's width and width + 1 (the widths in
include/db/columns.h; a value that lands in a TEXT column has no width of its
own, so it gets all of them), and 10 000. Each alphabet is tried: printable
ASCII (what ids are made of) and multibyte UTF-8 (characters of 2, 3 and 4
bytes, so that a cut counted in bytes instead of characters shows).

Every variant keeps the rest of its corpus body. The variants of one file are
merged into as few bodies as fit BODY_BYTES (their entry[] items side by side,
as Meta batches them), and each body ends with one normal text message of its
own, which must be stored whatever the variants do to the rest of the body.
The top-level "object" cannot share a body with other variants (it decides how
the whole body is read), so its variants get a body each, without the normal
message's expectation.

Usage: field_variants.py CORPUS_DIR OUT_DIR
Writes OUT_DIR/NNNN.json and prints one manifest line per body:
  NNNN <TAB> label <TAB> id of the normal message ("-" when none is expected)
"""
import json
import os
import sys

WIDTHS = [50, 100, 255, 512]  # customer_phone, meta_phone_number_id, names, message ids
LENGTHS = sorted({0, 1, 10000} | set(WIDTHS) | {w + 1 for w in WIDTHS})
ALPHABETS = {
    "ascii": "1234567890abcdefghijklmnopqrstuvwxyz.-_ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    # é (2 bytes), € (3), 😀 (4, a surrogate pair when escaped), a (1)
    "multibyte": "\u00e9\u20ac\U0001F600a",
}
BODY_BYTES = 1 << 20

WA_CHANNEL = "106540352242922"
IG_ACCOUNT = "17841400000000001"


def value_of(alphabet, n):
    reps = n // len(alphabet) + 1
    return (alphabet * reps)[:n]


def string_paths(node, path=()):
    """Paths (tuples of keys and indices) of every string in node."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from string_paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from string_paths(v, path + (i,))
    elif isinstance(node, str):
        yield path


def is_message_id(path):
    return path[-1] in ("id", "mid") and any(k in ("messages", "message", "postback") for k in path)


def replaced(doc, path, value, tag):
    """doc with value at path, and every other message id made unique with
    tag: a variant must not be taken for a redelivery of another one (a
    duplicate is dropped before its sender is even looked at)."""
    doc = json.loads(json.dumps(doc))
    for p in string_paths(doc):
        if p != path and is_message_id(p):
            node = doc
            for k in p[:-1]:
                node = node[k]
            node[p[-1]] += tag
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return doc


def normal_entry(obj, n):
    """One plain text message from a customer of the corpus's channels."""
    if obj == "instagram":
        mid = "normal-ig-%04d" % n
        return mid, {"id": IG_ACCOUNT, "time": 1764300000000, "messaging": [{
            "sender": {"id": "5551230000000000"}, "recipient": {"id": IG_ACCOUNT},
            "timestamp": 1764300000000, "message": {"mid": mid, "text": "normal %d" % n}}]}
    wamid = "wamid.normal-%04d" % n
    return wamid, {"id": "102290129340398", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": WA_CHANNEL},
        "contacts": [{"profile": {"name": "Norma"}, "wa_id": "31600000000"}],
        "messages": [{"from": "31600000000", "id": wamid, "timestamp": "1764300000",
                      "type": "text", "text": {"body": "normal %d" % n}}]}}]}


class Writer:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.n = 0

    def body(self, label, obj, entries, with_normal=True):
        """entries: JSON texts of entry[] items."""
        self.n += 1
        normal = "-"
        if with_normal:
            normal, entry = normal_entry(obj, self.n)
            entries = entries + [json.dumps(entry)]
        text = '{"object":%s,"entry":[%s]}' % (json.dumps(obj), ",".join(entries))
        name = "%04d" % self.n
        with open(os.path.join(self.out_dir, name + ".json"), "wb") as f:
            f.write(text.encode("utf-8"))
        print("%s\t%s\t%s" % (name, label, normal))


def main():
    corpus, out_dir = sys.argv[1], sys.argv[2]
    w = Writer(out_dir)
    tag = 0
    files = []
    for platform in ("whatsapp", "instagram"):
        d = os.path.join(corpus, platform)
        files += [os.path.join(platform, f) for f in sorted(os.listdir(d)) if f.endswith(".json")]
    for rel in files:
        with open(os.path.join(corpus, rel), "rb") as f:
            doc = json.load(f)
        obj = doc.get("object")
        for aname, alphabet in ALPHABETS.items():
            batch, size, part = [], 0, 0
            for path in string_paths(doc):
                if path == ("object",):
                    continue
                for n in LENGTHS:
                    tag += 1
                    v = replaced(doc, path, value_of(alphabet, n), ".v%d" % tag)
                    # Meta escapes non-ASCII; the longest values go raw, which
                    # keeps the bodies small and tries the other encoding too.
                    for e in v.get("entry", []):
                        t = json.dumps(e, ensure_ascii=n < 10000)
                        if size + len(t) > BODY_BYTES and batch:
                            part += 1
                            w.body("%s %s part %d" % (rel, aname, part), obj, batch)
                            batch, size = [], 0
                        batch.append(t)
                        size += len(t)
            if batch:
                part += 1
                w.body("%s %s part %d" % (rel, aname, part), obj, batch)
    # The body's own kind: an unknown or mangled "object" is acknowledged.
    for aname, alphabet in ALPHABETS.items():
        for n in LENGTHS:
            _, entry = normal_entry("whatsapp_business_account", 0)
            w.body("object %s %d" % (aname, n), value_of(alphabet, n), [json.dumps(entry)],
                   with_normal=False)


if __name__ == "__main__":
    main()
