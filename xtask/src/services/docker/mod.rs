//! The docker backend of `cargo xtask services`: each service's daemons run in
//! containers of an image built here from `docker/<name>/Dockerfile`, on a Debian base
//! made locally with debootstrap (no image is pulled from a registry; recipe in
//! `SERVICES.md`, "Docker Engine").
//!
//! The services' own `start` code runs unchanged: [`super::Ctx::spawn_daemon`] starts a
//! container instead of a process. Every container shares the host's network (there is
//! no bridge on our machines, and services bind 127.0.0.1 on ports picked free here) and
//! its pid namespace, and sees the instance's state dir and the temp dir at the same
//! paths as the host. So the env file, the health checks and the tests are the ones of
//! the native backend: the tests' client tools (`sbatch`, `python` peers) stay on the
//! host, the servers move into containers.
//!
//! testcontainers (pinned; a feature of xtask, so the native path does not build it)
//! creates and starts the containers; building images, listing and removing containers
//! use the `docker` client, which talks to engines from 20.10 on.

mod container;
mod engine;
mod image;

pub(crate) use container::{
    describe_containers, remove_containers, remove_worktree_containers, spawn,
};
pub(crate) use engine::{ensure_engine, stop_engine_if_idle};
pub(crate) use image::{ensure_base_image, ensure_service_image};
