#!/bin/sh
# Machine-wide setup for the Torque stand-in (see xtask/src/services/torque.rs): only
# the shared test user, which submits jobs over SSH. The stand-in itself is a
# per-worktree build installed under .services/torque/ by the xtask.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

hpckit_require_root
hpckit_ensure_test_user
