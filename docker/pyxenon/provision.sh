#!/bin/sh
# Machine-wide, idempotent setup of the pyxenon peer (see xtask/src/services/pyxenon.rs):
# the real PyXenon 3.0.3 in the venv /opt/hpckit/venv/pyxenon, client of
# `hpckit xenon-grpc` in the interop tests and in `cargo xtask bench xenon`.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

hpckit_require_root
hpckit_ensure_packages "$here/packages"
hpckit_ensure_venv pyxenon "$here/requirements.txt"
# The client itself without its declared dependencies (see requirements.txt).
PYXENON_VERSION=3.0.3
venv=/opt/hpckit/venv/pyxenon
if ! "$venv/bin/python" -c "import xenon, sys; sys.exit(xenon.__version__ != '$PYXENON_VERSION')" 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "pyxenon==$PYXENON_VERSION"
fi
chmod -R a+rX /opt/hpckit/venv/pyxenon
