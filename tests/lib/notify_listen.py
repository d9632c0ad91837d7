#!/usr/bin/env python3
"""Stands in for systemd's notify socket: binds a datagram socket at PATH and
appends every datagram it receives to LOG, one message per line (newlines in a
message become spaces), until killed."""
import os
import socket
import sys

path, log = sys.argv[1], sys.argv[2]
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(log, "a", buffering=1) as f:
    f.write("LISTENING\n")
    while True:
        data = s.recv(65536)
        f.write(data.decode("utf-8", "replace").replace("\n", " ") + "\n")
