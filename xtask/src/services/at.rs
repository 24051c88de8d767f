//! `at`: the machine's atd (a singleton: one spool), started or reused by
//! `docker/at/provision.sh up`, for the at adaptor's tests.

use super::slurm::Batch;

/// `at`: atd from Debian's `at`.
pub(crate) static AT: Batch =
    Batch { name: "at", about: "atd (Debian at), a machine-wide singleton", docker_ports: &[] };
