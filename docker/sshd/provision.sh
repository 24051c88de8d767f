#!/bin/sh
# Machine-wide, idempotent setup for the test sshds (see xtask/src/services/sshd.rs).
# Native backend: run by `cargo xtask services up sshd`; Docker: run by ./Dockerfile.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

hpckit_require_root
hpckit_ensure_packages "$here/packages"
hpckit_ensure_test_user

# Client keys shared by every worktree: one plain, one protected by a passphrase.
keys="$HPCKIT_MACHINE_DIR/sshd"
install -d -m 700 "$keys"
if [ ! -s "$keys/client_ed25519" ]; then
    rm -f "$keys/client_ed25519.pub"
    ssh-keygen -q -t ed25519 -N '' -C hpckit-test -f "$keys/client_ed25519"
fi
if [ ! -s "$keys/client_ed25519_enc" ] || [ ! -s "$keys/client_ed25519_enc.passphrase" ]; then
    rm -f "$keys/client_ed25519_enc" "$keys/client_ed25519_enc.pub"
    (umask 077 && hpckit_random_secret 16 >"$keys/client_ed25519_enc.passphrase")
    ssh-keygen -q -t ed25519 -N "$(cat "$keys/client_ed25519_enc.passphrase")" \
        -C hpckit-test-encrypted -f "$keys/client_ed25519_enc"
fi

home=$(getent passwd "$HPCKIT_TEST_USER" | cut -d: -f6)
install -d -m 700 -o "$HPCKIT_TEST_USER" -g "$HPCKIT_TEST_USER" "$home/.ssh"
auth="$home/.ssh/authorized_keys"
touch "$auth"
for pub in "$keys/client_ed25519.pub" "$keys/client_ed25519_enc.pub"; do
    grep -qxF "$(cat "$pub")" "$auth" || cat "$pub" >>"$auth"
done
# StrictModes refuses keys unless the user owns the file and nobody else can write it.
chown "$HPCKIT_TEST_USER:$HPCKIT_TEST_USER" "$auth"
chmod 600 "$auth"

# Privilege-separation directory (normally made by the init system).
install -d -m 755 /run/sshd
