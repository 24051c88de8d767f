#!/bin/sh
# Machine-wide, idempotent setup for the UNICORE test server (see
# xtask/src/services/unicore.rs). The server itself is hpc-testkit's
# `unicore-testserver`, built per worktree by the xtask; this script only installs
# the peer that checks it: the real PyUNICORE 2.0.2 (with `cryptography` for key-signed
# JWTs) in /opt/hpckit/venv/unicore, made with Debian's python3.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

hpckit_require_root
hpckit_ensure_packages "$here/packages"
hpckit_ensure_venv unicore "$here/requirements.txt"
