"""The local stack's data on disk: what the embedded AWS acknowledged survives a restart.

``make run`` is where integrators build for days, so its tables, keys, subscriptions and
queued webhook deliveries must outlive Ctrl-C, SIGTERM and ``kill -9`` (AWS's own DynamoDB
Local keeps its data in a file by default). moto keeps everything in memory, so this
module keeps a copy in a data directory (``.local/`` under ``make run``):

- ``snapshot.json``: every table (its definition and items), every queue (its attributes
  and messages, receive counts and visibility included) and a few notes of the stack
  (the demo user's id), as of one moment; it carries a generation number;
- ``journal.jsonl``: one line per write moto acknowledged since that snapshot, appended
  *before* the answer leaves the embedded AWS (so before the API answers its client). A
  DynamoDB write is recorded as the after-image of every item it touched, read back from
  moto under the lock that serialises DynamoDB requests (so the journal's order is the
  order the writes were applied, and a transaction is one line: all or nothing). An SQS
  request that changed a queue is recorded as that queue's whole new state (queues are
  small; unchanged states, such as the poller's empty receives, are not written);
- ``cursor-secret``: the key that signs page cursors (mode 0600), so that a page link
  handed out before a restart still works after it.

Start-up (:meth:`Persistence.restore`) reads the snapshot, applies the journal's lines in
order, writes the result straight into moto's backends (:mod:`.moto_state`) and then
writes a new snapshot and an empty journal. Measured by ``make bench`` (BENCHMARKS.md):
with 10,000 sessions stored the stack is ready about 1.5 s after start, whether it replays
a journal (after ``kill -9``) or reads a snapshot (after a clean stop); journaling adds
about 0.1 ms to a write's 3-4 ms round trip.

Items go into the tables with their stream shard detached, so restored data produces no
DynamoDB Streams records (a stream consumer would otherwise re-fire every restored
change); tables and queues the stack's bootstrap did not make again are created from
their saved definitions first. The journal is folded into a new snapshot when it
outgrows the snapshot (so replay stays bounded) and at a clean stop.

Durability: each journal line is written with one ``write`` system call on an unbuffered
file. Once that returns, the line is in the operating system's page cache, which survives
the death of the process (``kill -9`` included); only a power loss or kernel crash could
lose it, which ``fsync`` would guard against at a cost measured here of 2.7 ms per write
(the write call itself: under 1 µs), nearly doubling each write for a development stack. Snapshots, rare and written by rename, are fsynced so that a new
one is never seen half-written. A line torn by a kill in mid-write is the last one, was
never acknowledged and is dropped at restore.

Why not moto's own recorder (``MOTO_ENABLE_RECORDING``, ``/moto-api/recorder/``): it logs
every HTTP request, reads included (the webhook poller's receive every second alone would
add 86,400 lines a day), and replays them over HTTP: measured here, replaying 2,000
recorded ``PutItem`` calls took 4.2 s, so 10,000 sessions would take over 20 s against a
10 s target, and the replay grows with history, not with data. Replayed writes would go
through the table's stream, and replayed ``ReceiveMessage``/``DeleteMessage`` calls use
receipt handles that no longer exist, so delivered webhooks would come back. moto has no
other persistence (its state-manager API only schedules status transitions).
"""
from __future__ import annotations

import errno
import fcntl
import io
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import requests

from chalicelib.local import moto_state
from chalicelib.local.moto_state import Scope, wire_bytes

log = logging.getLogger(__name__)

FORMAT = 1
SNAPSHOT = "snapshot.json"
JOURNAL = "journal.jsonl"
CURSOR_SECRET = "cursor-secret"
LOCK = "lock"
DATA_FILES = (SNAPSHOT, JOURNAL, CURSOR_SECRET)
SECRET_FORM = re.compile(r"[0-9a-f]{64}")  # what cursor_secret() writes
# The journal is folded into a snapshot once it is larger than this and than the snapshot.
COMPACT_MIN_BYTES = 16 * 1024 * 1024

DYNAMODB_TARGET = "DynamoDB_20120810."
SQS_TARGET = "AmazonSQS."
DYNAMODB_READS = frozenset({
    "BatchGetItem", "GetItem", "Query", "Scan", "TransactGetItems", "DescribeTable",
    "DescribeTimeToLive", "DescribeContinuousBackups", "DescribeEndpoints", "DescribeLimits",
    "DescribeBackup", "DescribeExport", "DescribeImport", "DescribeGlobalTable",
    "DescribeGlobalTableSettings", "DescribeKinesisStreamingDestination",
    "DescribeContributorInsights", "DescribeTableReplicaAutoScaling", "GetResourcePolicy",
    "ListTables", "ListTagsOfResource", "ListBackups", "ListExports", "ListImports",
    "ListGlobalTables", "ListContributorInsights"})
DYNAMODB_ITEM_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                                  "TransactWriteItems"})
DYNAMODB_TABLE_CHANGES = frozenset({"CreateTable", "UpdateTable", "DeleteTable",
                                    "UpdateTimeToLive"})
SQS_READS = frozenset({"GetQueueUrl", "GetQueueAttributes", "ListQueues", "ListQueueTags",
                       "ListDeadLetterSourceQueues", "ListMessageMoveTasks"})


class DataDirError(Exception):
    """The data directory cannot be used (in use, damaged or from an incompatible stack)."""


@dataclass
class Restored:
    """What :meth:`Persistence.restore` found in the data directory."""

    directory: Path
    tables: int = 0
    items: int = 0
    messages: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """No item in any table: a new store (the demo account is made on this only)."""
        return self.items == 0


def _dumps(value: Any) -> str:
    return json.dumps(value, default=wire_bytes, separators=(",", ":"))


def _key_id(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


# -- the saved state: a snapshot with its journal applied ---------------------------------

@dataclass
class _Saved:
    generation: int = 0
    tables: dict[Scope, dict] = field(default_factory=dict)  # definition, items by key
    queues: dict[Scope, dict] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> "_Saved":
        if data.get("format") != FORMAT:
            raise DataDirError(f"saved data of format {data.get('format')!r}, expected {FORMAT}")
        saved = cls(generation=int(data["generation"]), notes=dict(data.get("notes") or {}))
        for entry in data.get("tables", []):
            names = [name for _, name, _ in moto_state.key_shape(entry["definition"])]
            saved.tables[(entry["account"], entry["region"], entry["table"])] = {
                "definition": entry["definition"],
                "items": {_key_id({n: item[n] for n in names}): item for item in entry["items"]}}
        for queue in data.get("queues", []):
            saved.queues[(queue["account"], queue["region"], queue["queue"])] = queue
        return saved

    def _table(self, scope: Scope) -> dict:
        return self.tables.setdefault(scope, {"definition": None, "items": {}})

    def apply(self, record: dict[str, Any]) -> None:
        """One journal line: item after-images, a table's definition, a queue, or notes."""
        if "items" in record:
            for account, region, name, key, item in record["items"]:
                items = self._table((account, region, name))["items"]
                if item is None:
                    items.pop(_key_id(key), None)
                else:
                    items[_key_id(key)] = item
        elif "table" in record:
            scope = (record["account"], record["region"], record["table"])
            if record["definition"] is None:
                self.tables.pop(scope, None)
            else:
                self._table(scope)["definition"] = record["definition"]
        elif "queue" in record:
            scope = (record["account"], record["region"], record["queue"])
            if record.get("deleted"):
                self.queues.pop(scope, None)
            else:
                self.queues[scope] = record
        elif "notes" in record:
            self.notes.update(record["notes"])


def _read_journal(path: Path) -> tuple[int | None, list[dict[str, Any]]]:
    """(generation in its header, records); a torn last line (a kill in mid-write) is dropped."""
    if not path.exists():
        return None, []
    lines = path.read_bytes().split(b"\n")
    complete, torn = lines[:-1], lines[-1]
    if torn:
        log.warning("dropping a half-written last line of %s (%d bytes)", path, len(torn))
    if not complete:
        return None, []
    try:
        header = json.loads(complete[0])
        records = [json.loads(line) for line in complete[1:] if line]
    except ValueError as exc:
        raise DataDirError(f"{path} is damaged ({exc}); start with FRESH=1 to discard it") \
            from exc
    return int(header["journal"]), records


def _write_atomically(path: Path, data: bytes, mode: int = 0o666) -> None:
    """Write, fsync, rename: a reader (or a restart) sees the old file or the new, whole.
    ``mode`` (less the umask) applies from the first byte: a key is never readable by others."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _amz_request(endpoint: str, service: str, target: str, body: dict, scope: Scope) -> None:
    """One JSON-protocol call to the embedded AWS, in the scope's account and region."""
    account, region, _ = scope
    headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0",
               "x-moto-account-id": account,
               "Authorization": (f"AWS4-HMAC-SHA256 Credential=local/20260101/{region}/{service}"
                                 "/aws4_request, SignedHeaders=host, Signature=local")}
    response = requests.post(endpoint + "/", data=json.dumps(body), headers=headers, timeout=30)
    if response.status_code != 200:
        raise DataDirError(f"could not recreate a saved resource: {target} answered "
                           f"{response.status_code} {response.text[:200]}")


# -- the data directory ------------------------------------------------------------------

class Persistence:
    """The data directory of one embedded AWS: restore at start, journal while running.

    ``dynamodb_lock`` is the lock that already serialises DynamoDB requests; a snapshot
    holds it so that no DynamoDB write happens while moto's state is read out.
    """

    def __init__(self, directory: Path, dynamodb_lock: threading.RLock):
        self.directory = Path(directory)
        self.endpoint = ""  # the embedded AWS's URL, set once it listens
        self.journaling = False
        self._dynamodb_lock = dynamodb_lock
        self._journal_lock = threading.Lock()
        self._lock_file: io.BufferedWriter | None = None
        self._journal_fd: int | None = None
        self._journal_bytes = 0
        self._snapshot_bytes = 0
        self._generation = 0
        self._queue_states: dict[Scope, str] = {}  # as last written
        self._table_scopes: set[Scope] = set()  # the tables the saved data has
        self._notes: dict[str, Any] = {}

    def open(self, fresh: bool = False) -> None:
        """Take the directory (one stack at a time); ``fresh`` removes the saved data first."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.directory / LOCK, "ab")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock_file.close()
            self._lock_file = None
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise DataDirError(f"another local stack is using {self.directory}") from exc
            raise
        if fresh:  # only this module's files: the directory may hold others
            for name in DATA_FILES:
                (self.directory / name).unlink(missing_ok=True)
                (self.directory / (name + ".tmp")).unlink(missing_ok=True)

    def close(self) -> None:
        """Fold the journal into a snapshot (the next start reads one file) and let go."""
        try:
            if self.journaling and self._journal_bytes > len(self._header()):
                self.snapshot()
        finally:
            self.journaling = False
            if self._journal_fd is not None:
                os.close(self._journal_fd)
                self._journal_fd = None
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None

    def cursor_secret(self) -> str:
        """The local stage's key for page cursors, kept with the data so that a cursor handed
        out before a restart still works after it: made on first use (and again when the
        file is not one this wrote), removed by ``fresh``. Call after :meth:`open`."""
        if self._lock_file is None:
            raise DataDirError("the data directory is not open")
        path = self.directory / CURSOR_SECRET
        try:
            secret = path.read_text(encoding="ascii").strip()
        except (FileNotFoundError, UnicodeDecodeError):
            secret = ""
        if not SECRET_FORM.fullmatch(secret):
            if path.exists():
                log.warning("%s is unreadable: a new cursor key (older page links fail)", path)
            secret = secrets.token_hex(32)
            _write_atomically(path, secret.encode(), mode=0o600)
        return secret

    # ---- start-up

    def restore(self) -> Restored:
        """Put the saved tables, items and messages into moto, then start journaling."""
        saved = self._load()
        created = self._create_missing(saved)
        summary = Restored(self.directory, notes=dict(saved.notes))
        with self._dynamodb_lock:
            found = {}
            for scope, entry in saved.tables.items():
                table = moto_state.table(*scope)
                if table is None:  # its items were journaled, its definition never was
                    log.warning("saved items of %s dropped: no such table", scope[2])
                    continue
                if scope not in created and entry["definition"] is not None and \
                        moto_state.layout(moto_state.definition(table)) != \
                        moto_state.layout(entry["definition"]):
                    raise DataDirError(
                        f"table {scope[2]} was saved with other keys or indexes than the code "
                        f"declares now; start with FRESH=1 to discard the saved data in "
                        f"{self.directory}")
                found[scope] = table
            for scope, table in found.items():
                items = saved.tables[scope]["items"]
                moto_state.restore_items(table, items.values())
                summary.tables += 1
                summary.items += len(items)
            for scope, state in saved.queues.items():
                summary.messages += moto_state.restore_messages(*scope, state["messages"])
            self._notes = dict(saved.notes)
            self._generation = saved.generation
            self.snapshot()
            self.journaling = True
        return summary

    def _load(self) -> _Saved:
        snapshot_path = self.directory / SNAPSHOT
        saved = _Saved()
        if snapshot_path.exists():
            try:
                saved = _Saved.from_snapshot(json.loads(snapshot_path.read_bytes()))
            except (ValueError, KeyError) as exc:
                raise DataDirError(f"{snapshot_path} is damaged ({exc}); start with FRESH=1 "
                                   "to discard it") from exc
        generation, records = _read_journal(self.directory / JOURNAL)
        if generation is not None and generation > saved.generation:
            raise DataDirError(f"{self.directory / JOURNAL} is newer than the snapshot; "
                               "start with FRESH=1 to discard both")
        if generation == saved.generation:  # an older journal is in the snapshot already
            for record in records:
                saved.apply(record)
        return saved

    def _create_missing(self, saved: _Saved) -> set[Scope]:
        """Tables and queues the bootstrap did not make again, from their saved definitions
        (through the API, before the lock is taken: each request takes it)."""
        created = set()
        for scope, entry in saved.tables.items():
            definition = entry["definition"]
            if definition is None or moto_state.table(*scope) is not None:
                continue
            body = {k: v for k, v in definition.items() if k != "TimeToLive"}
            _amz_request(self.endpoint, "dynamodb", DYNAMODB_TARGET + "CreateTable",
                         {"TableName": scope[2], **body}, scope)
            if "TimeToLive" in definition:
                _amz_request(self.endpoint, "dynamodb", DYNAMODB_TARGET + "UpdateTimeToLive",
                             {"TableName": scope[2],
                              "TimeToLiveSpecification": definition["TimeToLive"]}, scope)
            created.add(scope)
        # Dead-letter queues first: a redrive policy must name an existing queue.
        for scope, state in sorted(saved.queues.items(),
                                   key=lambda kv: "RedrivePolicy" in kv[1]["attributes"]):
            if not moto_state.queue_exists(*scope):
                body = {"QueueName": scope[2], "Attributes": state["attributes"]}
                if state["tags"]:
                    body["tags"] = state["tags"]
                _amz_request(self.endpoint, "sqs", SQS_TARGET + "CreateQueue", body, scope)
        return created

    # ---- while running

    def note(self, name: str, value: Any) -> None:
        """Keep a small fact of the stack with the data (e.g. the demo account's ids)."""
        self._notes[name] = value
        if self.journaling:
            self._append({"notes": {name: value}})

    def after_dynamodb_write(self, operation: str, body: dict[str, Any]) -> None:
        """Journal what an acknowledged DynamoDB request changed (called under the lock)."""
        if operation in DYNAMODB_TABLE_CHANGES:
            tables = dict(moto_state.tables_named(body["TableName"]))
            for (account, region, name), table in tables.items():
                self._append({"account": account, "region": region, "table": name,
                              "definition": moto_state.definition(table)})
            name = next(iter(tables))[2] if tables else body["TableName"].rsplit("/", 1)[-1]
            gone = {scope for scope in self._table_scopes if scope[2] == name} - set(tables)
            for account, region, _ in gone:  # deleted
                self._append({"account": account, "region": region, "table": name,
                              "definition": None})
            self._table_scopes = (self._table_scopes - gone) | set(tables)
            return
        changes = []
        for table_ref, key_or_item in _touched_keys(operation, body):
            for (account, region, name), table in moto_state.tables_named(table_ref):
                key, item = moto_state.item_after(table, key_or_item)
                changes.append([account, region, name, key, item])
        if changes:
            self._append({"items": changes})

    def after_sqs_request(self) -> None:
        """Journal each queue whose state an SQS request changed (a queue is one record)."""
        with self._journal_lock:
            current = moto_state.dump_queues()
            for scope, state in current.items():
                text = _dumps(state)
                if self._queue_states.get(scope) != text:
                    self._write_line(text)
                    self._queue_states[scope] = text
            for account, region, name in set(self._queue_states) - set(current):
                self._write_line(_dumps({"account": account, "region": region, "queue": name,
                                         "deleted": True}))
                del self._queue_states[(account, region, name)]
        self._maybe_compact()

    def snapshot(self) -> None:
        """Write the whole state as a new snapshot generation and start an empty journal."""
        with self._dynamodb_lock, self._journal_lock:
            queues = moto_state.dump_queues()
            tables = moto_state.dump_tables()
            self._generation += 1
            text = _dumps({"format": FORMAT, "generation": self._generation,
                           "notes": self._notes,
                           "tables": tables, "queues": list(queues.values())}).encode()
            _write_atomically(self.directory / SNAPSHOT, text)
            header = self._header()
            _write_atomically(self.directory / JOURNAL, header)
            if self._journal_fd is not None:
                os.close(self._journal_fd)
            self._journal_fd = os.open(self.directory / JOURNAL, os.O_WRONLY | os.O_APPEND)
            self._journal_bytes = len(header)
            self._snapshot_bytes = len(text)
            self._queue_states = {scope: _dumps(state) for scope, state in queues.items()}
            self._table_scopes = {(t["account"], t["region"], t["table"]) for t in tables}

    def _header(self) -> bytes:
        """The journal's first line: the snapshot generation its lines apply to."""
        return json.dumps({"journal": self._generation}).encode() + b"\n"

    def _append(self, record: dict[str, Any]) -> None:
        with self._journal_lock:
            self._write_line(_dumps(record))
        self._maybe_compact()

    def _write_line(self, text: str) -> None:
        if self._journal_fd is None:
            raise DataDirError("the journal is not open")
        data = text.encode() + b"\n"
        written = os.write(self._journal_fd, data)  # one call: whole, or torn and unacknowledged
        while written < len(data):
            written += os.write(self._journal_fd, data[written:])
        self._journal_bytes += len(data)

    def _maybe_compact(self) -> None:
        if self._journal_bytes > max(COMPACT_MIN_BYTES, self._snapshot_bytes):
            self.snapshot()


def _touched_keys(operation: str, body: dict[str, Any]) -> Iterator[tuple[str, dict]]:
    """(table, key or item) of each item a DynamoDB write request may have changed."""
    if operation == "PutItem":
        yield body["TableName"], body["Item"]
    elif operation in ("UpdateItem", "DeleteItem"):
        yield body["TableName"], body["Key"]
    elif operation == "BatchWriteItem":
        for table, writes in body["RequestItems"].items():
            for write in writes:
                if "PutRequest" in write:
                    yield table, write["PutRequest"]["Item"]
                else:
                    yield table, write["DeleteRequest"]["Key"]
    elif operation == "TransactWriteItems":
        for entry in body["TransactItems"]:
            for kind in ("Put", "Update", "Delete"):
                if kind in entry:
                    yield entry[kind]["TableName"], entry[kind]["Item" if kind == "Put" else "Key"]


# -- the WSGI middleware -----------------------------------------------------------------

class PersistingApp:
    """WSGI middleware: journal each acknowledged write before its answer is sent.

    The answer is held back until the journal line is written; if writing fails the
    client gets a 500 (the write is not acknowledged), as a failed disk would give.
    DynamoDB requests reach it one at a time (the lock around it), so the journal's
    order is the order moto applied them.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], persistence: Persistence):
        self._app = app
        self._persistence = persistence

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        after = self._recorder(environ) if self._persistence.journaling else None
        if after is None:
            return self._app(environ, start_response)
        held: list[tuple[str, list]] = []

        def hold(status: str, headers: list, exc_info: Any = None) -> Callable:
            held[:] = [(status, headers)]
            return lambda data: None  # moto's apps return their bodies, never write()

        result = self._app(environ, hold)
        try:
            body = list(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        status, headers = held[0]
        if status.startswith("2"):
            try:
                after()
            except Exception:
                log.exception("could not save a change to %s", self._persistence.directory)
                error = json.dumps({"__type": "InternalFailure",
                                    "message": "The local data directory could not be written."})
                start_response("500 Internal Server Error",
                               [("Content-Type", "application/x-amz-json-1.0"),
                                ("Content-Length", str(len(error)))])
                return [error.encode()]
        start_response(status, headers)
        return body

    def _recorder(self, environ: dict[str, Any]) -> Callable[[], None] | None:
        """What to journal once this request has succeeded; None for a read."""
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        persistence = self._persistence
        if target.startswith(DYNAMODB_TARGET):
            operation = target[len(DYNAMODB_TARGET):]
            if operation in DYNAMODB_READS:
                return None
            if operation in DYNAMODB_ITEM_WRITES or operation in DYNAMODB_TABLE_CHANGES:
                body = _read_body(environ)
                return lambda: persistence.after_dynamodb_write(operation, json.loads(body))
            return persistence.snapshot  # a write without a journal record (PartiQL, backups)
        if target.startswith(SQS_TARGET) or _credential_service(environ) == "sqs":
            if target[len(SQS_TARGET):] in SQS_READS:
                return None
            return persistence.after_sqs_request
        if environ.get("PATH_INFO", "").startswith("/moto-api/") and \
                environ.get("REQUEST_METHOD") == "POST":
            return persistence.snapshot  # a reset, say
        return None


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request body, read once and put back for moto."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _credential_service(environ: dict[str, Any]) -> str | None:
    """The service named in a SigV4 Authorization header's credential scope."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" not in authorization:
        return None
    scope = authorization.split("Credential=", 1)[1].split(",", 1)[0].split("/")
    return scope[3] if len(scope) > 3 else None
