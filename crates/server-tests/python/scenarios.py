"""PyMongo against causeway-server.

Usage: python scenarios.py --uri mongodb://127.0.0.1:P,127.0.0.1:P+1,127.0.0.1:P+2/?replicaSet=rs0 --lag-ms 300

The server must be a 3-member set whose secondaries both lag by --lag-ms (at least 300).
Runs every scenario, prints PASS or FAIL (with the reason) for each, and exits non-zero if
any failed. Started by crates/server-tests/tests/pymongo.rs, which provisions PyMongo.

The clients here use w=1. The server, like mongod, waits for a majority when a write names no
write concern; with both secondaries lagging, such a write returns only once a secondary has
applied it, and a read from a secondary right after it would be fresh whether causal
consistency waited or not. With w=1 only the primary has the write when it returns, so a
fresh read on a secondary proves that the causal session waited. The seed's code below is
otherwise exactly as written in the PyMongo documentation (client_session).
"""

import argparse
import sys
import threading
import time
import traceback

import pymongo
from pymongo import MongoClient, ReadPreference
from pymongo.monitoring import CommandListener
from pymongo.write_concern import WriteConcern

SERVER_SELECTION_TIMEOUT_MS = 10_000


class ScenarioFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise ScenarioFailed(message)


class CommandLog(CommandListener):
    """Where each command went: (command name, "host:port")."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events = []

    def started(self, event):
        with self.lock:
            self.events.append((event.command_name, "%s:%d" % event.connection_id))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    def addresses_of(self, name):
        with self.lock:
            return [address for command, address in self.events if command == name]


def connect(uri, **options):
    return MongoClient(
        uri, w=1, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS, **options
    )


def seed_causal_consistency(uri, hosts, lag):
    """The seed's first example on secondaries `lag` seconds behind: the causal read waits
    for the session's write and sees it; the same read without causal consistency is stale."""
    client = connect(uri)
    try:
        client.db.collection.drop()
        client.db.collection.with_options(write_concern=WriteConcern(w=3)).insert_one(
            {"_id": 1, "x": 0}
        )

        # --- the seed, as written ---
        with client.start_session(causal_consistency=True) as session:
            collection = client.db.collection
            collection.update_one({'_id': 1}, {'$set': {'x': 10}}, session=session)
            secondary_c = collection.with_options(
                read_preference=ReadPreference.SECONDARY)
            # A secondary read waits for replication of the write.
            started = time.monotonic()
            seen = secondary_c.find_one({'_id': 1}, session=session)
            waited = time.monotonic() - started
        # --- end of the seed ---

        check(seen is not None, "the causal read on a secondary found no document")
        check(
            seen.get("x") == 10,
            "the causal read on a secondary must see x=10, saw %r" % (seen,),
        )
        check(
            waited >= lag * 0.8,
            "the secondaries are %.0f ms behind, so the causal read must wait for the write; "
            "it took %.0f ms" % (lag * 1000, waited * 1000),
        )
        print("  causal read on a secondary waited %.0f ms and saw x=10" % (waited * 1000))

        with client.start_session(causal_consistency=False) as session:
            collection = client.db.collection
            collection.update_one({'_id': 1}, {'$set': {'x': 20}}, session=session)
            secondary_c = collection.with_options(read_preference=ReadPreference.SECONDARY)
            started = time.monotonic()
            seen = secondary_c.find_one({'_id': 1}, session=session)
            took = time.monotonic() - started
        check(
            seen is not None and seen.get("x") == 10,
            "without causal consistency a read on a secondary %.0f ms behind is stale (x=10), "
            "saw %r" % (lag * 1000, seen),
        )
        check(
            took < lag * 0.8,
            "a read without causal consistency must not wait; it took %.0f ms" % (took * 1000),
        )
        print("  the same read without causal consistency took %.0f ms and saw the stale x=10"
              % (took * 1000))
    finally:
        client.close()


def stock_inventory(client):
    client.db.orders.drop()
    client.db.inventory.drop()
    client.db.inventory.insert_one({"sku": "abc123", "qty": 100})


def check_one_order_placed(client, what):
    stock = client.db.inventory.find_one({"sku": "abc123"})
    check(
        stock is not None and stock.get("qty") == 0,
        "%s: the transaction takes the 100 units, the stock is %r" % (what, stock),
    )
    count = client.db.orders.count_documents({"sku": "abc123", "qty": 100})
    check(count == 1, "%s: exactly one order is placed, found %d" % (what, count))


def seed_transaction(uri, hosts, lag):
    """The seed's transaction in `with session.start_transaction():` commits on normal exit;
    a block that raises aborts, leaving nothing behind."""
    client = connect(uri)
    try:
        stock_inventory(client)

        # --- the seed, as written ---
        orders = client.db.orders
        inventory = client.db.inventory
        with client.start_session() as session:
            with session.start_transaction():
                orders.insert_one({"sku": "abc123", "qty": 100}, session=session)
                inventory.update_one({"sku": "abc123", "qty": {"$gte": 100}},
                                     {"$inc": {"qty": -100}}, session=session)
        # --- end of the seed ---

        check_one_order_placed(client, "start_transaction")

        class Cancelled(Exception):
            pass

        try:
            with client.start_session() as session:
                with session.start_transaction():
                    orders.insert_one({"sku": "xyz", "qty": 1}, session=session)
                    inventory.update_one({"sku": "abc123"}, {"$inc": {"qty": 50}},
                                         session=session)
                    raise Cancelled()
        except Cancelled:
            pass
        check(
            orders.count_documents({"sku": "xyz"}) == 0,
            "a transaction whose block raised is aborted: its order must not exist",
        )
        check_one_order_placed(client, "after the aborted transaction")
    finally:
        client.close()


def with_transaction_callback(uri, hosts, lag):
    """`ClientSession.with_transaction` runs the callback in a transaction, commits it and
    returns the callback's value."""
    client = connect(uri)
    try:
        stock_inventory(client)
        orders = client.db.orders
        inventory = client.db.inventory

        def place_order(session):
            orders.insert_one({"sku": "abc123", "qty": 100}, session=session)
            result = inventory.update_one({"sku": "abc123", "qty": {"$gte": 100}},
                                          {"$inc": {"qty": -100}}, session=session)
            return result.modified_count

        with client.start_session() as session:
            modified = session.with_transaction(place_order)
        check(modified == 1, "the callback's return value comes back: %r" % (modified,))
        check_one_order_placed(client, "with_transaction")
    finally:
        client.close()


def concurrent_increments(uri, hosts, lag):
    """4 threads x 50 with_transaction read-increment-write on one document: the conflicting
    attempts are retried and the total is exact."""
    threads_count, per_thread = 4, 50
    client = connect(uri)
    try:
        counters = client.db.counters
        counters.drop()
        counters.insert_one({"_id": "hits", "n": 0})
        attempts = [0]
        attempts_lock = threading.Lock()
        errors = []

        def increment(session):
            with attempts_lock:
                attempts[0] += 1
            current = counters.find_one({"_id": "hits"}, session=session)
            if current is None:
                raise ScenarioFailed("the counter disappeared")
            counters.update_one({"_id": "hits"}, {"$set": {"n": current["n"] + 1}},
                                session=session)

        def worker(index):
            try:
                with client.start_session() as session:
                    for _ in range(per_thread):
                        session.with_transaction(increment)
            except Exception as error:  # reported below, with its thread
                errors.append("thread %d: %s: %s" % (index, type(error).__name__, error))

        workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads_count)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        check(not errors, "increments failed: %s" % "; ".join(errors))
        total = counters.find_one({"_id": "hits"})["n"]
        print("  total %d after %d transactions in %d attempts"
              % (total, threads_count * per_thread, attempts[0]))
        check(
            total == threads_count * per_thread,
            "%d committed increments must total %d, the counter is %d"
            % (threads_count * per_thread, threads_count * per_thread, total),
        )
    finally:
        client.close()


def discovery_and_secondary_routing(uri, hosts, lag):
    """Seeded with one secondary only, PyMongo discovers the set; writes go to the primary
    (member 0) and ReadPreference.SECONDARY reads to a secondary."""
    seed = "mongodb://%s/?replicaSet=%s" % (hosts[1], replica_set_of(uri))
    log = CommandLog()
    client = connect(seed, event_listeners=[log])
    try:
        client.admin.command("ping")
        deadline = time.monotonic() + 10
        while set("%s:%d" % node for node in client.nodes) != set(hosts):
            check(time.monotonic() < deadline,
                  "from the seed %s the client discovers %s, it knows %s"
                  % (hosts[1], hosts, sorted(client.nodes)))
            time.sleep(0.05)
        primary = "%s:%d" % client.primary
        check(primary == hosts[0], "member 0 (%s) is the primary, the client says %s"
              % (hosts[0], primary))
        secondaries = sorted("%s:%d" % node for node in client.secondaries)
        check(secondaries == sorted(hosts[1:]),
              "the other members are secondaries: %s, the client says %s"
              % (hosts[1:], secondaries))

        hello = client.admin.command("hello", read_preference=ReadPreference.SECONDARY)
        check(hello.get("secondary") is True and hello.get("me") in hosts[1:],
              "hello with ReadPreference.SECONDARY reaches a secondary: %r" % (hello,))

        probes = client.db.probes
        probes.drop()
        probes.insert_one({"_id": "probe"})
        on_secondary = probes.with_options(read_preference=ReadPreference.SECONDARY).find_one(
            {"_id": "probe"})
        on_primary = probes.find_one({"_id": "probe"})
        check(on_secondary is None,
              "a secondary %.0f ms behind has not applied the w=1 insert yet, found %r"
              % (lag * 1000, on_secondary))
        check(on_primary == {"_id": "probe"}, "the primary has the insert: %r" % (on_primary,))

        inserts = log.addresses_of("insert")
        finds = log.addresses_of("find")
        check(inserts == [hosts[0]], "the insert goes to the primary %s: %s"
              % (hosts[0], inserts))
        check(len(finds) == 2 and finds[0] in hosts[1:] and finds[1] == hosts[0],
              "the secondary read goes to a secondary, the default read to the primary: %s"
              % (finds,))
        print("  seeded with %s: primary %s, secondaries %s; the SECONDARY read went to %s"
              % (hosts[1], primary, ", ".join(secondaries), finds[0]))
    finally:
        client.close()


def replica_set_of(uri):
    options = pymongo.uri_parser.parse_uri(uri)["options"]
    return options.get("replicaset") or options.get("replicaSet")


SCENARIOS = [
    seed_causal_consistency,
    seed_transaction,
    with_transaction_callback,
    concurrent_increments,
    discovery_and_secondary_routing,
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True, help="the server's ready-line URI")
    parser.add_argument("--lag-ms", type=int, required=True,
                        help="the lag of the secondaries")
    args = parser.parse_args()
    hosts = ["%s:%d" % node for node in pymongo.uri_parser.parse_uri(args.uri)["nodelist"]]
    if len(hosts) != 3:
        sys.exit("the scenarios need a 3-member set, the URI names %s" % hosts)
    lag = args.lag_ms / 1000.0
    print("PyMongo %s on Python %s against %s" % (pymongo.version, sys.version.split()[0],
                                                  args.uri))
    failed = []
    for scenario in SCENARIOS:
        started = time.monotonic()
        try:
            scenario(args.uri, hosts, lag)
        except Exception as error:
            failed.append(scenario.__name__)
            print("FAIL %s: %s: %s" % (scenario.__name__, type(error).__name__, error))
            traceback.print_exc(file=sys.stdout)
        else:
            print("PASS %s (%.2f s)" % (scenario.__name__, time.monotonic() - started))
        sys.stdout.flush()
    if failed:
        print("%d of %d PyMongo scenarios FAILED: %s"
              % (len(failed), len(SCENARIOS), ", ".join(failed)))
        sys.exit(1)
    print("all %d PyMongo scenarios passed" % len(SCENARIOS))


if __name__ == "__main__":
    main()
