#!/bin/sh
# Machine-wide, idempotent setup for the test WebDAV server (see xtask/src/services/webdav.rs).
# Native backend: run by `cargo xtask services up webdav`; Docker: run by ./Dockerfile.
# Only the packages: the instance (httpd.conf, htpasswd, data) lives in the state dir,
# and Apache runs from a private config that never reads /etc/apache2.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

hpckit_require_root
hpckit_ensure_packages "$here/packages"
# The package's own instance is not used; with no init system it does not run anyway.
getent passwd www-data >/dev/null
