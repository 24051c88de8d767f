#!/usr/bin/env bash
# The accounting variant of docker/slurm/provision.sh (slurmdbd + MariaDB, so
# `sacct` works): a second single-node cluster with its own ports and config.
HPCKIT_SLURM_VARIANT=acct exec bash "$(dirname "$0")/../slurm/provision.sh" "$@"
