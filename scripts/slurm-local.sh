#!/usr/bin/env bash
# A real single-node SLURM (with accounting) in one folder, for testing profiles/slurm against a
# real scheduler, not a mock.  Debian 12 (SLURM 22.05), root; no systemd, no cgroups needed.
#
#   scripts/slurm-local.sh start <state-dir>    install the packages if missing, start munged,
#                                               MariaDB, slurmdbd, slurmctld and slurmd, wait for
#                                               an idle node, create the cluster and account
#   scripts/slurm-local.sh stop <state-dir>     cancel this cluster's jobs, stop exactly the
#                                               daemons that `start` recorded in <state-dir>/pids
#   scripts/slurm-local.sh status <state-dir>   say which recorded daemons are alive
#
# Then:  . <state-dir>/env   (exports SLURM_CONF, puts <state-dir>/bin first on PATH, and names
#                             SLURM_LOCAL_PARTITION, SLURM_LOCAL_ACCOUNT for the profile)
#        sinfo; snakemake --profile profiles/slurm ...
#
# Accounting (slurmdbd + MariaDB) is not optional: the Snakemake plugin asks `sacct` for job
# states whenever sacct is installed, and without slurmdbd sacct fails, which the plugin logs only
# at debug level while it waits forever for jobs that have long finished.
#
# Everything lives under <state-dir>: configuration, munge key and socket, database, spool, logs
# (<state-dir>/log/*.log).  Nothing under /etc is written and no daemon is stopped by name, so
# several instances (on free ports, picked at start) can run side by side.  `start` on a running
# instance does nothing; `stop` on a stopped one does nothing.
#
# Exit status: 0 done, 1 error (the message names the log to read), 2 usage, 3 cannot run on this
# machine (not root, or the packages are missing and apt-get cannot install them): a test may skip.
set -euo pipefail

PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
COMMANDS=(munged munge unmunge mariadbd mariadb-install-db mariadb slurmdbd slurmctld slurmd sinfo sacctmgr scontrol squeue scancel)
CLUSTER=dmlrepro
PARTITION=local
ACCOUNT=dmlrepro
READY_TIMEOUT=${SLURM_LOCAL_TIMEOUT:-60}   # seconds each daemon may take to answer

die() { echo "slurm-local: error: $*" >&2; exit 1; }
say() { echo "slurm-local: $*" >&2; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

# ---- packages -------------------------------------------------------------------------------

ensure_packages() {
    local missing=()
    for cmd in "${COMMANDS[@]}"; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -ne 0 ]]; then
        echo "slurm-local: error: ${missing[*]} missing and not root, so cannot apt-get install ${PACKAGES[*]}" >&2
        exit 3
    fi
    command -v apt-get >/dev/null 2>&1 || { echo "slurm-local: error: ${missing[*]} missing and no apt-get here (Debian/Ubuntu only)" >&2; exit 3; }
    say "installing ${PACKAGES[*]} (missing: ${missing[*]})"
    local log; log=$(mktemp)
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES[@]}"; } >"$log" 2>&1; then
        tail -n 20 "$log" >&2; rm -f "$log"
        echo "slurm-local: error: apt-get install ${PACKAGES[*]} failed (output above)" >&2
        exit 3
    fi
    rm -f "$log"
    for cmd in "${COMMANDS[@]}"; do
        command -v "$cmd" >/dev/null 2>&1 || { echo "slurm-local: error: $cmd still missing after installing ${PACKAGES[*]}" >&2; exit 3; }
    done
}

# ---- processes: recorded as "name pid starttime", so that a recycled PID is never killed ------

proc_fields() {  # the fields of /proc/PID/stat after the parenthesised command name
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    echo "${stat##*) }"
}

proc_start_time() {  # field 22 of /proc/PID/stat: start time in clock ticks since boot
    local fields f
    fields=$(proc_fields "$1") || return 1
    read -ra f <<<"$fields"
    echo "${f[19]}"
}

is_recorded_alive() {  # pid starttime: the same process as recorded, and not a zombie
    local fields f
    fields=$(proc_fields "$1") || return 1
    read -ra f <<<"$fields"
    [[ "${f[19]}" == "$2" && "${f[0]}" != Z ]]
}

launch() {  # name logfile command...   in its own session, its stdio in log/<name>.out, never
    local name=$1 log=$2; shift 2          # on the caller's pipes (a test would wait for EOF)
    setsid "$@" </dev/null >>"$STATE/log/$name.out" 2>&1 &
    local pid=$! start
    sleep 0.2
    start=$(proc_start_time "$pid") || die "$name exited at once; see $log and $STATE/log/$name.out:"$'\n'"$(tail -n 15 "$log" "$STATE/log/$name.out" 2>/dev/null)"
    echo "$name $pid $start" >>"$STATE/pids"
}

wait_for() {  # name logfile command...  poll until the command succeeds
    local name=$1 log=$2; shift 2
    local deadline=$((SECONDS + READY_TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        if ! all_alive; then die "$name died while starting; see $log:"$'\n'"$(tail -n 15 "$log" 2>/dev/null)"; fi
        if ((SECONDS > deadline)); then die "$name not ready after ${READY_TIMEOUT}s; see $log:"$'\n'"$(tail -n 15 "$log" 2>/dev/null)"; fi
        sleep 0.3
    done
}

all_alive() {
    [[ -s "$STATE/pids" ]] || return 1
    local name pid start
    while read -r name pid start; do
        is_recorded_alive "$pid" "$start" || return 1
    done <"$STATE/pids"
}

stop_recorded() {
    [[ -f "$STATE/pids" ]] || return 0
    local lines=() name pid start
    mapfile -t lines <"$STATE/pids"
    # Stop in the reverse order of start: slurmd, slurmctld, slurmdbd, mariadbd, munged.
    for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
        read -r name pid start <<<"${lines[i]}"
        if ! is_recorded_alive "$pid" "$start"; then
            continue
        fi
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            is_recorded_alive "$pid" "$start" || break
            sleep 0.1
        done
        if is_recorded_alive "$pid" "$start"; then
            say "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        say "stopped $name (pid $pid)"
    done
    rm -f "$STATE/pids"
}

# ---- ports ----------------------------------------------------------------------------------

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {  # first free port from $1 upward, skipping ports already picked
    local p=$1
    while port_in_use "$p" || [[ " ${PICKED[*]:-} " == *" $p "* ]]; do
        p=$((p + 1))
        ((p < $1 + 200)) || die "no free TCP port in $1..$((p - 1))"
    done
    PICKED+=("$p")
    echo "$p"
}

# ---- start ----------------------------------------------------------------------------------

check_state_dir() {
    # munged refuses a socket under a folder that others cannot traverse, and a Unix socket path
    # has at most 107 bytes.
    local d=$STATE
    while [[ "$d" != / ]]; do
        [[ $(( $(stat -c '%#a' "$d") & 1 )) -eq 1 ]] || die "munged needs every folder above its socket to be world-traversable, and $d is not (chmod o+x $d, or pick a state dir under /tmp)"
        d=$(dirname "$d")
    done
    ((${#STATE} <= 80)) || die "state dir path too long for Unix sockets (${#STATE} > 80 characters): $STATE"
}

write_configs() {
    local host=$1 dbpass=$2
    local node_line cpus ram
    node_line=$(slurmd -C | head -n 1)   # NodeName=... CPUs=... Boards=... RealMemory=...
    ram=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node_line")
    cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node_line")
    node_line=$(sed 's/ RealMemory=[0-9]*//; s/^NodeName=[^ ]*//' <<<"$node_line")

    cat >"$STATE/etc/slurm.conf" <<EOF
# Written by scripts/slurm-local.sh: one node, one partition, accounting through slurmdbd.
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE/munge/munge.sock
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# No cgroups without systemd: track processes by parent id; --mem schedules but is not enforced.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
SchedulerType=sched/backfill
ReturnToService=2
# squeue keeps a finished job this long (the plugin needs >= 3 x its first-check delay).
MinJobAge=300
KillWait=5
MailProg=/bin/true
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
# For a slurmdbd connection the client takes its munge socket from here, not from AuthInfo.
AccountingStoragePass=$STATE/munge/munge.sock
JobCompType=jobcomp/none
# Keep each job's --comment (the Snakemake plugin writes rule_<rule>_wildcards_<...> there) in sacct.
AccountingStoreFlags=job_comment
NodeName=$host NodeAddr=127.0.0.1 $node_line RealMemory=$((ram * 8 / 10)) State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

    # slurmdbd reads slurmdbd.conf next to \$SLURM_CONF; it must be private to SlurmUser.
    (
        umask 077
        cat >"$STATE/etc/slurmdbd.conf" <<EOF
# Written by scripts/slurm-local.sh.
AuthType=auth/munge
AuthInfo=socket=$STATE/munge/munge.sock
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$STATE/run/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$dbpass
StorageLoc=slurm_acct_db
EOF
    )

    # Client wrappers that default SLURM_CONF: inside a job, snakemake-executor-plugin-slurm-jobstep
    # runs `srun` with every SLURM_* variable removed (SLURM_CONF too), and where a cluster's srun
    # would find /etc/slurm/slurm.conf, this one would find nothing.
    mkdir -p "$STATE/bin"
    local cmd
    for cmd in srun sbatch salloc squeue sinfo scancel scontrol sacct sacctmgr sstat sshare sprio; do
        command -v "$cmd" >/dev/null 2>&1 || continue
        # shellcheck disable=SC2016  # $@ and ${SLURM_CONF} belong to the wrapper
        printf '#!/bin/sh\n: "${SLURM_CONF:=%s}"\nexport SLURM_CONF\nexec %s "$@"\n' \
            "$STATE/etc/slurm.conf" "$(command -v "$cmd")" >"$STATE/bin/$cmd"
        chmod 755 "$STATE/bin/$cmd"
    done

    cat >"$STATE/env" <<EOF
# Source this file to talk to the SLURM started by scripts/slurm-local.sh.
export SLURM_CONF=$STATE/etc/slurm.conf
case ":\$PATH:" in *":$STATE/bin:"*) ;; *) export PATH="$STATE/bin:\$PATH" ;; esac
export SLURM_LOCAL_PARTITION=$PARTITION
export SLURM_LOCAL_ACCOUNT=$ACCOUNT
export SLURM_LOCAL_CPUS=$cpus
EOF
}

# shellcheck disable=SC2120  # wait_for passes the arguments
db() { mariadb --no-defaults --socket="$STATE/mysql/mysqld.sock" -uroot "$@"; }

node_idle() { [[ $(sinfo -h -N -o %T 2>/dev/null) == idle ]]; }

start() {
    mkdir -p "$STATE"
    STATE=$(cd "$STATE" && pwd -P)
    export SLURM_CONF=$STATE/etc/slurm.conf

    if [[ -s "$STATE/pids" ]]; then
        if all_alive && node_idle_or_busy; then
            say "already running (. $STATE/env)"
            return 0
        fi
        say "some recorded daemons are gone; stopping the rest and starting again"
        stop_recorded
    fi

    ensure_packages
    if [[ $(id -u) -ne 0 ]]; then
        echo "slurm-local: error: must run as root (the daemons run as root here)" >&2
        exit 3
    fi
    chmod 755 "$STATE"
    check_state_dir
    mkdir -p "$STATE"/{etc,log,run,spool/ctld,spool/d,munge,mysql}
    : >"$STATE/pids"
    # A failure from here on stops whatever was started.
    trap 'rc=$?; if ((rc != 0)); then say "start failed; stopping what it started"; stop_recorded; fi' EXIT

    local host dbpass t0=$SECONDS
    host=$(hostname -s)
    PICKED=()
    CTLD_PORT=$(free_port 6817)
    SLURMD_PORT=$(free_port 6818)
    DBD_PORT=$(free_port 6819)
    DB_PORT=$(free_port 3306)
    if [[ -f "$STATE/mysql/slurm.pass" ]]; then
        dbpass=$(cat "$STATE/mysql/slurm.pass")
    else
        dbpass=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
        (umask 077; echo "$dbpass" >"$STATE/mysql/slurm.pass")
    fi
    write_configs "$host" "$dbpass"

    # munge, on a private key and socket.
    if [[ ! -f "$STATE/munge/munge.key" ]]; then
        (umask 077; head -c 1024 /dev/urandom >"$STATE/munge/munge.key")
    fi
    launch munged "$STATE/log/munged.out" munged --foreground \
        --socket="$STATE/munge/munge.sock" --key-file="$STATE/munge/munge.key" \
        --pid-file="$STATE/run/munged.pid" --seed-file="$STATE/munge/munged.seed" \
        --log-file="$STATE/log/munged.log"
    wait_for munged "$STATE/log/munged.out" \
        bash -c "munge -S '$STATE/munge/munge.sock' -n | unmunge -S '$STATE/munge/munge.sock'"

    # MariaDB for slurmdbd, on 127.0.0.1 and a private socket.
    if [[ ! -d "$STATE/mysql/data/mysql" ]]; then
        mariadb-install-db --no-defaults --user=root --datadir="$STATE/mysql/data" \
            --auth-root-authentication-method=socket --skip-test-db >"$STATE/log/mariadb-install.log" 2>&1 \
            || die "mariadb-install-db failed; see $STATE/log/mariadb-install.log"
    fi
    launch mariadbd "$STATE/log/mariadbd.log" mariadbd --no-defaults --user=root \
        --datadir="$STATE/mysql/data" --socket="$STATE/mysql/mysqld.sock" \
        --port="$DB_PORT" --bind-address=127.0.0.1 --pid-file="$STATE/run/mariadbd.pid" \
        --log-error="$STATE/log/mariadbd.log" \
        --innodb-buffer-pool-size=64M --performance-schema=OFF --skip-log-bin
    wait_for mariadbd "$STATE/log/mariadbd.log" db -e 'SELECT 1'
    db <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$dbpass';
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$dbpass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF

    # slurmdbd; the cluster, account and user exist before slurmctld registers.
    launch slurmdbd "$STATE/log/slurmdbd.log" slurmdbd -D
    wait_for slurmdbd "$STATE/log/slurmdbd.log" sacctmgr -n list cluster
    if [[ -z $(sacctmgr -n -P list cluster "$CLUSTER" format=cluster) ]]; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
    fi
    if [[ -z $(sacctmgr -n -P list account "$ACCOUNT" format=account) ]]; then
        sacctmgr -i add account "$ACCOUNT" cluster="$CLUSTER" description="dmlrepro tests" >/dev/null
    fi
    if [[ -z $(sacctmgr -n -P list association cluster="$CLUSTER" account="$ACCOUNT" user=root format=user) ]]; then
        sacctmgr -i add user root account="$ACCOUNT" cluster="$CLUSTER" >/dev/null
    fi

    launch slurmctld "$STATE/log/slurmctld.log" slurmctld -D -f "$SLURM_CONF"
    wait_for slurmctld "$STATE/log/slurmctld.log" scontrol ping
    launch slurmd "$STATE/log/slurmd.log" slurmd -D -f "$SLURM_CONF" -N "$host"
    wait_for slurmd "$STATE/log/slurmd.log" node_idle

    trap - EXIT
    say "SLURM up in $((SECONDS - t0)) s: partition $PARTITION, account $ACCOUNT, node $host; now: . $STATE/env"
}

node_idle_or_busy() {
    local s
    s=$(sinfo -h -N -o %T 2>/dev/null) || return 1
    [[ "$s" == idle || "$s" == mixed || "$s" == allocated ]]
}

# ---- stop, status ---------------------------------------------------------------------------

stop() {
    [[ -d "$STATE" ]] || { say "nothing to stop: $STATE does not exist"; return 0; }
    STATE=$(cd "$STATE" && pwd -P)
    if [[ ! -s "$STATE/pids" ]]; then
        say "nothing to stop: no daemons recorded in $STATE/pids"
        rm -f "$STATE/pids"
        return 0
    fi
    export SLURM_CONF=$STATE/etc/slurm.conf
    # This cluster's jobs first, so that no slurmstepd outlives its slurmd.
    if command -v squeue >/dev/null; then
        local jobs
        jobs=$(timeout 15 squeue -h -o %i 2>/dev/null || true)
        if [[ -n "$jobs" ]]; then
            # shellcheck disable=SC2086
            scancel $jobs 2>/dev/null || true
            for _ in $(seq 1 50); do
                [[ -z $(timeout 15 squeue -h -o %i 2>/dev/null) ]] && break
                sleep 0.2
            done
        fi
    fi
    stop_recorded
}

status() {
    [[ -s "$STATE/pids" ]] || { echo "stopped"; return 1; }
    local name pid start rc=0
    while read -r name pid start; do
        if is_recorded_alive "$pid" "$start"; then echo "$name $pid running"; else echo "$name $pid gone"; rc=1; fi
    done <"$STATE/pids"
    return $rc
}

[[ $# -eq 2 ]] || usage
STATE=$2
case $1 in
    start) start ;;
    stop) stop ;;
    status) STATE=$(cd "$STATE" 2>/dev/null && pwd -P) || { echo "stopped"; exit 1; }; status ;;
    *) usage ;;
esac
