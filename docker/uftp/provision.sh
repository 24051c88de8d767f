#!/bin/sh
# Machine-wide, idempotent setup for the UFTP test servers (see
# xtask/src/services/uftp.rs). The servers are hpc-testkit's `uftpd-testserver` and
# `unicore-testserver` (its /rest/auth endpoint), built per worktree by the xtask; this
# script installs the peers that check them: PyUNICORE 2.0.2 (uftp module) and the
# pyuftp 1.1.1 command in /opt/hpckit/venv/uftp, made with Debian's python3.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

hpckit_require_root
hpckit_ensure_packages "$here/packages"
hpckit_ensure_venv uftp "$here/requirements.txt"
