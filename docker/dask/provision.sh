#!/bin/sh
# Machine-wide, idempotent setup for the `dask` service (see
# xtask/src/services/dask.rs): a virtualenv at /opt/hpckit/venv/dask with
# dask.distributed and dask-jobqueue (the benchmark's peer), pinned in
# requirements.txt, made with Debian's python3 so that jobs of every scheduler,
# running as the test user, can start `dask scheduler` and `dask worker` from it.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

hpckit_require_root
hpckit_ensure_packages "$here/packages"
hpckit_ensure_test_user
hpckit_ensure_venv dask "$here/requirements.txt"
chmod -R a+rX /opt/hpckit/venv/dask
