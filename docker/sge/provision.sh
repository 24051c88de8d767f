#!/bin/sh
# Machine-wide, idempotent setup of a single-host Grid Engine 8.1.9 cell (Debian
# packages) for hpckit's integration tests: qmaster and execd on this host, queue
# all.q, parallel environment smp, 1 s scheduling, 1 s accounting flush.
# Native backend: run by `cargo xtask services up sge` (xtask/src/services/sge.rs);
# Docker: run by ./Dockerfile.
#
# Grid Engine's daemons are machine-wide singletons (ports 6444 and 6445, one
# spool in /var/spool/gridengine), so a healthy running cell is reused and
# only its configuration is re-applied. Recipe and traps: shared/SERVICES.md.
#
# Environment (optional): SGE_SLOTS (slots of all.q, default 16), SGE_PE
# (name of the parallel environment, default smp).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

hpckit_require_root
hpckit_ensure_packages "$here/packages"
hpckit_ensure_test_user

SGE_ROOT=/var/lib/gridengine
SGE_CELL=default
export SGE_ROOT SGE_CELL
SLOTS=${SGE_SLOTS:-16}
PE=${SGE_PE:-smp}
COMMON=$SGE_ROOT/$SGE_CELL/common
SPOOL=/var/spool/gridengine
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

log() { echo "sge: $*" >&2; }

healthy() {
    # The cell is usable when the qmaster answers and all.q has an execd behind it.
    qstat -g c 2>/dev/null | grep -q '^all\.q ' || return 1
    [ "$(qconf -sq all.q 2>/dev/null | awk '$1 == "slots" {print $2}')" != "" ] || return 1
    qhost 2>/dev/null | awk 'NR > 3 && $1 == "localhost" && $7 != "-" {found = 1} END {exit !found}'
}

write_cell_files() {
    # The qmaster resolves 127.0.0.1 to "localhost" while clients name this
    # host by its hostname: alias the two and use "localhost" everywhere.
    echo localhost > "$COMMON/act_qmaster"
    echo "localhost $(hostname)" > "$COMMON/host_aliases"
    if [ ! -e "$SPOOL/spooldb/sge" ]; then
        /usr/share/gridengine/scripts/init_cluster "$SGE_ROOT" "$SGE_CELL" "$SPOOL/spooldb" sgeadmin >&2
    fi
    # Without these the qmaster cannot open its BerkeleyDB spool and writes no
    # accounting file.
    chown -R sgeadmin:sgeadmin "$SPOOL" "$COMMON"
}

start_qmaster() {
    if qstat -g c >/dev/null 2>&1; then
        return
    fi
    for port in 6444 6445; do
        if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
            log "port $port is taken by another program; Grid Engine needs it (see /etc/services)"
            exit 1
        fi
    done
    log "starting sge_qmaster"
    /usr/sbin/sge_qmaster
    i=0
    until qstat -g c >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 100 ] || { log "qmaster did not answer within 20 s"; exit 1; }
        sleep 0.2
    done
}

configure_cluster() {
    qconf -ah localhost >/dev/null 2>&1 || true
    qconf -as localhost >/dev/null 2>&1 || true
    if ! qconf -se localhost >/dev/null 2>&1; then
        cat > "$WORK/exechost" <<CONF
hostname              localhost
load_scaling          NONE
complex_values        NONE
user_lists            NONE
xuser_lists           NONE
projects              NONE
xprojects             NONE
usage_scaling         NONE
report_variables      NONE
CONF
        qconf -Ae "$WORK/exechost" >&2
    fi

    # Scheduler: 1 s interval, and flush right after submits and finishes, so a
    # short job goes from qsub to gone in about a second. Each started job
    # would otherwise add 0.5 to the host's load for 7.5 minutes, and with
    # the queue's load threshold that throttles a burst of short jobs to a
    # few at a time on a 2-CPU machine.
    qconf -ssconf \
        | sed -e 's/^schedule_interval .*/schedule_interval 0:0:1/' \
              -e 's/^flush_submit_sec .*/flush_submit_sec 1/' \
              -e 's/^flush_finish_sec .*/flush_finish_sec 1/' \
              -e 's/^job_load_adjustments .*/job_load_adjustments NONE/' \
              -e 's/^load_adjustment_decay_time .*/load_adjustment_decay_time 0:0:0/' > "$WORK/sconf"
    qconf -Msconf "$WORK/sconf" >&2

    # Global config (qconf takes the configuration name from the file name):
    # the accounting file is flushed every flush_time (15 s by
    # default), which is how late `qacct -j` sees a finished job.
    qconf -sconf global \
        | sed -e 's/flush_time=[0-9:]*/flush_time=00:00:01/' > "$WORK/global"
    qconf -Mconf "$WORK/global" >&2

    # One parallel environment for multi-slot jobs.
    cat > "$WORK/pe" <<CONF
pe_name            $PE
slots              9999
user_lists         NONE
xuser_lists        NONE
start_proc_args    NONE
stop_proc_args     NONE
allocation_rule    \$pe_slots
control_slaves     FALSE
job_is_first_task  TRUE
urgency_slots      min
accounting_summary FALSE
qsort_args         NONE
CONF
    if qconf -sp "$PE" >/dev/null 2>&1; then
        qconf -Mp "$WORK/pe" >&2
    else
        qconf -Ap "$WORK/pe" >&2
    fi

    # all.q from the built-in template; its pe_list names PEs that do not
    # exist in a fresh cell, so name ours only.
    qconf -sq \
        | sed -e 's/^qname .*/qname all.q/' \
              -e 's/^hostlist .*/hostlist localhost/' \
              -e "s/^slots .*/slots $SLOTS/" \
              -e "s/^pe_list .*/pe_list $PE/" \
              -e 's/^shell .*/shell \/bin\/sh/' \
              -e 's/^load_thresholds .*/load_thresholds NONE/' > "$WORK/queue"
    if qconf -sq all.q >/dev/null 2>&1; then
        qconf -Mq "$WORK/queue" >&2
    else
        qconf -Aq "$WORK/queue" >&2
    fi
}

start_execd() {
    if qhost 2>/dev/null | awk 'NR > 3 && $1 == "localhost" && $7 != "-" {found = 1} END {exit !found}'; then
        return
    fi
    if ! pgrep -x sge_execd >/dev/null; then
        log "starting sge_execd"
        /usr/sbin/sge_execd
    fi
    i=0
    until healthy; do
        i=$((i + 1))
        [ $i -lt 150 ] || { log "execd did not report to the qmaster within 30 s"; exit 1; }
        sleep 0.2
    done
}

if qstat -g c >/dev/null 2>&1; then
    log "reusing the running qmaster"
else
    write_cell_files
    start_qmaster
fi
# Configuration is idempotent and cheap: apply it on every `up`, so a reused
# cell gets the same settings as a fresh one.
configure_cluster
start_execd

log "ready: queue all.q ($SLOTS slots), parallel environment $PE"
