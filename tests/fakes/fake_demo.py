"""A demo that misbehaves on purpose, so the harness's checks can be seen to fail.

    fake_demo.py MODE [MESSAGE...]

MODE is one of: good, echo, replay, lose, hang, leave-file, leave-child, crash.
It plays both sides itself, printing the lines a real client and server would.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from ipc.log import Log
from ipc.protocol import answer, encode

mode, messages = sys.argv[1], sys.argv[2:]
client, server = Log("client"), Log("server")

if mode == "crash":
    raise RuntimeError("a bug in the demo")
if mode == "hang":
    client.say("about to wait forever")
    time.sleep(600)
if mode == "leave-file":
    tempfile.mkstemp(prefix="forgotten-")
if mode == "leave-child" and os.fork() == 0:
    time.sleep(600)
    os._exit(0)

for seq, request in enumerate(messages, start=1):
    if mode == "lose" and seq == len(messages):
        client.sent(encode(request))
        break
    reply = {"echo": request, "replay": answer(1, request)}.get(mode, answer(seq, request))
    client.sent(encode(request))  # the log is given the bytes a write would be given
    server.received(request)
    server.sent(encode(reply))
    client.received(reply)
