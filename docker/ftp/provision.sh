#!/bin/sh
# Machine-wide, idempotent setup for the test FTP server (see xtask/src/services/ftp.rs):
# vsftpd with the shared real user `hpctest` (same home and password as the SSH tests).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

hpckit_require_root
hpckit_ensure_packages "$here/packages"
hpckit_ensure_test_user

# vsftpd refuses to start without its (empty, root-owned) secure_chroot_dir.
install -d -m 755 -o root -g root /var/run/vsftpd/empty

# A directory the test user can read but not write: permission-denied tests.
home=$(getent passwd "$HPCKIT_TEST_USER" | cut -d: -f6)
install -d -m 755 -o root -g root "$home/hpckit-readonly"
[ -e "$home/hpckit-readonly/README" ] || echo "read-only area for permission tests" >"$home/hpckit-readonly/README"
