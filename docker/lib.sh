# Shared helpers for docker/<service>/provision.sh (sourced, POSIX sh).
#
# Every provision.sh is idempotent and machine-wide: it installs missing Debian
# packages, creates users and writes /etc files, and produces the same result however
# often and from whichever git worktree it runs. Per-instance state (configs, ports,
# pids, logs) is not its business: the xtask service module writes that under
# <workspace>/.services/<service>/. The same script runs inside the Dockerfiles.
set -eu

HPCKIT_MACHINE_DIR=${HPCKIT_MACHINE_DIR:-/var/lib/hpckit-services}
HPCKIT_TEST_USER=hpctest

hpckit_require_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "$0: must run as root (creates users, writes /etc)" >&2
        exit 1
    fi
}

# Installs the packages listed in file $1 that are not installed yet. A line
# "a | b" is met by any installed alternative; when none is, the first is installed
# (Debian's nodejs lacks npm, which the npm package brings; NodeSource's nodejs has it
# and conflicts with that package).
hpckit_ensure_packages() {
    missing=""
    for line in $(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$1"); do
        found=""
        for pkg in $(echo "$line" | tr '|' ' '); do
            if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
                found=$pkg
                break
            fi
        done
        [ -n "$found" ] || missing="$missing ${line%%|*}"
    done
    [ -z "$missing" ] && return 0
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 $missing
}

# Prints a fresh random alphanumeric secret of $1 characters.
hpckit_random_secret() {
    tr -dc 'A-Za-z0-9' </dev/urandom | head -c "$1"
}

# A secret kept in $HPCKIT_MACHINE_DIR/$1 (root only), created once and then reused, so
# every worktree and every later run sees the same value.
hpckit_stable_secret() {
    install -d -m 700 "$HPCKIT_MACHINE_DIR"
    file="$HPCKIT_MACHINE_DIR/$1"
    if [ ! -s "$file" ]; then
        (umask 077 && hpckit_random_secret 24 >"$file.tmp" && mv "$file.tmp" "$file")
    fi
    cat "$file"
}

# The shared test user (SSH, SFTP, FTP, schedulers): a real user with /bin/bash, a home
# directory and a stable password from $HPCKIT_MACHINE_DIR/hpctest.password.
# HPCKIT_TEST_UID/HPCKIT_TEST_GID (set by the docker backend's image builds) give it
# the ids it has on the host, so shared files and credentials name the same user.
hpckit_ensure_test_user() {
    if ! getent passwd "$HPCKIT_TEST_USER" >/dev/null; then
        if [ -n "${HPCKIT_TEST_GID:-}" ]; then
            groupadd -g "$HPCKIT_TEST_GID" "$HPCKIT_TEST_USER"
        fi
        useradd -m -s /bin/bash ${HPCKIT_TEST_UID:+-u "$HPCKIT_TEST_UID"} \
            ${HPCKIT_TEST_GID:+-g "$HPCKIT_TEST_GID"} "$HPCKIT_TEST_USER"
    fi
    grep -qx /bin/bash /etc/shells || echo /bin/bash >>/etc/shells
    password=$(hpckit_stable_secret hpctest.password)
    echo "$HPCKIT_TEST_USER:$password" | chpasswd
}

# A Python virtualenv of the project's own at /opt/hpckit/venv/$1 with the pip
# requirements listed in file $2 (one per line), for peers and servers from PyPI
# (e.g. moto, pyxenon). Made with Debian's /usr/bin/python3, never a user's pyenv or
# conda python; the calling service lists python3 and python3-venv in its packages.
# Idempotent: reinstalls only when the requirements file changed.
# Prints nothing; use /opt/hpckit/venv/$1/bin/<tool>.
hpckit_ensure_venv() {
    venv="/opt/hpckit/venv/$1"
    if [ ! -x "$venv/bin/python" ]; then
        /usr/bin/python3 -m venv "$venv"
    fi
    if ! cmp -s "$2" "$venv/.hpckit-requirements"; then
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$2"
        cp "$2" "$venv/.hpckit-requirements"
    fi
}
