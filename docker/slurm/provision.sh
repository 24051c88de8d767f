#!/usr/bin/env bash
# Provision a single-node Slurm 22.05 cluster (Debian packages) on this host.
#
# Used by `cargo xtask services up slurm|slurm-acct` (native backend) and by the
# Dockerfile (docker backend), so both run the same setup.
#
#   provision.sh         (no argument) install packages, create the test user: machine-wide setup
#   provision.sh up      start (or reuse a healthy running instance), print KEY=VALUE lines
#   provision.sh down    stop the daemons this script started
#   provision.sh status  exit 0 if healthy
#
# Variant: HPCKIT_SLURM_VARIANT=plain (default; no accounting: scontrol/jobcomp path)
# or acct (slurmdbd + MariaDB, so `sacct` works). The two variants are two separate
# clusters with their own config, ports, state and slurmd, so tests of both can run
# side by side. The plain cluster owns /etc/slurm/slurm.conf, so plain `sbatch` works;
# the acct cluster is reached with SLURM_CONF=<its slurm.conf>.
#
# Ports are machine-wide singletons: when the daemons already run and answer, `up`
# reuses them instead of starting a second copy. Every port is an environment knob
# and is checked free before anything is started on it.
#
# Munge: the machine's munged (default socket), or, with HPCKIT_MUNGE_SOCKET set, a
# munged of this cluster listening on that socket (slurm.conf then names it in AuthInfo,
# and, for slurmdbd, in AccountingStoragePass, so clients on the host reach the munged
# of a cluster in a container).
#
# Logs go to stderr; only KEY=VALUE lines go to stdout.
set -euo pipefail

ACTION=${1:-install}
VARIANT=${HPCKIT_SLURM_VARIANT:-plain}
HOST=$(hostname)
TEST_USER=${HPCKIT_TEST_USER:-hpctest}
MUNGE_SOCKET=${HPCKIT_MUNGE_SOCKET:-}

case "$VARIANT" in
plain)
    BASE=${HPCKIT_SLURM_DIR:-/var/lib/hpckit/slurm}
    CONF=${HPCKIT_SLURM_CONF:-/etc/slurm/slurm.conf}
    CLUSTER=hpckit
    NODE=$HOST
    CTLD_PORT=${HPCKIT_SLURMCTLD_PORT:-6817}
    SLURMD_PORT=${HPCKIT_SLURMD_PORT:-6818}
    PREFIX=HPCKIT_SLURM
    ;;
acct)
    BASE=${HPCKIT_SLURM_ACCT_DIR:-/var/lib/hpckit/slurm-acct}
    CONF=$BASE/etc/slurm.conf
    CLUSTER=hpckitacct
    NODE=acctnode
    CTLD_PORT=${HPCKIT_SLURM_ACCT_CTLD_PORT:-6827}
    SLURMD_PORT=${HPCKIT_SLURM_ACCT_SLURMD_PORT:-6828}
    DBD_PORT=${HPCKIT_SLURM_ACCT_DBD_PORT:-6829}
    DB_PORT=${HPCKIT_MARIADB_PORT:-3306}
    PREFIX=HPCKIT_SLURM_ACCT
    ;;
*)
    echo "unknown HPCKIT_SLURM_VARIANT=$VARIANT (plain or acct)" >&2
    exit 2
    ;;
esac
export SLURM_CONF=$CONF

log() { echo "slurm[$VARIANT]: $*" >&2; }

need_packages() {
    local missing=()
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        log "missing packages: ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}"
        exit 1
    fi
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2 ||
        { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2; }
}

port_busy() { ss -Htln "sport = :$1" | grep -q .; }

require_free() {
    if port_busy "$1"; then
        log "port $1 ($2) is in use by another program; set $3 to a free port"
        exit 1
    fi
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

ensure_user() {
    # HPCKIT_TEST_UID/GID (image builds): the ids the test user has on the host.
    if ! id "$TEST_USER" >/dev/null 2>&1; then
        if [ -n "${HPCKIT_TEST_GID:-}" ]; then groupadd -g "$HPCKIT_TEST_GID" "$TEST_USER"; fi
        useradd -m -s /bin/bash ${HPCKIT_TEST_UID:+-u "$HPCKIT_TEST_UID"} \
            ${HPCKIT_TEST_GID:+-g "$HPCKIT_TEST_GID"} "$TEST_USER"
    fi
}

munge_ok() {
    munge ${MUNGE_SOCKET:+-S "$MUNGE_SOCKET"} -n 2>/dev/null |
        unmunge ${MUNGE_SOCKET:+-S "$MUNGE_SOCKET"} >/dev/null 2>&1
}

ensure_munge() {
    if munge_ok; then return 0; fi
    log "starting munged${MUNGE_SOCKET:+ on $MUNGE_SOCKET}"
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    [ -f /etc/munge/munge.key ] || { /usr/sbin/mungekey -c -k /etc/munge/munge.key && chown munge:munge /etc/munge/munge.key; }
    local args=(-f)
    if [ -n "$MUNGE_SOCKET" ]; then
        mkdir -p "$(dirname "$MUNGE_SOCKET")"
        chown munge:munge "$(dirname "$MUNGE_SOCKET")"
        chmod 755 "$(dirname "$MUNGE_SOCKET")"
        args+=(--socket="$MUNGE_SOCKET")
    fi
    # -f: run despite the log-file ownership warning seen without systemd.
    runuser -u munge -- /usr/sbin/munged "${args[@]}" 2>/dev/null || /usr/sbin/munged "${args[@]}"
    for _ in $(seq 50); do
        munge_ok && return 0
        sleep 0.1
    done
    log "munged did not come up"
    exit 1
}

ensure_mariadb() {
    if mariadb-admin --protocol=socket ping >/dev/null 2>&1; then return 0; fi
    require_free "$DB_PORT" mariadb HPCKIT_MARIADB_PORT
    log "starting mariadbd on 127.0.0.1:$DB_PORT"
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >&2
    nohup /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 --port="$DB_PORT" \
        >/var/log/hpckit-mariadb.log 2>&1 &
    for _ in $(seq 100); do
        mariadb-admin --protocol=socket ping >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    log "mariadbd did not come up (see /var/log/hpckit-mariadb.log)"
    exit 1
}

write_configs() {
    mkdir -p "$BASE"/{state,spool,log,run,etc} "$(dirname "$CONF")"
    chmod 755 "$BASE" "$BASE"/log
    local cpus mem
    cpus=$(nproc)
    # Below the real memory (slurmd refuses a node that claims more than it has).
    mem=$(awk '/MemTotal/ {m=int($2/1024*0.8); print (m>8192?8192:m)}' /proc/meminfo)
    cat >"$CONF.tmp" <<EOF
# Written by hpckit docker/slurm/provision.sh ($VARIANT); do not edit.
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
${MUNGE_SOCKET:+AuthInfo=socket=$MUNGE_SOCKET}
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
MinJobAge=3600
KillWait=5
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool/slurmd-%n
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd-%n.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd-%n.log
JobCompType=jobcomp/filetxt
JobCompLoc=$BASE/log/jobcomp.log
EOF
    if [ "$VARIANT" = acct ]; then
        cat >>"$CONF.tmp" <<EOF
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
${MUNGE_SOCKET:+AccountingStoragePass=$MUNGE_SOCKET}
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
EOF
    else
        echo "AccountingStorageType=accounting_storage/none" >>"$CONF.tmp"
    fi
    cat >>"$CONF.tmp" <<EOF
NodeName=$NODE NodeHostname=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=batch Nodes=$NODE MaxTime=60 State=UP
EOF
    # The ZIH datamover stand-in's transfer jobs (`services up datamover`). Hidden,
    # so a plain `sinfo` shows only debug and batch (hpckit lists it: `sinfo -a`).
    if [ "$VARIANT" = plain ]; then
        echo "PartitionName=datamover Nodes=$NODE MaxTime=INFINITE State=UP Hidden=YES" >>"$CONF.tmp"
    fi
    mv "$CONF.tmp" "$CONF"
    chmod 644 "$CONF"
    if [ "$VARIANT" = acct ]; then
        local pw_file=$BASE/etc/dbpass
        [ -s "$pw_file" ] || { head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$pw_file"; chmod 600 "$pw_file"; }
        local pw
        pw=$(cat "$pw_file")
        mariadb --protocol=socket -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$pw';
            ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$pw';
            CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pw';
            ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pw';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
        # slurmdbd reads slurmdbd.conf from the directory of SLURM_CONF.
        cat >"$BASE/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
${MUNGE_SOCKET:+AuthInfo=socket=$MUNGE_SOCKET}
DbdHost=$HOST
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=slurm
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$pw
StorageLoc=slurm_acct_db
LogFile=$BASE/log/slurmdbd.log
PidFile=$BASE/run/slurmdbd.pid
EOF
        chown slurm:slurm "$BASE/etc/slurmdbd.conf"
        chmod 600 "$BASE/etc/slurmdbd.conf"
        chown slurm:slurm "$BASE/log" "$BASE/run"
    fi
}

healthy() {
    pid_alive "$BASE/run/slurmctld.pid" || return 1
    pid_alive "$BASE/run/slurmd-$NODE.pid" || return 1
    if [ "$VARIANT" = acct ]; then pid_alive "$BASE/run/slurmdbd.pid" || return 1; fi
    timeout 10 scontrol ping 2>/dev/null | grep -q "is UP" || return 1
    local st
    st=$(timeout 10 sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1)
    case "$st" in idle* | mixed* | allocated* | completing*) return 0 ;; *) return 1 ;; esac
}

wait_healthy() {
    for _ in $(seq 150); do
        healthy && return 0
        # A node left down/drained by an earlier run comes back on request.
        local st
        st=$(timeout 5 sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1 || true)
        case "$st" in down* | drain*) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;; esac
        sleep 0.2
    done
    log "cluster did not become healthy; logs in $BASE/log"
    tail -n 20 "$BASE"/log/*.log >&2 || true
    exit 1
}

stop_pidfile() {
    local f=$1
    if pid_alive "$f"; then
        local pid
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

print_env() {
    echo "${PREFIX}_CONF=$CONF"
    echo "${PREFIX}_CLUSTER=$CLUSTER"
    echo "${PREFIX}_NODE=$NODE"
    # Every partition the cluster has, hidden ones too (`sinfo -a` lists them).
    echo "${PREFIX}_PARTITIONS=debug,batch$([ "$VARIANT" = plain ] && echo ,datamover)"
    echo "${PREFIX}_DEFAULT_PARTITION=debug"
    echo "${PREFIX}_ACCOUNTING=$([ "$VARIANT" = acct ] && echo 1 || echo 0)"
    echo "${PREFIX}_USER=$TEST_USER"
    echo "${PREFIX}_CTLD_PORT=$CTLD_PORT"
    echo "${PREFIX}_LOG_DIR=$BASE/log"
}

up() {
    install
    if [ -f "$CONF" ] && healthy; then
        log "reusing the running cluster $CLUSTER (slurmctld port $CTLD_PORT)"
        print_env
        return 0
    fi
    ensure_munge
    stop_pidfile "$BASE/run/slurmd-$NODE.pid"
    stop_pidfile "$BASE/run/slurmctld.pid"
    require_free "$CTLD_PORT" slurmctld "${PREFIX}_CTLD_PORT"
    require_free "$SLURMD_PORT" slurmd "${PREFIX}_SLURMD_PORT"
    if [ "$VARIANT" = acct ]; then
        ensure_mariadb
        write_configs
        if ! pid_alive "$BASE/run/slurmdbd.pid"; then
            require_free "$DBD_PORT" slurmdbd HPCKIT_SLURM_ACCT_DBD_PORT
            log "starting slurmdbd on port $DBD_PORT"
            /usr/sbin/slurmdbd
            for _ in $(seq 100); do port_busy "$DBD_PORT" && break; sleep 0.2; done
        fi
        sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
    else
        write_configs
    fi
    log "starting slurmctld (port $CTLD_PORT) and slurmd $NODE (port $SLURMD_PORT)"
    /usr/sbin/slurmctld
    /usr/sbin/slurmd -N "$NODE"
    wait_healthy
    cancel_recovered_jobs
    print_env
}

# A cluster started afresh recovers the jobs of its last run from the state dir, but
# their processes died with the old slurmd: requeued, they would hold the node, and
# new jobs would wait behind them. Nobody waits for them, so they are cancelled.
cancel_recovered_jobs() {
    local ids
    ids=$(timeout 10 squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')
    [ -z "${ids// /}" ] && return 0
    log "cancelling jobs left from an earlier run: $ids"
    # shellcheck disable=SC2086 # one word per job id
    timeout 10 scancel $ids >/dev/null 2>&1 || true
}

down() {
    stop_pidfile "$BASE/run/slurmd-$NODE.pid"
    stop_pidfile "$BASE/run/slurmctld.pid"
    if [ "$VARIANT" = acct ]; then stop_pidfile "$BASE/run/slurmdbd.pid"; fi
    # munged and mariadbd may serve the other variant: leave them running.
}

install() {
    # python3: the tests' jobs run it on the node (a container has only what is listed).
    local pkgs=(slurmctld slurmd slurm-client munge iproute2 python3)
    [ "$VARIANT" = acct ] && pkgs+=(slurmdbd mariadb-server)
    need_packages "${pkgs[@]}"
    ensure_user
}

case "$ACTION" in
install) install ;;
up) up ;;
down) down ;;
status) [ -f "$CONF" ] && healthy ;;
env) print_env ;;
*)
    echo "usage: $0 [install|up|down|status|env]" >&2
    exit 2
    ;;
esac
