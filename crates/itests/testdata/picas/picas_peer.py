"""The Python side of hpckit's picas interop tests and `cargo xtask bench picas`.

Uses the real picas 1.1.2 the way its upstream examples do (create_views.py,
push_tokens.py, local_example.py with process_task.sh); written for hpckit,
not copied. Connection from the environment: PICAS_URL (server, no
credentials), PICAS_DB, PICAS_USER, PICAS_PASSWORD.

  picas_peer.py views              the five Monitor views, as create_views.py
  picas_peer.py push FILE          one token per line, ids token_<doc_count+i>
  picas_peer.py worker [--plain] [--max-tasks N] [--max-scrub N]
                                   a RunActor worker; prints its HTTP request count
  picas_peer.py counts             overview_total as JSON
"""

import json
import os
import subprocess
import sys
import tempfile

import couchdb.http
from picas.actors import RunActor
from picas.clients import CouchDB
from picas.documents import Task

HERE = os.path.dirname(os.path.abspath(__file__))

REQUESTS = [0]
_request = couchdb.http.Session.request


def _counting_request(self, *args, **kwargs):
    REQUESTS[0] += 1
    return _request(self, *args, **kwargs)


couchdb.http.Session.request = _counting_request


def connect():
    return CouchDB(
        url=os.environ["PICAS_URL"],
        db=os.environ["PICAS_DB"],
        username=os.environ.get("PICAS_USER"),
        password=os.environ.get("PICAS_PASSWORD", ""),
    )


def views(db):
    def cond(extra):
        return "function(doc) {\n  if (doc.type == \"token\") {\n    if (%s) {\n      emit(doc._id, doc._id);\n    }\n  }\n}" % extra

    todo = "doc.lock == 0 && doc.done == 0"
    locked = "doc.lock > 0 && doc.done == 0"
    done = "doc.lock > 0 && doc.done > 0 && parseInt(doc.exit_code) == 0"
    error = "doc.lock > 0 && doc.done > 0 && parseInt(doc.exit_code) != 0"
    for name, c in [("todo", todo), ("locked", locked), ("done", done), ("error", error)]:
        db.add_view(name, cond(c))
    total = "function(doc) {\n  if (doc.type == \"token\") {\n"
    for name, c in [("todo", todo), ("locked", locked), ("done", done), ("error", error)]:
        total += "    if (%s) {\n      emit(\"%s\", 1);\n    }\n" % (c, name)
    total += "  }\n}"
    db.add_view("overview_total", total, reduce_fun="function (keys, values, rereduce) {\n    return sum(values);\n}")


def push(db, path):
    with open(path) as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    offset = db.doc_count()
    tokens = []
    for i, line in enumerate(lines):
        token = Task({"_id": "token_%d" % (offset + i), "input": line})
        token["type"] = "token"
        tokens.append(token)
    saved = db.save_documents(tokens)
    print(json.dumps({"pushed": sum(1 for s in saved if s)}))


class ExampleActor(RunActor):
    """local_example.py's actor: runs each token, attaches its logs."""

    def __init__(self, db, plain, **kwargs):
        super().__init__(db, **kwargs)
        self.plain = plain
        self.workdir = tempfile.mkdtemp(prefix="picas-peer-")

    def process_task(self, token):
        if self.plain:
            argv = ["bash", "-c", token["input"]]
        else:
            argv = ["/usr/bin/time", os.path.join(HERE, "process_task.sh"), token["input"], token["_id"]]
        proc = subprocess.run(argv, cwd=self.workdir, capture_output=True)
        out = os.path.join(self.workdir, "logs_%s.out" % token["_id"])
        err = os.path.join(self.workdir, "logs_%s.err" % token["_id"])
        with open(out, "wb") as f:
            f.write(proc.stdout)
        with open(err, "wb") as f:
            f.write(proc.stderr)
        token["exit_code"] = proc.returncode
        token.done()
        with open(out, "rb") as f:
            token.put_attachment(os.path.basename(out), f.read())
        with open(err, "rb") as f:
            token.put_attachment(os.path.basename(err), f.read())
        os.remove(out)
        os.remove(err)


def worker(db, args):
    plain = "--plain" in args
    max_tasks = int(args[args.index("--max-tasks") + 1]) if "--max-tasks" in args else None
    max_scrub = int(args[args.index("--max-scrub") + 1]) if "--max-scrub" in args else 0
    actor = ExampleActor(db, plain, view="todo")
    try:
        actor.run(max_token_time=1800, max_total_time=3600, max_tasks=max_tasks, max_scrub=max_scrub)
    except IndexError:
        # random.choice on an empty view: what ends the example's iterator
        pass
    except OSError as ex:
        # picas gives up after 10 claim conflicts in a row ("Unable to claim task")
        print(json.dumps({"gave_up": str(ex)}), file=sys.stderr)
    print(json.dumps({"tasks": actor.tasks_processed, "requests": REQUESTS[0]}))


def counts(db):
    rows = db.view("overview_total", group=True)
    print(json.dumps({row.key: row.value for row in rows}))


def main():
    db = connect()
    cmd = sys.argv[1]
    if cmd == "views":
        views(db)
    elif cmd == "push":
        push(db, sys.argv[2])
    elif cmd == "worker":
        worker(db, sys.argv[2:])
    elif cmd == "counts":
        counts(db)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
