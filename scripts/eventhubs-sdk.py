#!/usr/bin/env python3
"""Drives Microsoft's azure-eventhub SDK (unpatched) against an endpoint, for swift-amqp's tests.

Every command prints one JSON document on stdout. Run with the venv scripts/install-test-deps.sh
creates (.venv-eventhubs/bin/python).

  props CS
  send CS --count N --prefix P [--mode batch|event] [--partition-key K | --partition-id ID]
  receive CS --partition ID [--group G] [--start -1|@latest|offset:O|sequence:S|time:MS] [--inclusive]
          [--count N] [--timeout S] [--owner-level L] [--track] [--retry-total N]
  displace CS --partition ID
  check-auth CS
  partition-hash KEYS-JSON [--partitions N]
  traced-send CS --partition ID        (OpenTelemetry tracing on: prints the trace id it sent in)
  traced-receive CS --partition ID --count N   (prints each event's properties and the links of
                                               the SDK's spans)
"""
import argparse
import datetime
import json
import sys
import threading
import time

from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient


def ms(dt):
    return int(dt.timestamp() * 1000) if dt else None


def props(args):
    client = EventHubProducerClient.from_connection_string(args.cs)
    with client:
        hub = client.get_eventhub_properties()
        parts = {}
        for pid in client.get_partition_ids():
            p = client.get_partition_properties(pid)
            parts[pid] = {
                "beginning_sequence_number": p["beginning_sequence_number"],
                "last_enqueued_sequence_number": p["last_enqueued_sequence_number"],
                "last_enqueued_offset": p["last_enqueued_offset"],
                "last_enqueued_time_utc": ms(p["last_enqueued_time_utc"]),
                "is_empty": p["is_empty"],
            }
    return {"name": hub["eventhub_name"], "created_at": ms(hub["created_at"]), "partition_ids": hub["partition_ids"], "partitions": parts}


def make_event(prefix, i):
    event = EventData(f"{prefix}-{i}")
    event.properties = {"i": i, "prefix": prefix}
    event.content_type = "text/plain"
    event.correlation_id = f"corr-{i}"
    event.message_id = f"{prefix}-id-{i}"
    return event


def send(args):
    client = EventHubProducerClient.from_connection_string(args.cs)
    with client:
        if args.mode == "event":
            for i in range(args.count):
                kwargs = {}
                if args.partition_key is not None:
                    kwargs["partition_key"] = args.partition_key
                if args.partition_id is not None:
                    kwargs["partition_id"] = args.partition_id
                client.send_event(make_event(args.prefix, i), **kwargs)
        else:
            kwargs = {}
            if args.partition_key is not None:
                kwargs["partition_key"] = args.partition_key
            if args.partition_id is not None:
                kwargs["partition_id"] = args.partition_id
            batch = client.create_batch(**kwargs)
            for i in range(args.count):
                try:
                    batch.add(make_event(args.prefix, i))
                except ValueError:
                    client.send_batch(batch)
                    batch = client.create_batch(**kwargs)
                    batch.add(make_event(args.prefix, i))
            client.send_batch(batch)
    return {"sent": args.count}


def parse_start(text):
    if text in ("-1", "@latest"):
        return text
    kind, _, value = text.partition(":")
    if kind == "offset":
        return value
    if kind == "sequence":
        return int(value)
    if kind == "time":
        return datetime.datetime.fromtimestamp(int(value) / 1000, tz=datetime.timezone.utc)
    raise SystemExit(f"bad --start {text}")


def event_json(ev, ctx):
    out = {
        "body": ev.body_as_str(),
        "sequence_number": ev.sequence_number,
        "offset": ev.offset,
        "enqueued_time": ms(ev.enqueued_time),
        "partition_key": ev.partition_key.decode() if isinstance(ev.partition_key, bytes) else ev.partition_key,
        "properties": {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v) for k, v in (ev.properties or {}).items()},
        "content_type": ev.content_type,
        "correlation_id": ev.correlation_id,
        "message_id": ev.message_id,
    }
    if ctx is not None and ctx.last_enqueued_event_properties:
        last = ctx.last_enqueued_event_properties
        out["last_enqueued"] = {"sequence_number": last.get("sequence_number"), "offset": last.get("offset")}
    return out


def receive(args):
    extra = {} if args.retry_total is None else {"retry_total": args.retry_total}
    client = EventHubConsumerClient.from_connection_string(args.cs, consumer_group=args.group, **extra)
    got, errors = [], []
    done = threading.Event()

    def on_event(ctx, ev):
        if ev is None:
            return
        got.append(event_json(ev, ctx if args.track else None))
        if len(got) >= args.count:
            done.set()

    def on_error(ctx, err):
        errors.append(f"{type(err).__name__}: {err}")
        done.set()

    kwargs = {"partition_id": args.partition, "starting_position": parse_start(args.start),
              "starting_position_inclusive": args.inclusive, "track_last_enqueued_event_properties": args.track,
              "max_wait_time": 1}
    if args.owner_level is not None:
        kwargs["owner_level"] = args.owner_level
    worker = threading.Thread(target=lambda: client.receive(on_event=on_event, on_error=on_error, **kwargs), daemon=True)
    worker.start()
    done.wait(args.timeout)
    client.close()
    worker.join(10)
    return {"events": got, "errors": errors}


def displace(args):
    """A receiver with owner level 1 is displaced by one with owner level 2."""
    first = EventHubConsumerClient.from_connection_string(args.cs, consumer_group="$Default")
    second = EventHubConsumerClient.from_connection_string(args.cs, consumer_group="$Default")
    first_errors, second_events = [], []
    first_started = threading.Event()

    def first_event(ctx, ev):
        first_started.set()

    def first_error(ctx, err):
        first_errors.append(f"{type(err).__name__}: {err}")

    t1 = threading.Thread(target=lambda: first.receive(on_event=first_event, on_error=first_error, partition_id=args.partition,
                                                        starting_position="-1", owner_level=1, max_wait_time=1), daemon=True)
    t1.start()
    first_started.wait(15)
    t2 = threading.Thread(target=lambda: second.receive(on_event=lambda c, e: e and second_events.append(1), partition_id=args.partition,
                                                         starting_position="-1", owner_level=2, max_wait_time=1), daemon=True)
    t2.start()
    deadline = time.time() + 15
    while time.time() < deadline and not (first_errors and second_events):
        time.sleep(0.1)
    first.close()
    second.close()
    return {"first_errors": first_errors, "second_events": len(second_events)}


def check_auth(args):
    client = EventHubProducerClient.from_connection_string(args.cs, retry_total=0)
    try:
        with client:
            client.get_eventhub_properties()
        return {"error": None}
    except Exception as e:  # the SDK's own exception class is what we report
        return {"error": type(e).__name__, "message": str(e)}


def tracing():
    # azure-eventhub's tracing through azure-core's OpenTelemetry plugin, into memory.
    from azure.core.settings import settings
    from azure.core.tracing.ext.opentelemetry_span import OpenTelemetrySpan
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    settings.tracing_implementation = OpenTelemetrySpan
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return trace.get_tracer("swift-amqp-tests"), exporter


def traced_send(args):
    tracer, exporter = tracing()
    client = EventHubProducerClient.from_connection_string(args.cs)
    with client:
        with tracer.start_as_current_span("python-checkout") as span:
            batch = client.create_batch(partition_id=args.partition)
            batch.add(EventData("traced from python"))
            client.send_batch(batch)
        trace_id = format(span.get_span_context().trace_id, "032x")
    return {"trace_id": trace_id, "spans": [s.name for s in exporter.get_finished_spans()]}


def traced_receive(args):
    tracer, exporter = tracing()
    events = []
    client = EventHubConsumerClient.from_connection_string(args.cs, consumer_group="$Default")
    done = threading.Event()

    def on_event(partition_context, event):
        if event is None:
            return
        events.append({k.decode() if isinstance(k, bytes) else str(k): (v.decode() if isinstance(v, bytes) else v)
                       for k, v in (event.properties or {}).items()})
        if len(events) >= args.count:
            done.set()

    worker = threading.Thread(target=lambda: client.receive(on_event=on_event, partition_id=args.partition, starting_position="-1",
                                                            max_wait_time=1))
    worker.start()
    done.wait(30)
    client.close()
    worker.join(10)
    links = []
    for span in exporter.get_finished_spans():
        for link in span.links:
            links.append(format(link.context.trace_id, "032x"))
    return {"events": events, "linked_trace_ids": links}


def partition_hash(args):
    # The buffered producer's resolver of azure-eventhub: Microsoft's Python port of the service's
    # lookup3 hash (it hashes characters, so it agrees with the service on ASCII keys only).
    from azure.eventhub._buffered_producer._partition_resolver import PartitionResolver, generate_hash_code
    keys = json.loads(args.keys)
    resolver = PartitionResolver([str(i) for i in range(args.partitions)])
    return {"codes": [generate_hash_code(k) for k in keys],
            "partitions": [int(resolver.get_partition_id_by_partition_key(k)) for k in keys]}


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("props"); p.add_argument("cs")
    p = sub.add_parser("send"); p.add_argument("cs"); p.add_argument("--count", type=int, default=1); p.add_argument("--prefix", default="e")
    p.add_argument("--mode", choices=["batch", "event"], default="batch"); p.add_argument("--partition-key"); p.add_argument("--partition-id")
    p = sub.add_parser("receive"); p.add_argument("cs"); p.add_argument("--partition", required=True); p.add_argument("--group", default="$Default")
    p.add_argument("--start", default="-1"); p.add_argument("--inclusive", action="store_true"); p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=20); p.add_argument("--owner-level", type=int); p.add_argument("--track", action="store_true")
    p.add_argument("--retry-total", type=int)
    p = sub.add_parser("displace"); p.add_argument("cs"); p.add_argument("--partition", required=True)
    p = sub.add_parser("check-auth"); p.add_argument("cs")
    p = sub.add_parser("partition-hash"); p.add_argument("keys"); p.add_argument("--partitions", type=int, default=32)
    p = sub.add_parser("traced-send"); p.add_argument("cs"); p.add_argument("--partition", required=True)
    p = sub.add_parser("traced-receive"); p.add_argument("cs"); p.add_argument("--partition", required=True); p.add_argument("--count", type=int, default=1)
    args = parser.parse_args()
    result = {"props": props, "send": send, "receive": receive, "displace": displace, "check-auth": check_auth,
              "partition-hash": partition_hash, "traced-send": traced_send, "traced-receive": traced_receive}[args.command](args)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
