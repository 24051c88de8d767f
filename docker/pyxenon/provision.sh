#!/bin/sh
# Machine-wide, idempotent setup of the pyxenon peer (see xtask/src/services/pyxenon.rs):
# the real PyXenon 3.0.3 in the venv /opt/hpckit/venv/pyxenon, client of
# `hpckit xenon-grpc` in the interop tests and in `cargo xtask bench xenon`.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

hpckit_require_root
hpckit_ensure_packages "$here/packages"
hpckit_ensure_venv pyxenon "$here/requirements.txt"
chmod -R a+rX /opt/hpckit/venv/pyxenon
