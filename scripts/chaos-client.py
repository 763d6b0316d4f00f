#!/usr/bin/env python3
"""Clients that misbehave, for scripts/chaos.sh. Microsoft's azure-eventhub SDK where a real client is
meant, raw sockets where the point is a client no SDK would be. Each command prints one JSON document.

  load CS --acked FILE            publish batches of 10 to partition 0 until killed; after each
                                  acknowledged batch append its event ids to FILE (flushed)
  count CS --partition ID         read a partition from the start until idle; print its event ids
  fill CS --size B --count N      publish N events of B bytes (--per-batch, --partition); print acknowledged and rejected
  overflow-token HOST PORT        put-token signed with the emulator's key and se=2^63-1, then publish
  stall CS --seconds S            a consumer that takes its prefetch and then never reads the socket
  churn HOST PORT --count N        N connections (SASL PLAIN, open, close) one after another
  slowloris HOST PORT             send the protocol header one byte per second; print when it was closed
"""
import argparse
import base64
import hashlib
import hmac
import json
import socket
import sys
import threading
import time
import urllib.parse

from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient


def load(args):
    client = EventHubProducerClient.from_connection_string(args.cs, retry_total=0)
    i = 0
    with client, open(args.acked, "a") as acked:
        while True:
            batch = client.create_batch(partition_id="0")
            ids = []
            for _ in range(10):
                batch.add(EventData(f"k-{i}"))
                ids.append(i)
                i += 1
            client.send_batch(batch)
            acked.write("".join(f"k-{n}\n" for n in ids))
            acked.flush()


def count(args):
    client = EventHubConsumerClient.from_connection_string(args.cs, consumer_group="$Default", retry_total=0)
    got, errors = [], []
    last = [None]  # idle counts from the first callback: before it the link may still be opening
    done = threading.Event()

    def on_event(ctx, ev):
        if ev is None:
            if last[0] is None:
                last[0] = time.time()
            elif time.time() - last[0] > args.idle:
                done.set()
            return
        last[0] = time.time()
        got.append(ev.body_as_str().split(":")[0])

    def on_error(ctx, err):
        errors.append(f"{type(err).__name__}: {err}")
        done.set()

    worker = threading.Thread(target=lambda: client.receive(on_event=on_event, on_error=on_error, partition_id=args.partition,
                                                            starting_position="-1", max_wait_time=1), daemon=True)
    worker.start()
    done.wait(args.timeout)
    client.close()
    worker.join(10)
    return {"events": got, "errors": errors}


def fill(args):
    client = EventHubProducerClient.from_connection_string(args.cs, retry_total=0)
    acked, rejected, errors = [], [], []
    with client:
        for first in range(0, args.count, args.per_batch):
            batch = client.create_batch(partition_id=args.partition)
            ids = [f"{args.prefix}-{i}" for i in range(first, min(first + args.per_batch, args.count))]
            for name in ids:
                batch.add(EventData(f"{name}:" + "x" * args.size))
            try:
                client.send_batch(batch)
                acked.extend(ids)
            except Exception as e:  # the SDK's exception carries the emulator's condition and text
                rejected.extend(ids)
                if len(errors) < 3:
                    errors.append(f"{type(e).__name__}: {e}")
    return {"acked": acked, "rejected": rejected, "errors": errors}


def sas_token(uri, key_name, key, expiry):
    encoded = urllib.parse.quote_plus(uri)
    signature = base64.b64encode(hmac.new(key.encode(), f"{encoded}\n{expiry}".encode(), hashlib.sha256).digest()).decode()
    return (f"SharedAccessSignature sr={encoded}&sig={urllib.parse.quote_plus(signature)}"
            f"&se={expiry}&skn={key_name}")


def overflow_token(args):
    # A connection string may carry a ready-made signature; the SDK sends it to $cbs as written.
    uri = f"sb://{args.host}:{args.port}/eh1"
    token = sas_token(uri, "RootManageSharedAccessKey", "SAS_KEY_VALUE", 9223372036854775807)
    cs = f"Endpoint=sb://{args.host}:{args.port}/;SharedAccessSignature={token};EntityPath=eh1;UseDevelopmentEmulator=true"
    # The SDK schedules its renewal from the expiry it reads out of the token, and Python's clock
    # cannot hold 2^63-1 seconds: it is told an hour, while the token it sends says 2^63-1.
    from azure.eventhub import _client_base
    original = _client_base.EventHubSASTokenCredential.__init__
    _client_base.EventHubSASTokenCredential.__init__ = lambda self, token, expiry: original(self, token, int(time.time()) + 3600)
    result = {"error": None, "sent": False}
    try:
        client = EventHubProducerClient.from_connection_string(cs, retry_total=0)
        with client:
            batch = client.create_batch(partition_id="1")
            batch.add(EventData("overflow"))
            client.send_batch(batch)
            result["sent"] = True
    except Exception as e:  # refused is fine; what matters is that the emulator keeps serving
        result["error"] = f"{type(e).__name__}: {e}"
    return result


def stall(args):
    client = EventHubConsumerClient.from_connection_string(args.cs, consumer_group="$Default", retry_total=0)
    started = threading.Event()

    def on_event(ctx, ev):
        started.set()
        time.sleep(args.seconds + 30)  # the receive thread stops: the socket is no longer read

    worker = threading.Thread(target=lambda: client.receive(on_event=on_event, partition_id="0", starting_position="-1",
                                                            prefetch=300, max_wait_time=1), daemon=True)
    worker.start()
    started.wait(30)
    print(json.dumps({"stalled": started.is_set()}), flush=True)
    time.sleep(args.seconds)
    return {"done": True}


def frame(kind, body, channel=0):
    return (8 + len(body)).to_bytes(4, "big") + bytes([2, kind]) + channel.to_bytes(2, "big") + body


def read_frame(sock):
    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data
    size = int.from_bytes(exactly(4), "big")
    rest = exactly(size - 4)
    return rest[4 * rest[0] - 4:]  # the body after the header's extension


def raw_connection(host, port, user, password):
    """SASL PLAIN, open, close, by hand: no SDK in between, so thousands take seconds."""
    sock = socket.create_connection((host, port), timeout=10)
    try:
        sock.sendall(b"AMQP\x03\x01\x00\x00")
        assert sock.recv(8) == b"AMQP\x03\x01\x00\x00"
        read_frame(sock)  # sasl-mechanisms
        response = b"\x00" + user.encode() + b"\x00" + password.encode()
        fields = b"\xa3\x05PLAIN" + b"\xa0" + bytes([len(response)]) + response
        sock.sendall(frame(1, b"\x00\x53\x41\xc0" + bytes([len(fields) + 1, 2]) + fields))
        outcome = read_frame(sock)
        if outcome[:3] != b"\x00\x53\x44" or b"\x50\x00" not in outcome[:8]:
            raise ConnectionError(f"sasl outcome {outcome[:8].hex()}")
        sock.sendall(b"AMQP\x00\x01\x00\x00")
        fields = b"\xa1\x05churn"
        sock.sendall(frame(0, b"\x00\x53\x10\xc0" + bytes([len(fields) + 1, 1]) + fields))
        assert sock.recv(8) == b"AMQP\x00\x01\x00\x00"
        read_frame(sock)  # open
        sock.sendall(frame(0, b"\x00\x53\x18\x45"))
        read_frame(sock)  # close
    finally:
        sock.close()


def login_attempt(host, port, user, password):
    """One SASL PLAIN login by hand: 'ok', 'auth-failed' (sasl-outcome not ok) or 'refused' (closed before any SASL)."""
    sock = socket.create_connection((host, port), timeout=10)
    try:
        sock.sendall(b"AMQP\x03\x01\x00\x00")
        try:
            header = sock.recv(8)
            if header != b"AMQP\x03\x01\x00\x00":
                return "refused"
            read_frame(sock)  # sasl-mechanisms
        except (ConnectionError, OSError):
            return "refused"
        response = b"\x00" + user.encode() + b"\x00" + password.encode()
        fields = b"\xa3\x05PLAIN" + b"\xa0" + bytes([len(response)]) + response
        sock.sendall(frame(1, b"\x00\x53\x41\xc0" + bytes([len(fields) + 1, 2]) + fields))
        outcome = read_frame(sock)
        return "ok" if outcome[:3] == b"\x00\x53\x44" and b"\x50\x00" in outcome[:8] else "auth-failed"
    finally:
        sock.close()


def logins(args):
    """--wrong logins with a wrong key, then one with the right key: what each got."""
    results = [login_attempt(args.host, args.port, "RootManageSharedAccessKey", "wrong") for _ in range(args.wrong)]
    results.append(login_attempt(args.host, args.port, "RootManageSharedAccessKey", "SAS_KEY_VALUE"))
    return {"results": results}


def churn(args):
    errors = []
    for _ in range(args.count):
        try:
            raw_connection(args.host, args.port, "RootManageSharedAccessKey", "SAS_KEY_VALUE")
        except Exception as e:
            if len(errors) < 3:
                errors.append(f"{type(e).__name__}: {e}")
    return {"connections": args.count, "errors": errors}


def slowloris(args):
    """A protocol header and then a valid sasl-init, one byte a second: nothing is wrong but the pace."""
    response = b"\x00RootManageSharedAccessKey\x00SAS_KEY_VALUE"
    fields = b"\xa3\x05PLAIN" + b"\xa0" + bytes([len(response)]) + response
    data = b"AMQP\x03\x01\x00\x00" + frame(1, b"\x00\x53\x41\xc0" + bytes([len(fields) + 1, 2]) + fields)
    sock = socket.create_connection((args.host, args.port), timeout=5)
    sock.settimeout(1)
    start = time.time()
    sent = 0
    try:
        while time.time() - start < args.limit and sent < len(data):
            sock.send(data[sent:sent + 1])
            sent += 1
            try:
                if sock.recv(4096) == b"":
                    return {"closed_after": round(time.time() - start, 1), "bytes_sent": sent}
            except socket.timeout:
                pass
    except (BrokenPipeError, ConnectionResetError):
        return {"closed_after": round(time.time() - start, 1), "bytes_sent": sent}
    return {"closed_after": None, "bytes_sent": sent}


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("load"); p.add_argument("cs"); p.add_argument("--acked", required=True)
    p = sub.add_parser("count"); p.add_argument("cs"); p.add_argument("--partition", default="0")
    p.add_argument("--idle", type=float, default=3); p.add_argument("--timeout", type=float, default=60)
    p = sub.add_parser("fill"); p.add_argument("cs"); p.add_argument("--size", type=int, required=True)
    p.add_argument("--count", type=int, required=True); p.add_argument("--prefix", default="f")
    p.add_argument("--partition", default="0"); p.add_argument("--per-batch", type=int, default=1)
    p = sub.add_parser("overflow-token"); p.add_argument("host"); p.add_argument("port", type=int)
    p = sub.add_parser("stall"); p.add_argument("cs"); p.add_argument("--seconds", type=float, default=10)
    p = sub.add_parser("churn"); p.add_argument("host"); p.add_argument("port", type=int); p.add_argument("--count", type=int, default=300)
    p = sub.add_parser("logins"); p.add_argument("host"); p.add_argument("port", type=int); p.add_argument("--wrong", type=int, default=3)
    p = sub.add_parser("slowloris"); p.add_argument("host"); p.add_argument("port", type=int)
    p.add_argument("--limit", type=float, default=60)
    args = parser.parse_args()
    commands = {"load": load, "count": count, "fill": fill, "overflow-token": overflow_token, "stall": stall,
                "churn": churn, "slowloris": slowloris, "logins": logins}
    result = commands[args.command](args)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
