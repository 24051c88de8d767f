#!/bin/sh
# Machine-wide setup of the ZIH datamover stand-in (see xtask/src/services/datamover.rs):
# rsync and wget for the transfer jobs, the shared test user, and the group that owns
# the project space (only the datamover's gate runs with it, so the test user can
# write there only through a datamover job). The stand-in itself is a per-worktree
# build installed under .services/datamover/ by the xtask; Slurm's `datamover`
# partition comes with docker/slurm/provision.sh.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

hpckit_require_root
hpckit_ensure_packages "$here/packages"
hpckit_ensure_test_user
getent group hpcdm >/dev/null || groupadd --system hpcdm
