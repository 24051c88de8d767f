#!/bin/sh
# Machine-wide, idempotent setup for the test S3 servers (see xtask/src/services/s3.rs):
# - moto (PyPI, pinned) in a venv: closest S3 semantics, no signature checks;
# - s3s-fs (the Rust crate registry, pinned to the last release that builds with Rust 1.95): checks
#   SigV4 signatures and is fast enough for `cargo xtask bench fs`.
# Both land in $HPCKIT_TOOLS_DIR (default /opt/hpckit-tools), outside any worktree.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

hpckit_require_root
hpckit_ensure_packages "$here/packages"

tools=${HPCKIT_TOOLS_DIR:-/opt/hpckit-tools}
install -d -m 755 "$tools"

MOTO_VERSION=5.2.1
venv="$tools/moto-$MOTO_VERSION"
if [ ! -e "$venv/.complete" ]; then
    # Scripts in a venv carry absolute paths: build in place, mark when complete.
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "moto[s3]==$MOTO_VERSION" flask flask-cors
    touch "$venv/.complete"
fi

S3S_VERSION=0.14.1
s3s="$tools/s3s-fs-$S3S_VERSION"
# The docker backend's image skips it (HPCKIT_S3S_FROM_HOST=1): its container runs the
# host's build, mounted at the same path (no Rust toolchain in the image).
if [ ! -x "$s3s/bin/s3s-fs" ] && [ -z "${HPCKIT_S3S_FROM_HOST:-}" ]; then
    if ! command -v cargo >/dev/null; then
        echo "cargo is needed to build s3s-fs $S3S_VERSION" >&2
        exit 1
    fi
    # A private target dir: the shared one's lock would stall every other build for minutes.
    build=$(mktemp -d)
    cargo install "s3s-fs@$S3S_VERSION" --features binary --locked --root "$s3s" --target-dir "$build"
    rm -rf "$build"
fi
