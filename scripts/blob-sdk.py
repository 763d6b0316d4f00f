#!/usr/bin/env python3
"""Drives Microsoft's Blob Storage packages (unpatched) against a Blob endpoint, for swift-amqp's tests.

Run with the venv scripts/install-test-deps.sh creates (.venv-eventhubs/bin/python).

  generic SCS                     azure-storage-blob 12.x: containers, uploads, metadata, conditions,
                                  listings, downloads, SAS, a wrong key; prints one JSON document
  store-write SCS CONTAINER NS HUB GROUP
                                  azure-eventhub-checkpointstoreblob 1.2.0's BlobCheckpointStore:
                                  claims partitions 0 and 1 for "python", checkpoints partition 0
  store-read SCS CONTAINER NS HUB GROUP
                                  the same store's list_ownership and list_checkpoints
  process CS SCS CONTAINER [--group G] [--interval S] [--expiration S] [--checkpoint-every N]
                                  an EventHubConsumerClient with that BlobCheckpointStore until SIGTERM;
                                  one JSON line per event, claim, close and checkpoint
"""
import argparse
import datetime
import json
import signal
import sys
import threading
import time

from azure.core import MatchConditions
from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError, ResourceExistsError,
                                   ResourceModifiedError, ResourceNotFoundError)


def error_of(fn):
    """Runs fn; returns None, or the exception's class name and HTTP status and error code."""
    try:
        fn()
        return None
    except HttpResponseError as e:
        return {"type": type(e).__name__, "status": e.status_code, "code": getattr(e, "error_code", None)}


def generic(args):
    from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, ContainerClient, generate_container_sas
    service = BlobServiceClient.from_connection_string(args.scs)
    out = {}
    container = service.get_container_client("generic")
    container.create_container(metadata={"purpose": "test"})
    out["create_again"] = error_of(lambda: container.create_container())
    out["container_metadata"] = container.get_container_properties().metadata
    blob = container.get_blob_client("a/b/one")
    uploaded = blob.upload_blob(b"hello blob", metadata={"ownerid": "x", "Mixed_Case": "V"})
    out["upload_etag"] = uploaded["etag"]
    props = blob.get_blob_properties()
    out["properties"] = {"etag": props.etag, "size": props.size, "metadata": props.metadata,
                         "last_modified": props.last_modified.isoformat(), "blob_type": str(props.blob_type)}
    out["upload_again"] = error_of(lambda: blob.upload_blob(b"again"))  # overwrite=False: If-None-Match: *
    updated = blob.set_blob_metadata({"k": "v"}, etag=uploaded["etag"], match_condition=MatchConditions.IfNotModified)
    out["metadata_etag"] = updated["etag"]
    out["stale_metadata"] = error_of(lambda: blob.set_blob_metadata({"k": "w"}, etag=uploaded["etag"],
                                                                   match_condition=MatchConditions.IfNotModified))
    out["if_modified"] = error_of(lambda: blob.get_blob_properties(etag=updated["etag"], match_condition=MatchConditions.IfModified))
    out["download"] = blob.download_blob().readall().decode()
    container.get_blob_client("a/c/two").upload_blob(b"", metadata={"n": "2"})
    container.get_blob_client("z/three").upload_blob(b"3")
    empty = container.get_blob_client("a/c/two").download_blob().readall()
    out["download_empty"] = len(empty)
    out["list_a"] = [{"name": b.name, "metadata": b.metadata, "etag": b.etag, "size": b.size}
                     for b in container.list_blobs(name_starts_with="a/", include=["metadata"])]
    out["list_all_paged"] = [b.name for b in container.list_blobs(results_per_page=1)]
    out["missing_properties"] = error_of(lambda: container.get_blob_client("nope").get_blob_properties())
    out["missing_container"] = error_of(lambda: service.get_container_client("nope").get_container_properties())
    out["metadata_on_missing"] = error_of(lambda: container.get_blob_client("nope").set_blob_metadata({"a": "b"}))
    bad_key = "DefaultEndpointsProtocol=http;AccountName={};AccountKey={};BlobEndpoint={}".format(
        service.account_name, "d3Jvbmcga2V5IHdyb25nIGtleQ==", service.url.rstrip("/"))
    out["wrong_key"] = error_of(lambda: BlobServiceClient.from_connection_string(bad_key).get_container_client("generic")
                                .get_container_properties())
    expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    key = service.credential.account_key
    read_list = generate_container_sas(service.account_name, "generic", account_key=key,
                                       permission=ContainerSasPermissions(read=True, list=True), expiry=expiry)
    sas_container = ContainerClient.from_container_url(container.url + "?" + read_list)
    out["sas_list"] = [b.name for b in sas_container.list_blobs()]
    out["sas_write"] = error_of(lambda: sas_container.get_blob_client("sas-blob").upload_blob(b"x"))
    forged = read_list.replace("sp=rl", "sp=rwl")
    out["sas_forged"] = error_of(lambda: ContainerClient.from_container_url(container.url + "?" + forged)
                                 .get_blob_client("sas-blob").upload_blob(b"x"))
    blob.delete_blob()
    out["after_delete"] = error_of(lambda: blob.get_blob_properties())
    return out


def checkpoint_store(scs, container):
    from azure.eventhub.extensions.checkpointstoreblob import BlobCheckpointStore
    return BlobCheckpointStore.from_connection_string(scs, container)


def store_write(args):
    store = checkpoint_store(args.scs, args.container)
    base = {"fully_qualified_namespace": args.ns, "eventhub_name": args.hub, "consumer_group": args.group}
    claimed = store.claim_ownership([dict(base, partition_id=p, owner_id="python") for p in ("0", "1")])
    store.update_checkpoint(dict(base, partition_id="0", offset="42", sequence_number=7))
    return {"claimed": sorted(o["partition_id"] for o in claimed), "etags": {o["partition_id"]: o["etag"] for o in claimed}}


def store_read(args):
    store = checkpoint_store(args.scs, args.container)
    ownership = store.list_ownership(args.ns, args.hub, args.group)
    checkpoints = store.list_checkpoints(args.ns, args.hub, args.group)
    return {"ownership": {o["partition_id"]: {"owner_id": o["owner_id"], "etag": o["etag"]} for o in ownership},
            "checkpoints": {c["partition_id"]: {"offset": c["offset"], "sequence_number": c["sequence_number"]} for c in checkpoints}}


def emit(document):
    print(json.dumps(document), flush=True)


def process(args):
    from azure.eventhub import EventHubConsumerClient
    store = checkpoint_store(args.scs, args.container)
    client = EventHubConsumerClient.from_connection_string(
        args.cs, consumer_group=args.group, checkpoint_store=store, load_balancing_interval=args.interval,
        partition_ownership_expiration_interval=args.expiration, retry_total=3)
    counts = {}

    def on_event(ctx, ev):
        if ev is None:
            return
        emit({"event": {"partition": ctx.partition_id, "sequence_number": ev.sequence_number, "offset": ev.offset,
                        "body": ev.body_as_str()}})
        counts[ctx.partition_id] = counts.get(ctx.partition_id, 0) + 1
        if counts[ctx.partition_id] % args.checkpoint_every == 0:
            ctx.update_checkpoint(ev)
            emit({"checkpoint": {"partition": ctx.partition_id, "sequence_number": ev.sequence_number}})

    def on_initialize(ctx):
        emit({"claimed": ctx.partition_id})

    def on_close(ctx, reason):
        emit({"closed": ctx.partition_id, "reason": str(reason)})

    def on_error(ctx, error):
        emit({"error": str(error), "partition": ctx.partition_id if ctx else None})

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker = threading.Thread(target=lambda: client.receive(
        on_event=on_event, on_partition_initialize=on_initialize, on_partition_close=on_close, on_error=on_error,
        starting_position="-1"), daemon=True)
    worker.start()
    emit({"started": client._address.hostname if hasattr(client, "_address") else None})
    while not stop.is_set() and worker.is_alive():
        stop.wait(0.1)
    client.close()
    worker.join(30)
    emit({"stopped": True})
    return None


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generic")
    g.add_argument("scs")
    for name in ("store-write", "store-read"):
        s = sub.add_parser(name)
        for arg in ("scs", "container", "ns", "hub", "group"):
            s.add_argument(arg)
    p = sub.add_parser("process")
    p.add_argument("cs")
    p.add_argument("scs")
    p.add_argument("container")
    p.add_argument("--group", default="$Default")
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--expiration", type=float, default=5.0)
    p.add_argument("--checkpoint-every", type=int, default=1)
    args = parser.parse_args()
    result = {"generic": generic, "store-write": store_write, "store-read": store_read, "process": process}[args.command](args)
    if result is not None:
        print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
