/*
 * Proton C clients for the end-to-end runs of scripts/bench.sh, after Proton's examples send.c
 * and receive.c (same proactor loop and credit handling) with what the comparison needs: a
 * 1 KiB data body, pre-settled sends, SASL PLAIN, a credit window, and a rate on one line.
 *
 *   e2e-client send HOST PORT ADDRESS COUNT [--size BYTES] [--presettled] [--user NAME --password KEY]
 *   e2e-client receive HOST PORT ADDRESS COUNT [--presettled] [--credit N] [--user NAME --password KEY]
 *
 * --user/--password: SASL PLAIN, allowed without TLS (the Event Hubs emulator takes a SAS key
 * name and key this way on loopback). --credit N: keep at most N credits outstanding, topped up
 * as messages arrive, instead of granting COUNT at once — a prefetch window like an Event Hubs
 * consumer's, which bounds what the client buffers (scripts/bench.sh measures its memory).
 *
 * Prints `<mode> count=<n> seconds=<s> msgs_per_s=<r>` like amqp-bench-e2e: timed from the first
 * credit (send) or the first message (receive) to the last outcome or message.
 */
#include <proton/connection.h>
#include <proton/condition.h>
#include <proton/delivery.h>
#include <proton/link.h>
#include <proton/message.h>
#include <proton/proactor.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/transport.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  const char *host, *port, *address, *user, *password;
  int count, size, presettled, sending, credit;
  pn_proactor_t *proactor;
  pn_message_t *message;
  pn_rwbytes_t buffer;
  int sent, settled, received;
  double start;
  int failed;
} app_t;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void finish(app_t *app, pn_connection_t *c, int n) {
  double seconds = now() - app->start;
  printf("%s%s count=%d seconds=%.3f msgs_per_s=%d\n", app->sending ? "send" : "receive",
         app->presettled ? "-presettled" : "", n, seconds, (int)(n / seconds));
  fflush(stdout);
  pn_connection_close(c);
}

static void check(app_t *app, pn_event_t *e, pn_condition_t *cond) {
  if (pn_condition_is_set(cond)) {
    fprintf(stderr, "e2e-client: %s: %s: %s\n", pn_event_type_name(pn_event_type(e)),
            pn_condition_get_name(cond), pn_condition_get_description(cond));
    pn_connection_close(pn_event_connection(e));
    app->failed = 1;
  }
}

static int handle(app_t *app, pn_event_t *e) {
  switch (pn_event_type(e)) {
  case PN_CONNECTION_INIT: {
    pn_connection_t *c = pn_event_connection(e);
    pn_session_t *s = pn_session(c);
    pn_connection_set_container(c, app->sending ? "e2e-sender" : "e2e-receiver");
    pn_connection_open(c);
    pn_session_open(s);
    pn_link_t *l = app->sending ? pn_sender(s, "e2e-sender") : pn_receiver(s, "e2e-receiver");
    if (app->presettled) pn_link_set_snd_settle_mode(l, PN_SND_SETTLED);
    if (app->sending) pn_terminus_set_address(pn_link_target(l), app->address);
    else pn_terminus_set_address(pn_link_source(l), app->address);
    pn_link_open(l);
    if (!app->sending) pn_link_flow(l, app->credit > 0 && app->credit < app->count ? app->credit : app->count);
    break;
  }
  case PN_LINK_FLOW: {
    pn_link_t *l = pn_event_link(e);
    if (!app->sending) break;
    if (app->start == 0) app->start = now();
    while (pn_link_credit(l) > 0 && app->sent < app->count) {
      ++app->sent;
      pn_delivery_t *d = pn_delivery(l, pn_dtag((const char *)&app->sent, sizeof app->sent));
      if (pn_message_send(app->message, l, &app->buffer) < 0) {
        fprintf(stderr, "e2e-client: pn_message_send: %s\n", pn_error_text(pn_message_error(app->message)));
        exit(1);
      }
      if (app->presettled) {
        pn_delivery_settle(d);
        if (++app->settled == app->count) finish(app, pn_event_connection(e), app->count);
      }
    }
    break;
  }
  case PN_DELIVERY: {
    pn_delivery_t *d = pn_event_delivery(e);
    pn_link_t *l = pn_delivery_link(d);
    if (app->sending) {
      if (pn_delivery_remote_state(d) != PN_ACCEPTED) {
        fprintf(stderr, "e2e-client: unexpected delivery state %d\n", (int)pn_delivery_remote_state(d));
        app->failed = 1;
        pn_connection_close(pn_event_connection(e));
        break;
      }
      pn_delivery_settle(d);
      if (++app->settled == app->count) finish(app, pn_event_connection(e), app->count);
    } else if (pn_delivery_readable(d) && !pn_delivery_partial(d)) {
      if (app->start == 0) app->start = now();
      size_t size = pn_delivery_pending(d);
      if (app->buffer.size < size) {
        app->buffer.start = realloc(app->buffer.start, size);
        app->buffer.size = size;
      }
      ssize_t n = pn_link_recv(l, app->buffer.start, size);
      if (n < 0 || pn_message_decode(app->message, app->buffer.start, (size_t)n) != 0) {
        fprintf(stderr, "e2e-client: cannot read a message\n");
        app->failed = 1;
      }
      if (!pn_delivery_settled(d)) pn_delivery_update(d, PN_ACCEPTED);
      pn_delivery_settle(d);
      if (++app->received == app->count) {
        finish(app, pn_event_connection(e), app->count);
      } else if (app->credit > 0) {
        /* Top up once half the window is used, never beyond COUNT in all. */
        int outstanding = pn_link_credit(l);
        int wanted = app->count - app->received - outstanding;
        int room = app->credit - outstanding;
        if (outstanding <= app->credit / 2 && wanted > 0) pn_link_flow(l, wanted < room ? wanted : room);
      }
    }
    break;
  }
  case PN_TRANSPORT_CLOSED:
    check(app, e, pn_transport_condition(pn_event_transport(e)));
    break;
  case PN_CONNECTION_REMOTE_CLOSE:
    check(app, e, pn_connection_remote_condition(pn_event_connection(e)));
    pn_connection_close(pn_event_connection(e));
    break;
  case PN_LINK_REMOTE_CLOSE:
  case PN_LINK_REMOTE_DETACH:
    check(app, e, pn_link_remote_condition(pn_event_link(e)));
    pn_connection_close(pn_event_connection(e));
    break;
  case PN_PROACTOR_INACTIVE:
    return 0;
  default:
    break;
  }
  return 1;
}

int main(int argc, char **argv) {
  app_t app = {0};
  app.size = 1024;
  if (argc < 6 || (strcmp(argv[1], "send") && strcmp(argv[1], "receive"))) {
    fprintf(stderr, "usage: e2e-client send|receive HOST PORT ADDRESS COUNT [--size BYTES] [--presettled] [--credit N]"
                    " [--user NAME --password KEY]\n");
    return 2;
  }
  app.sending = !strcmp(argv[1], "send");
  app.host = argv[2];
  app.port = argv[3];
  app.address = argv[4];
  app.count = atoi(argv[5]);
  for (int i = 6; i < argc; i++) {
    if (!strcmp(argv[i], "--presettled")) app.presettled = 1;
    else if (!strcmp(argv[i], "--size") && i + 1 < argc) app.size = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--credit") && i + 1 < argc) app.credit = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--user") && i + 1 < argc) app.user = argv[++i];
    else if (!strcmp(argv[i], "--password") && i + 1 < argc) app.password = argv[++i];
    else { fprintf(stderr, "e2e-client: unknown option %s\n", argv[i]); return 2; }
  }
  app.message = pn_message();
  if (app.sending) {
    char *body = malloc((size_t)app.size);
    memset(body, 0x61, (size_t)app.size);
    pn_message_set_inferred(app.message, true);
    pn_data_put_binary(pn_message_body(app.message), pn_bytes((size_t)app.size, body));
    free(body);
  }
  char address[PN_MAX_ADDR];
  pn_proactor_addr(address, sizeof address, app.host, app.port);
  app.proactor = pn_proactor();
  pn_connection_t *connection = NULL;
  pn_transport_t *transport = NULL;
  if (app.user) {
    connection = pn_connection();
    pn_connection_set_user(connection, app.user);
    pn_connection_set_password(connection, app.password ? app.password : "");
    transport = pn_transport();
    pn_sasl_t *sasl = pn_sasl(transport);
    /* Proton refuses to send a password in clear text unless told that it may. */
    pn_sasl_set_allow_insecure_mechs(sasl, true);
    pn_sasl_allowed_mechs(sasl, "PLAIN");
  }
  pn_proactor_connect2(app.proactor, connection, transport, address);
  for (int running = 1; running;) {
    pn_event_batch_t *events = pn_proactor_wait(app.proactor);
    for (pn_event_t *e = pn_event_batch_next(events); e; e = pn_event_batch_next(events)) {
      if (!handle(&app, e)) { running = 0; break; }
    }
    pn_proactor_done(app.proactor, events);
  }
  pn_proactor_free(app.proactor);
  pn_message_free(app.message);
  free(app.buffer.start);
  int done = app.sending ? app.settled : app.received;
  if (app.failed || done != app.count) {
    fprintf(stderr, "e2e-client: finished %d of %d\n", done, app.count);
    return 1;
  }
  return 0;
}
