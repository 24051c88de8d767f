#!/bin/sh
# Machine-wide, idempotent setup for the CouchDB-compatible test server (see
# xtask/src/services/couchdb.rs):
# - pouchdb-server (npm, pinned) under $HPCKIT_TOOLS_DIR (default /opt/hpckit-tools):
#   Apache CouchDB is in no registry we reach; pouchdb-server speaks its HTTP API;
# - the real Python picas 1.1.2 in the venv /opt/hpckit/venv/picas, the peer of the
#   interop tests and of `cargo xtask bench picas`.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

hpckit_require_root
hpckit_ensure_packages "$here/packages"

tools=${HPCKIT_TOOLS_DIR:-/opt/hpckit-tools}
install -d -m 755 "$tools"

POUCHDB_VERSION=4.2.0
dir="$tools/pouchdb-server-$POUCHDB_VERSION"
if [ ! -e "$dir/.complete" ]; then
    # About two minutes. npm skips leveldown's install script; its bundled
    # linux-x64 prebuild loads anyway, so --dir persistence works.
    rm -rf "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "pouchdb-server@$POUCHDB_VERSION"
    touch "$dir/.complete"
fi
# The test user (Slurm, at, ssh) runs workers and must reach the server's tools.
chmod -R a+rX "$dir"

hpckit_ensure_venv picas "$here/requirements.txt"
chmod -R a+rX /opt/hpckit/venv/picas
