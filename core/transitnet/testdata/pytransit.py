# Runs one side of a transit connection with the Python reference code
# (magic-wormhole 0.12's wormhole.transit), for the interop tests.
#
# argv[1] is JSON: {"role": "sender"|"receiver", "key": hex transit key,
#   "relay": "tcp:HOST:PORT" or null, "no_listen": bool, "size": bytes to
#   send or receive, "seed": int}
# stdout: one JSON line with our transit message, then {"connected": desc},
#   then {"sha256": hex of the bytes sent or received, "ack": the ack}.
# stdin: one JSON line with the peer's transit message.
import hashlib
import json
import sys
from binascii import unhexlify

from twisted.internet import defer, task

from wormhole.transit import TransitReceiver, TransitSender


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def chunks(size, seed):
    # Deterministic data, 16 KiB per record like the CLI's FileSender.
    block = hashlib.sha256(b"%d" % seed).digest() * 512
    sent = 0
    while sent < size:
        n = min(16384, size - sent)
        yield block[:n]
        sent += n


@defer.inlineCallbacks
def main(reactor):
    cfg = json.loads(sys.argv[1])
    sender = cfg["role"] == "sender"
    cls = TransitSender if sender else TransitReceiver
    t = cls(cfg["relay"], no_listen=cfg["no_listen"], reactor=reactor)
    hints = yield t.get_connection_hints()
    out({"abilities-v1": t.get_connection_abilities(), "hints-v1": hints})
    peer = json.loads(sys.stdin.readline())
    t.add_connection_hints(peer.get("hints-v1", []))
    t.set_transit_key(unhexlify(cfg["key"]))
    c = yield t.connect()
    out({"connected": c.describe()})
    h = hashlib.sha256()
    if sender:
        for chunk in chunks(cfg["size"], cfg["seed"]):
            h.update(chunk)
            c.send_record(chunk)
        ack = yield c.receive_record()
        out({"sha256": h.hexdigest(), "ack": json.loads(ack.decode("utf-8"))})
    else:
        got = 0
        while got < cfg["size"]:
            rec = yield c.receive_record()
            h.update(rec)
            got += len(rec)
        digest = h.hexdigest()
        c.send_record(json.dumps({"ack": "ok", "sha256": digest}).encode("utf-8"))
        # let the ack leave before closing
        yield task.deferLater(reactor, 0.2, lambda: None)
        out({"sha256": digest, "ack": None})
    c.close()


task.react(main)
