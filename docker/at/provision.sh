#!/usr/bin/env bash
# Provision atd (Debian `at`) for the at adaptor's integration tests.
#
#   provision.sh         install the package, create the test user, allow it to use at
#   provision.sh up      start atd unless one runs already (it is a machine-wide
#                        singleton: one spool), print KEY=VALUE lines
#   provision.sh status  exit 0 if atd runs
#   provision.sh down    stop atd if this script started it
set -euo pipefail
ACTION=${1:-install}
TEST_USER=${HPCKIT_TEST_USER:-hpctest}
STATE=${HPCKIT_AT_DIR:-/var/lib/hpckit/at}

log() { echo "at: $*" >&2; }

install() {
    if ! dpkg -s at >/dev/null 2>&1; then
        if [ "$(id -u)" != 0 ]; then
            log "missing package: at; run as root or: sudo apt-get install -y at"
            exit 1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq at >&2 ||
            { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq at >&2; }
    fi
    if ! id "$TEST_USER" >/dev/null 2>&1; then
        if [ -n "${HPCKIT_TEST_GID:-}" ]; then groupadd -g "$HPCKIT_TEST_GID" "$TEST_USER"; fi
        useradd -m -s /bin/bash ${HPCKIT_TEST_UID:+-u "$HPCKIT_TEST_UID"} \
            ${HPCKIT_TEST_GID:+-g "$HPCKIT_TEST_GID"} "$TEST_USER"
    fi
    # at.deny lists system users only; make sure the test user is not in it.
    if [ -f /etc/at.deny ] && grep -qx "$TEST_USER" /etc/at.deny; then
        sed -i "/^$TEST_USER\$/d" /etc/at.deny
    fi
}

running() { pgrep -x atd >/dev/null 2>&1; }

up() {
    install
    mkdir -p "$STATE"
    if running; then
        log "reusing the running atd"
    else
        log "starting atd"
        # -b 0: no minimum interval between batch jobs; -l 100: never hold
        # jobs back for load on a busy 2-core machine.
        /usr/sbin/atd -b 0 -l 100
        touch "$STATE/started-by-hpckit"
        for _ in $(seq 50); do running && break; sleep 0.1; done
        running || { log "atd did not start"; exit 1; }
    fi
    print_env
}

print_env() {
    echo "HPCKIT_AT_USER=$TEST_USER"
    echo "HPCKIT_AT_QUEUE=a"
}

down() {
    if [ -f "$STATE/started-by-hpckit" ] && running; then
        pkill -x atd || true
    fi
    rm -f "$STATE/started-by-hpckit"
}

case "$ACTION" in
install) install ;;
up) up ;;
status) running ;;
env) print_env ;;
down) down ;;
*) echo "usage: $0 [install|up|status|env|down]" >&2; exit 2 ;;
esac
