"""A realistic python-arango session against one Tessera endpoint over HTTP.

Usage: arango_scenario.py URL ROOT_PASSWORD

Databases, collections, documents one by one and in batches, a persistent index, AQL cursors
fetched in several batches, users with per-database grants, and errors arriving as the
driver's own exception classes. Prints one line per step; exits 1 at the first failed check.
"""
import sys
import uuid

from arango import ArangoClient
from arango.exceptions import (
    AQLQueryExecuteError,
    CollectionCreateError,
    DatabaseCreateError,
    DocumentGetError,
    DocumentInsertError,
    DocumentReplaceError,
    DocumentRevisionError,
    ServerConnectionError,
)

url, root_password = sys.argv[1], sys.argv[2]
suffix = uuid.uuid4().hex[:8]
checks = 0


def check(condition, what):
    global checks
    checks += 1
    if not condition:
        print(f"FAILED: {what}", flush=True)
        sys.exit(1)


def expect_error(kind, code, what, action):
    try:
        action()
    except kind as error:
        check(error.error_code == code, f"{what}: errorNum {error.error_code}, expected {code} ({error})")
        return error
    check(False, f"{what}: no {kind.__name__}")


client = ArangoClient(hosts=url)
system = client.db("_system", username="root", password=root_password, verify=True)
check("tessera" in str(system.version()) or system.version(), "version")
print("step: connected", flush=True)

# Databases.
name = f"shop_{suffix}"
check(system.create_database(name), "create database")
check(system.has_database(name), "database listed")
expect_error(DatabaseCreateError, 1207, "duplicate database", lambda: system.create_database(name))
db = client.db(name, username="root", password=root_password)
print("step: databases", flush=True)

# Collections.
items = db.create_collection("items")
check(db.has_collection("items"), "collection listed")
expect_error(CollectionCreateError, 1207, "duplicate collection", lambda: db.create_collection("items"))
print("step: collections", flush=True)

# Documents, one at a time.
meta = items.insert({"_key": "apple", "price": 3, "tags": ["fruit"]})
check(meta["_key"] == "apple" and meta["_id"] == "items/apple", f"insert answer {meta}")
apple = items.get("apple")
check(apple["price"] == 3 and apple["tags"] == ["fruit"], f"get {apple}")
check(items.get("missing") is None, "a missing document is None")
expect_error(DocumentInsertError, 1210, "duplicate key", lambda: items.insert({"_key": "apple"}))
updated = items.update({"_key": "apple", "price": 4})
check(updated["_rev"] != meta["_rev"], "update changes the revision")
check(items.get("apple")["price"] == 4, "update applied")
expect_error(DocumentRevisionError, 1200, "replace with a stale revision",
             lambda: items.replace({"_key": "apple", "_rev": meta["_rev"], "price": 5}, check_rev=True))
# If-None-Match with the current revision: python-arango's get(rev=...) uses If-Match.
current = items.get("apple")
check(items.get({"_key": "apple", "_rev": current["_rev"]}, check_rev=True)["price"] == 4, "get with If-Match")
expect_error(DocumentRevisionError, 1200, "get with a stale If-Match",
             lambda: items.get({"_key": "apple", "_rev": meta["_rev"]}, check_rev=True))
check(items.delete("apple"), "delete")
check(not items.has("apple"), "deleted document is gone")
print("step: documents", flush=True)

# Documents in batches.
batch = [{"_key": f"k{number:03d}", "n": number, "even": number % 2 == 0} for number in range(250)]
results = items.insert_many(batch)
check(len(results) == 250 and all("_key" in result for result in results), "insert_many")
mixed = items.insert_many([{"_key": "k000"}, {"_key": "fresh", "n": 1000}])
check(isinstance(mixed[0], DocumentInsertError) and mixed[0].error_code == 1210, f"batch keeps per-document errors: {mixed[0]}")
check(mixed[1]["_key"] == "fresh", "second document of the batch inserted")
check(items.count() == 251, f"count {items.count()}")
got = items.get_many(["k001", "k002", "nope"])
check(sorted(document["_key"] for document in got) == ["k001", "k002"], f"get_many {got}")
check(len(items.delete_many([{"_key": "fresh"}])) == 1, "delete_many")
print("step: batches", flush=True)

# Indexes.
index = items.add_index({"type": "persistent", "fields": ["n"], "unique": False})
check(index["type"] == "persistent" and index["fields"] == ["n"], f"index {index}")
check(any(entry["id"] == index["id"] for entry in items.indexes()), "index listed")
print("step: indexes", flush=True)

# AQL cursors with batches.
cursor = db.aql.execute("FOR d IN items FILTER d.n >= @low SORT d.n RETURN d.n", bind_vars={"low": 50},
                        batch_size=30, count=True)
numbers = list(cursor)
check(numbers == list(range(50, 250)), f"cursor gave {len(numbers)} numbers")
check(cursor.count() == 200, f"cursor count {cursor.count()}")
evens = list(db.aql.execute("FOR d IN items FILTER d.even == true RETURN d._key", batch_size=7))
check(len(evens) == 125, f"{len(evens)} even documents")
expect_error(AQLQueryExecuteError, 1501, "a query that does not parse", lambda: db.aql.execute("FOR d IN"))
print("step: cursors", flush=True)

# Users and permissions.
reader = f"reader_{suffix}"
system.create_user(reader, "secret")
system.update_permission(reader, "ro", name)
check(system.permission(reader, name) == "ro", "grant read-only")
reader_db = client.db(name, username=reader, password="secret")
check(reader_db.collection("items").get("k001")["n"] == 1, "reader reads")
denied = expect_error(DocumentInsertError, 11, "reader writes", lambda: reader_db.collection("items").insert({"x": 1}))
check(denied.http_code == 403, f"write refused with 403, got {denied.http_code}")
try:
    client.db(name, username=reader, password="wrong", verify=True)
    check(False, "a wrong password is refused")
except ServerConnectionError:
    pass
system.delete_user(reader)
print("step: users", flush=True)

# Clean up.
check(db.delete_collection("items"), "drop collection")
check(system.delete_database(name), "drop database")
print(f"scenario passed: {checks} checks", flush=True)
