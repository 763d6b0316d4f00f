#!/usr/bin/python3
"""Small Qpid Proton (Python) peers for swift-amqp's interoperability tests.

Run with the system interpreter (/usr/bin/python3), which sees python3-qpid-proton. Each mode
prints exactly one JSON line with what it saw, then exits 0; anything unexpected exits 1 with
the reason on stderr.

  serve-receiver --port P --count N [--outcomes accept,reject,release,modify] [--credit C]
      Listens on 127.0.0.1:P. Receives N messages on links the client attaches (the client
      sends); answers each unsettled one with the next outcome of the list (rejections carry
      amqp:precondition-failed). Prints {"received", "presettled", "bodies", "outcomes"}.

  serve-sender --port P --count N [--presettled]
      Listens on 127.0.0.1:P. Sends N messages (string bodies "message-<i>", message-id i) on
      links the client attaches (the client receives), as credit allows; answers a drain once
      everything is sent. When the client closes, prints {"sent", "accepted", "rejected",
      "released", "modified", "settled", "conditions", "drained"}.

  client-drain --url amqp://127.0.0.1:P/ADDRESS --credit C
      Attaches a receiver, grants C credits with drain set, and accepts what arrives until the
      sender has given the rest back. Prints {"received", "bodies", "credit"}.

  client-send --url amqp://127.0.0.1:P/ADDRESS --count N [--presettled]
      Sends N messages ("message-<i>") and waits until each is settled. Prints {"sent",
      "accepted", "rejected", "released", "modified", "settled"}.
"""

import argparse
import json
import sys
from urllib.parse import urlsplit

from proton import Condition, Delivery, Message
from proton.handlers import MessagingHandler
from proton.reactor import AtLeastOnce, AtMostOnce, Container


def emit(summary):
    sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
    sys.stdout.flush()


def body_text(message):
    return message.body if isinstance(message.body, str) else repr(message.body)


def split_url(url):
    """amqp://HOST:PORT/ADDRESS -> ("amqp://HOST:PORT", "ADDRESS")."""
    parts = urlsplit(url)
    return "%s://%s" % (parts.scheme, parts.netloc), parts.path.lstrip("/")


def fail(reason):
    sys.stderr.write(reason + "\n")
    sys.stderr.flush()
    sys.exit(1)


class Outcomes(object):
    """Counts the remote outcomes of deliveries we sent."""

    def __init__(self):
        self.counts = {"accepted": 0, "rejected": 0, "released": 0, "modified": 0, "settled": 0}
        self.conditions = []

    def record(self, delivery):
        state = delivery.remote_state
        if state == Delivery.ACCEPTED:
            self.counts["accepted"] += 1
        elif state == Delivery.REJECTED:
            self.counts["rejected"] += 1
            condition = delivery.remote.condition
            self.conditions.append([condition.name, condition.description] if condition else None)
        elif state == Delivery.RELEASED:
            self.counts["released"] += 1
        elif state == Delivery.MODIFIED:
            self.counts["modified"] += 1
        self.counts["settled"] += 1


class ServeReceiver(MessagingHandler):
    def __init__(self, port, count, outcomes, credit):
        super(ServeReceiver, self).__init__(prefetch=credit, auto_accept=False, auto_settle=True)
        self.address = "127.0.0.1:%d" % port
        self.count = count
        self.outcomes = outcomes
        self.received = 0
        self.presettled = 0
        self.bodies = []
        self.applied = []

    def on_start(self, event):
        self.acceptor = event.container.listen(self.address)

    def on_link_opening(self, event):
        if event.link.is_receiver and event.link.remote_target.address:
            event.link.target.address = event.link.remote_target.address

    def on_message(self, event):
        delivery = event.delivery
        self.received += 1
        self.bodies.append(body_text(event.message))
        if delivery.settled:
            self.presettled += 1
        else:
            outcome = self.outcomes[(self.received - 1) % len(self.outcomes)]
            self.applied.append(outcome)
            if outcome == "accept":
                self.accept(delivery)
            elif outcome == "reject":
                delivery.local.condition = Condition("amqp:precondition-failed", "rejected by the Proton peer")
                delivery.update(Delivery.REJECTED)
                delivery.settle()
            elif outcome == "release":
                self.release(delivery, delivered=False)
            elif outcome == "modify":
                delivery.local.failed = True
                delivery.local.undeliverable = True
                delivery.update(Delivery.MODIFIED)
                delivery.settle()
        if self.received == self.count:
            emit({"received": self.received, "presettled": self.presettled, "bodies": self.bodies, "outcomes": self.applied})

    def on_connection_closing(self, event):
        # The client closed (MessagingHandler answers its close for us).
        if self.received < self.count:
            fail("the client closed after %d of %d messages" % (self.received, self.count))
        self.acceptor.close()
        event.container.stop()

    def on_disconnected(self, event):
        if self.received < self.count:
            fail("the client went away after %d of %d messages" % (self.received, self.count))
        self.acceptor.close()
        event.container.stop()


class ServeSender(MessagingHandler):
    def __init__(self, port, count, presettled):
        super(ServeSender, self).__init__(auto_settle=True)
        self.address = "127.0.0.1:%d" % port
        self.count = count
        self.presettled = presettled
        self.sent = 0
        self.outcomes = Outcomes()
        self.drained = False
        self.finished = False

    def on_start(self, event):
        self.acceptor = event.container.listen(self.address)

    def on_link_opening(self, event):
        if event.link.is_sender and event.link.remote_source.address:
            event.link.source.address = event.link.remote_source.address

    def send_available(self, link):
        while link.credit > 0 and self.sent < self.count:
            message = Message(id=self.sent, body="message-%d" % self.sent)
            delivery = link.send(message)
            if self.presettled:
                delivery.settle()
            self.sent += 1

    def on_sendable(self, event):
        self.send_available(event.link)

    def on_link_flow(self, event):
        link = event.link
        if link.is_sender:
            self.send_available(link)
            if link.drain_mode and self.sent == self.count:
                link.drained()
                self.drained = True

    def on_settled(self, event):
        self.outcomes.record(event.delivery)

    def finish(self, event):
        if self.finished:
            return
        self.finished = True
        summary = dict(self.outcomes.counts)
        summary.update({"sent": self.sent, "conditions": self.outcomes.conditions, "drained": self.drained})
        emit(summary)
        self.acceptor.close()
        event.container.stop()

    def on_connection_closing(self, event):
        self.finish(event)

    def on_disconnected(self, event):
        self.finish(event)


class ClientDrain(MessagingHandler):
    def __init__(self, url, credit):
        super(ClientDrain, self).__init__(prefetch=0)
        self.url = url
        self.credit = credit
        self.bodies = []

    def on_start(self, event):
        server, address = split_url(self.url)
        self.connection = event.container.connect(server, allowed_mechs="ANONYMOUS")
        self.receiver = event.container.create_receiver(self.connection, address)

    def on_link_opened(self, event):
        if event.link.is_receiver:
            event.link.drain(self.credit)

    def on_message(self, event):
        self.bodies.append(body_text(event.message))
        self.accept(event.delivery)
        self.check(event.link)

    def on_link_flow(self, event):
        if event.link.is_receiver:
            self.check(event.link)

    def check(self, link):
        if not link.draining() and link.credit == 0 and link.queued == 0:
            emit({"received": len(self.bodies), "bodies": self.bodies, "credit": link.credit})
            self.connection.close()


class ClientSend(MessagingHandler):
    def __init__(self, url, count, presettled):
        super(ClientSend, self).__init__()
        self.url = url
        self.count = count
        self.presettled = presettled
        self.sent = 0
        self.outcomes = Outcomes()

    def on_start(self, event):
        server, address = split_url(self.url)
        self.connection = event.container.connect(server, allowed_mechs="ANONYMOUS")
        options = AtMostOnce() if self.presettled else AtLeastOnce()
        self.sender = event.container.create_sender(self.connection, address, options=options)

    def on_sendable(self, event):
        while event.sender.credit > 0 and self.sent < self.count:
            event.sender.send(Message(id=self.sent, body="message-%d" % self.sent))
            self.sent += 1
        if self.presettled and self.sent == self.count:
            self.done()

    def on_settled(self, event):
        self.outcomes.record(event.delivery)
        if self.outcomes.counts["settled"] == self.count:
            self.done()

    def done(self):
        summary = dict(self.outcomes.counts)
        summary["sent"] = self.sent
        emit(summary)
        self.connection.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["serve-receiver", "serve-sender", "client-drain", "client-send"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--url")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--credit", type=int, default=100)
    parser.add_argument("--outcomes", default="accept")
    parser.add_argument("--presettled", action="store_true")
    options = parser.parse_args()
    if options.mode == "serve-receiver":
        handler = ServeReceiver(options.port, options.count, options.outcomes.split(","), options.credit)
    elif options.mode == "serve-sender":
        handler = ServeSender(options.port, options.count, options.presettled)
    elif options.mode == "client-drain":
        handler = ClientDrain(options.url, options.credit)
    else:
        handler = ClientSend(options.url, options.count, options.presettled)
    Container(handler).run()


if __name__ == "__main__":
    main()
