/*
 * The codec fixtures of `amqp-bench codec`, encoded and decoded by Qpid Proton C (0.37).
 *
 * Prints one line per fixture in amqp-bench's format:
 *   <fixture> encode_ns=<n> decode_ns=<n> encode_allocs=<n> decode_allocs=<n>
 * Built by scripts/bench.sh with Sources/CMallocCounter/malloc_counter.c, so allocations are
 * counted the same way on both sides. Sources/amqp-bench/Fixtures.swift defines the fixtures;
 * keep the values here in step with it.
 *
 * What each side does per operation:
 * - eh-transfer: Proton's transport writes the transfer frame of a pre-settled delivery
 *   (pn_message_send into a reused buffer, pn_delivery_settle, the transport's output, popped);
 *   decoding pushes such frames into a receiving transport and reads each delivery
 *   (pn_link_recv, pn_message_decode). Proton has no public encoder for a lone performative, so
 *   this includes its delivery bookkeeping; eh-message is the message alone on both sides.
 * - eh-message, data1m: pn_message_encode into a reused buffer / pn_message_decode into a reused
 *   message.
 * - eh-message-lazy: Proton has no lazy decoding; a consumer that reads one annotation and the
 *   body decodes the whole message (pn_message_decode), then looks the annotation up and takes
 *   the body's bytes. Encoding is pn_message_encode, as for eh-message.
 * - map100, symbols1000, open, attach, flow: pn_data_encode of a prepared pn_data_t into a reused
 *   buffer / pn_data_clear + pn_data_decode. pn_data is Proton's only public codec for values and
 *   performatives.
 */
#include <proton/codec.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/link.h>
#include <proton/message.h>
#include <proton/session.h>
#include <proton/transport.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "CMallocCounter.h"

static const int64_t epoch_ms = 1700000000000LL;
static long sink;
static int quick;
/* --loop: the operation counted under callgrind; loop_count 0 means measure as usual. */
static long loop_count;
static int loop_decode;
static const char *loop_fixture;

static void die(const char *what) {
  fprintf(stderr, "codec-bench: %s\n", what);
  exit(2);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

typedef long (*op_fn)(void *);

/* The fastest of several calibrated batches, as amqp-bench measures. */
static long time_op(op_fn op, void *ctx) {
  int batches = quick ? 3 : 9;
  int64_t batch_ns = quick ? 10000000LL : 40000000LL;
  long iterations = 1;
  for (;;) {
    int64_t t0 = now_ns();
    for (long i = 0; i < iterations; i++) sink += op(ctx);
    if (now_ns() - t0 >= batch_ns || iterations >= (1L << 30)) break;
    iterations *= 2;
  }
  int64_t best = INT64_MAX;
  for (int b = 0; b < batches; b++) {
    int64_t t0 = now_ns();
    for (long i = 0; i < iterations; i++) sink += op(ctx);
    int64_t per = (now_ns() - t0) / iterations;
    if (per < best) best = per;
  }
  return (long)best;
}

static long count_allocs(op_fn op, void *ctx) {
  const int rounds = 16;
  sink += op(ctx);
  uint64_t before = amqp_malloc_counter_allocations();
  for (int i = 0; i < rounds; i++) sink += op(ctx);
  uint64_t total = amqp_malloc_counter_allocations() - before;
  return (long)((total + rounds - 1) / rounds);
}

/* The only code callgrind counts in --loop mode (--toggle-collect=measured_loop). */
__attribute__((noinline)) static void measured_loop(op_fn op, void *ctx, long count) {
  for (long i = 0; i < count; i++) sink += op(ctx);
}

/* In --loop mode: whether this fixture is the one asked for. */
static int looping(const char *name) { return loop_count > 0 && !strcmp(name, loop_fixture); }

static void report(const char *name, op_fn enc, void *ectx, op_fn dec, void *dctx) {
  if (loop_count > 0) {
    if (!looping(name)) return;
    op_fn op = loop_decode ? dec : enc;
    void *ctx = loop_decode ? dctx : ectx;
    sink += op(ctx); /* first-use costs stay outside the counted loop */
    measured_loop(op, ctx, loop_count);
    return;
  }
  long ea = count_allocs(enc, ectx), da = count_allocs(dec, dctx);
  long en = time_op(enc, ectx), dn = time_op(dec, dctx);
  printf("%s encode_ns=%ld decode_ns=%ld encode_allocs=%ld decode_allocs=%ld\n", name, en, dn, ea, da);
  fflush(stdout);
}

/* ---- fixtures ---------------------------------------------------------------------------- */

static char kibibyte[1024];
static char *mebibyte;

static void put_symbol(pn_data_t *d, const char *s) { pn_data_put_symbol(d, pn_bytes(strlen(s), s)); }
static void put_string(pn_data_t *d, const char *s) { pn_data_put_string(d, pn_bytes(strlen(s), s)); }

static pn_message_t *event_hubs_message(void) {
  pn_message_t *m = pn_message();
  pn_message_set_durable(m, true);
  pn_data_t *a = pn_message_annotations(m);
  pn_data_put_map(a);
  pn_data_enter(a);
  put_symbol(a, "x-opt-partition-key"); put_string(a, "device-0042");
  put_symbol(a, "x-opt-sequence-number"); pn_data_put_long(a, 123456789);
  put_symbol(a, "x-opt-offset"); put_string(a, "98765432100");
  put_symbol(a, "x-opt-enqueued-time"); pn_data_put_timestamp(a, epoch_ms);
  pn_data_exit(a);
  pn_atom_t id = {.type = PN_UUID};
  const uint8_t uuid[16] = {0x1b, 0x4e, 0x28, 0xba, 0x2f, 0xa1, 0x11, 0xd2, 0x88, 0x3f, 0x00, 0x16, 0xd3, 0xcc, 0xa4, 0x27};
  memcpy(id.u.as_uuid.bytes, uuid, 16);
  pn_message_set_id(m, id);
  pn_message_set_content_type(m, "application/octet-stream");
  pn_message_set_creation_time(m, epoch_ms);
  pn_message_set_group_id(m, "group-7");
  pn_data_t *p = pn_message_properties(m);
  pn_data_put_map(p);
  pn_data_enter(p);
  put_string(p, "tenant"); put_string(p, "contoso");
  put_string(p, "attempt"); pn_data_put_long(p, 3);
  put_string(p, "urgent"); pn_data_put_bool(p, true);
  put_string(p, "score"); pn_data_put_double(p, 0.75);
  put_string(p, "observed-at"); pn_data_put_timestamp(p, epoch_ms + 123);
  pn_data_exit(p);
  pn_message_set_inferred(m, true); /* a binary body is a data section */
  pn_data_put_binary(pn_message_body(m), pn_bytes(sizeof kibibyte, kibibyte));
  return m;
}

static pn_message_t *data1m_message(void) {
  pn_message_t *m = pn_message();
  pn_message_set_inferred(m, true);
  pn_data_put_binary(pn_message_body(m), pn_bytes(1 << 20, mebibyte));
  return m;
}

static pn_data_t *map100(void) {
  pn_data_t *d = pn_data(0);
  pn_data_put_map(d);
  pn_data_enter(d);
  for (int i = 0; i < 100; i++) {
    char key[16];
    snprintf(key, sizeof key, "key-%03d", i);
    put_string(d, key);
    pn_data_put_long(d, (int64_t)i * 1000003);
  }
  pn_data_exit(d);
  return d;
}

static pn_data_t *symbols1000(void) {
  pn_data_t *d = pn_data(0);
  pn_data_put_array(d, false, PN_SYMBOL);
  pn_data_enter(d);
  for (int i = 0; i < 1000; i++) {
    char s[16];
    snprintf(s, sizeof s, "sym-%04d", i);
    put_symbol(d, s);
  }
  pn_data_exit(d);
  return d;
}

/* Performatives as Proton's public codec can write them: a described list, in the field order
 * and with the nulls of the compact encoding amqp-bench writes. */
static pn_data_t *open_performative(void) {
  pn_data_t *d = pn_data(0);
  pn_data_put_described(d);
  pn_data_enter(d);
  pn_data_put_ulong(d, 0x10);
  pn_data_put_list(d);
  pn_data_enter(d);
  put_string(d, "swift-amqp-bench-4f9c2d7e-0123-4567-89ab-cdef01234567");
  put_string(d, "bench.servicebus.example.net");
  pn_data_put_uint(d, 1 << 20);
  pn_data_put_ushort(d, 255);
  pn_data_put_uint(d, 60000);
  for (int i = 0; i < 4; i++) pn_data_put_null(d);
  pn_data_put_map(d);
  pn_data_enter(d);
  put_symbol(d, "product"); put_string(d, "swift-amqp");
  put_symbol(d, "platform"); put_string(d, "Swift");
  pn_data_exit(d);
  pn_data_exit(d);
  pn_data_exit(d);
  return d;
}

static void put_terminus(pn_data_t *d, uint64_t code, const char *address) {
  pn_data_put_described(d);
  pn_data_enter(d);
  pn_data_put_ulong(d, code);
  pn_data_put_list(d);
  pn_data_enter(d);
  put_string(d, address);
  pn_data_exit(d);
  pn_data_exit(d);
}

static pn_data_t *attach_performative(void) {
  pn_data_t *d = pn_data(0);
  pn_data_put_described(d);
  pn_data_enter(d);
  pn_data_put_ulong(d, 0x12);
  pn_data_put_list(d);
  pn_data_enter(d);
  put_string(d, "sender-orders-4f9c2d7e");
  pn_data_put_uint(d, 0);
  pn_data_put_bool(d, false);
  pn_data_put_ubyte(d, 0);
  pn_data_put_null(d);
  put_terminus(d, 0x28, "sender-orders-4f9c2d7e");
  put_terminus(d, 0x29, "orders");
  pn_data_put_null(d);
  pn_data_put_null(d);
  pn_data_put_uint(d, 0);
  pn_data_put_ulong(d, 1 << 20);
  pn_data_exit(d);
  pn_data_exit(d);
  return d;
}

static pn_data_t *flow_performative(void) {
  pn_data_t *d = pn_data(0);
  pn_data_put_described(d);
  pn_data_enter(d);
  pn_data_put_ulong(d, 0x13);
  pn_data_put_list(d);
  pn_data_enter(d);
  pn_data_put_uint(d, 10);
  pn_data_put_uint(d, 5000);
  pn_data_put_uint(d, 20);
  pn_data_put_uint(d, 5000);
  pn_data_put_uint(d, 0);
  pn_data_put_uint(d, 100);
  pn_data_put_uint(d, 300);
  pn_data_exit(d);
  pn_data_exit(d);
  return d;
}

/* ---- pn_data and pn_message operations ----------------------------------------------------- */

typedef struct {
  pn_data_t *value;   /* what to encode */
  pn_data_t *scratch; /* what decoding fills */
  char *buffer;
  size_t capacity;
  size_t size;        /* the encoded bytes in buffer */
} data_ctx;

static long data_encode(void *p) {
  data_ctx *c = p;
  ssize_t n = pn_data_encode(c->value, c->buffer, c->capacity);
  if (n < 0) die("pn_data_encode failed");
  return (long)n;
}

static long data_decode(void *p) {
  data_ctx *c = p;
  pn_data_clear(c->scratch);
  ssize_t n = pn_data_decode(c->scratch, c->buffer, c->size);
  if (n != (ssize_t)c->size) die("pn_data_decode failed");
  return (long)pn_data_size(c->scratch);
}

static void bench_data(const char *name, pn_data_t *value) {
  data_ctx c = {.value = value, .scratch = pn_data(0), .capacity = 1 << 16};
  c.buffer = malloc(c.capacity);
  c.size = (size_t)data_encode(&c);
  report(name, data_encode, &c, data_decode, &c);
  free(c.buffer);
  pn_data_free(c.scratch);
  pn_data_free(value);
}

typedef struct {
  pn_message_t *message;
  pn_message_t *scratch;
  char *buffer;
  size_t capacity;
  size_t size;
} message_ctx;

static long message_encode(void *p) {
  message_ctx *c = p;
  size_t size = c->capacity;
  if (pn_message_encode(c->message, c->buffer, &size) != 0) die("pn_message_encode failed");
  return (long)size;
}

static long message_decode(void *p) {
  message_ctx *c = p;
  if (pn_message_decode(c->scratch, c->buffer, c->size) != 0) die("pn_message_decode failed");
  return (long)pn_message_is_durable(c->scratch);
}

/* eh-message-lazy: what a consumer that reads one annotation and the body does with Proton,
 * which has no lazy decoding: the full decode, then the annotation and the body's bytes. */
static long message_read_one_annotation(void *p) {
  message_ctx *c = p;
  if (pn_message_decode(c->scratch, c->buffer, c->size) != 0) die("pn_message_decode failed");
  long result = 0;
  pn_data_t *annotations = pn_message_annotations(c->scratch);
  pn_data_rewind(annotations);
  if (pn_data_next(annotations) && pn_data_type(annotations) == PN_MAP) {
    pn_data_enter(annotations);
    while (pn_data_next(annotations)) {
      pn_bytes_t key = pn_data_get_symbol(annotations);
      if (!pn_data_next(annotations)) break;
      if (key.size == 21 && !memcmp(key.start, "x-opt-sequence-number", 21)) { result = (long)pn_data_get_long(annotations); break; }
    }
  }
  pn_data_t *body = pn_message_body(c->scratch);
  pn_data_rewind(body);
  if (pn_data_next(body)) result += (long)pn_data_get_binary(body).size;
  return result;
}

static void bench_message(const char *name, pn_message_t *message) {
  message_ctx c = {.message = message, .scratch = pn_message(), .capacity = (1 << 20) + 4096};
  c.buffer = malloc(c.capacity);
  c.size = (size_t)message_encode(&c);
  report(name, message_encode, &c, message_decode, &c);
  if (!strcmp(name, "eh-message")) {
    if (message_read_one_annotation(&c) != 123456789 + 1024) die("eh-message-lazy read the wrong annotation or body");
    report("eh-message-lazy", message_encode, &c, message_read_one_annotation, &c);
  }
  free(c.buffer);
  pn_message_free(c.scratch);
  pn_message_free(message);
}

/* ---- the transfer frame, through Proton's transport ---------------------------------------- */

typedef struct {
  pn_connection_t *connection;
  pn_transport_t *transport;
  pn_session_t *session;
  pn_link_t *link;
} endpoint;

static void move_bytes(pn_transport_t *from, pn_transport_t *to) {
  ssize_t pending = pn_transport_pending(from);
  while (pending > 0) {
    ssize_t pushed = pn_transport_push(to, pn_transport_head(from), (size_t)pending);
    if (pushed <= 0) die("transport refused bytes while connecting");
    pn_transport_pop(from, (size_t)pushed);
    pending = pn_transport_pending(from);
  }
}

/* A sender and a receiver joined in memory, open, with a large credit on the receiver's link. */
static void connect_pair(endpoint *client, endpoint *server) {
  client->connection = pn_connection();
  client->transport = pn_transport();
  pn_transport_bind(client->transport, client->connection);
  server->connection = pn_connection();
  server->transport = pn_transport();
  pn_transport_set_server(server->transport);
  pn_transport_bind(server->transport, server->connection);

  pn_connection_set_container(client->connection, "codec-bench-client");
  pn_connection_open(client->connection);
  client->session = pn_session(client->connection);
  pn_session_open(client->session);
  client->link = pn_sender(client->session, "bench");
  pn_terminus_set_address(pn_link_target(client->link), "bench");
  pn_link_open(client->link);

  for (int round = 0; round < 8; round++) {
    move_bytes(client->transport, server->transport);
    if (pn_connection_state(server->connection) & PN_LOCAL_UNINIT) {
      pn_connection_set_container(server->connection, "codec-bench-server");
      pn_connection_open(server->connection);
    }
    for (pn_session_t *s = pn_session_head(server->connection, PN_LOCAL_UNINIT); s; s = pn_session_head(server->connection, PN_LOCAL_UNINIT)) {
      server->session = s;
      pn_session_open(s);
    }
    for (pn_link_t *l = pn_link_head(server->connection, PN_LOCAL_UNINIT); l; l = pn_link_head(server->connection, PN_LOCAL_UNINIT)) {
      server->link = l;
      pn_terminus_copy(pn_link_target(l), pn_link_remote_target(l));
      pn_link_open(l);
      pn_link_flow(l, 1 << 30);
    }
    move_bytes(server->transport, client->transport);
  }
  if (pn_link_credit(client->link) <= 0) die("the in-memory link got no credit");
}

typedef struct {
  endpoint client, server;
  pn_message_t *message;
  pn_rwbytes_t buffer;
  uint32_t tag;
  /* Frames captured for decoding. */
  char *frames;
  size_t *frame_sizes;
  int frame_count;
  int next_frame;
  pn_message_t *received;
  char *payload;
  size_t payload_capacity;
} transfer_ctx;

/* Sends one pre-settled delivery; returns the bytes the transport wrote for it. */
static long transfer_encode(void *p) {
  transfer_ctx *c = p;
  c->tag++;
  pn_delivery_t *d = pn_delivery(c->client.link, pn_dtag((const char *)&c->tag, sizeof c->tag));
  if (pn_message_send(c->message, c->client.link, &c->buffer) < 0) die("pn_message_send failed");
  pn_delivery_settle(d);
  ssize_t pending = pn_transport_pending(c->client.transport);
  if (pending < 1024) die("the transport wrote no transfer frame");
  pn_transport_pop(c->client.transport, (size_t)pending);
  return (long)pending;
}

static long transfer_decode(void *p) {
  transfer_ctx *c = p;
  if (c->next_frame == c->frame_count) {
    /* Refill untimed work is not possible inside a timed batch; frames are reused by delivery-id
     * order only once, so the pool is large and refilled here (rarely: see frame_count). */
    die("ran out of captured frames");
  }
  size_t size = c->frame_sizes[c->next_frame];
  const char *frame = c->frames + (size_t)c->next_frame * 2048;
  c->next_frame++;
  if (pn_transport_push(c->server.transport, frame, size) != (ssize_t)size) die("the receiving transport refused a frame");
  pn_delivery_t *d = pn_link_current(c->server.link);
  if (!d || pn_delivery_partial(d)) die("no complete delivery after a transfer frame");
  ssize_t n = pn_link_recv(c->server.link, c->payload, c->payload_capacity);
  if (n <= 0) die("pn_link_recv failed");
  if (pn_message_decode(c->received, c->payload, (size_t)n) != 0) die("pn_message_decode failed");
  pn_delivery_settle(d);
  ssize_t out = pn_transport_pending(c->server.transport);
  if (out > 0) pn_transport_pop(c->server.transport, (size_t)out);
  return (long)n;
}

/* Captures `count` consecutive transfer frames from the sender for the receiver to read. */
static void capture_frames(transfer_ctx *c, int count) {
  c->frame_count = count;
  c->next_frame = 0;
  for (int i = 0; i < count; i++) {
    c->tag++;
    pn_delivery_t *d = pn_delivery(c->client.link, pn_dtag((const char *)&c->tag, sizeof c->tag));
    if (pn_message_send(c->message, c->client.link, &c->buffer) < 0) die("pn_message_send failed");
    pn_delivery_settle(d);
    ssize_t pending = pn_transport_pending(c->client.transport);
    if (pending <= 0 || pending > 2048) die("unexpected transfer frame size");
    memcpy(c->frames + (size_t)i * 2048, pn_transport_head(c->client.transport), (size_t)pending);
    c->frame_sizes[i] = (size_t)pending;
    pn_transport_pop(c->client.transport, (size_t)pending);
  }
}

static void bench_transfer(void) {
  transfer_ctx c = {0};
  connect_pair(&c.client, &c.server);
  c.message = event_hubs_message();
  c.received = pn_message();
  c.payload_capacity = 4096;
  c.payload = malloc(c.payload_capacity);

  if (loop_count > 0) {
    if (!looping("eh-transfer")) return;
    if (!loop_decode) {
      sink += transfer_encode(&c);
      measured_loop(transfer_encode, &c, loop_count);
      return;
    }
    c.frames = malloc((size_t)(loop_count + 1) * 2048);
    c.frame_sizes = malloc(sizeof(size_t) * (size_t)(loop_count + 1));
    capture_frames(&c, (int)loop_count + 1);
    sink += transfer_decode(&c);
    measured_loop(transfer_decode, &c, loop_count);
    return;
  }

  long encode_allocs = count_allocs(transfer_encode, &c);
  long encode_ns = time_op(transfer_encode, &c);

  /* Decoding consumes frames in delivery-id order, so each timed batch reads fresh captures:
   * the pool is sized for a batch and refilled (untimed) between batches. */
  const int pool = quick ? 20000 : 60000;
  c.frames = malloc((size_t)pool * 2048);
  c.frame_sizes = malloc(sizeof(size_t) * (size_t)pool);
  /* Frames sent before the capture (by the encode runs) never reached the receiver: discard the
   * sender's state by starting the capture on a fresh pair. */
  endpoint fresh_client, fresh_server;
  connect_pair(&fresh_client, &fresh_server);
  c.client = fresh_client;
  c.server = fresh_server;

  capture_frames(&c, 17);
  long decode_allocs = count_allocs(transfer_decode, &c);

  int batches = quick ? 3 : 9;
  int64_t best = INT64_MAX;
  for (int b = 0; b < batches; b++) {
    capture_frames(&c, pool);
    int64_t t0 = now_ns();
    for (int i = 0; i < pool; i++) sink += transfer_decode(&c);
    int64_t per = (now_ns() - t0) / pool;
    if (per < best) best = per;
  }
  printf("eh-transfer encode_ns=%ld decode_ns=%ld encode_allocs=%ld decode_allocs=%ld\n", encode_ns, (long)best, encode_allocs, decode_allocs);
  fflush(stdout);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "--loop") && i + 2 < argc && (!strcmp(argv[i + 2], "encode") || !strcmp(argv[i + 2], "decode"))) {
      loop_count = atol(argv[i + 1]);
      loop_decode = !strcmp(argv[i + 2], "decode");
      i += 2;
      if (loop_count <= 0) die("--loop needs a positive count");
    } else if (!strcmp(argv[i], "--fixture") && i + 1 < argc) loop_fixture = argv[++i];
    else die("usage: codec-bench [--quick] [--loop N encode|decode --fixture NAME]");
  }
  if (loop_count > 0 && !loop_fixture) die("--loop needs --fixture NAME");
  for (int i = 0; i < 1024; i++) kibibyte[i] = (char)(i & 0xFF);
  mebibyte = malloc(1 << 20);
  for (int i = 0; i < (1 << 20); i++) mebibyte[i] = (char)(i & 0xFF);

  bench_transfer();
  bench_data("map100", map100());
  bench_data("symbols1000", symbols1000());
  bench_message("eh-message", event_hubs_message());
  bench_message("data1m", data1m_message());
  bench_data("open", open_performative());
  bench_data("attach", attach_performative());
  bench_data("flow", flow_performative());
  if (sink == 42) fprintf(stderr, "unlikely checksum\n");
  return 0;
}
