#!/usr/bin/env bash
# A one-node Slurm cluster on localhost for the scale tests (test/scale/slurm.test.ts).
# Idempotent and fast: when the node already answers and is idle it returns at once; otherwise it writes a minimal
# slurm.conf (only if none exists or the existing one is ours), starts munged, slurmctld and slurmd directly (CI has no
# systemd) and waits for the node to be schedulable. Needs root and Debian's `slurmctld slurmd slurm-client munge`.
# Install them with:  apt-get install -y slurmctld slurmd slurm-client munge
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK='# written by graft .ci/slurm-up.sh'
log() { echo "slurm-up: $*" >&2; }

node_ready() {
  # sinfo prints e.g. "idle" / "mix" / "alloc"; "down", "drain", "unk" or no answer means not ready.
  local state
  state=$(timeout 5 sinfo -h -n localhost -o '%T' 2>/dev/null | head -n1) || return 1
  [[ "$state" =~ ^(idle|mixed|allocated|completing)$ ]]
}

if command -v sinfo >/dev/null && [[ -f "$CONF" ]] && node_ready; then
  log "cluster already up"
  exit 0
fi

for bin in munged slurmctld slurmd sbatch; do
  command -v "$bin" >/dev/null || { log "$bin not found: apt-get install -y slurmctld slurmd slurm-client munge"; exit 1; }
done

if [[ ! -f "$CONF" ]] || grep -qF "$MARK" "$CONF"; then
  cpus=$(nproc)
  # slurmd refuses to start when RealMemory exceeds the machine's; half of it leaves room for everything else.
  mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
  mkdir -p /etc/slurm
  cat >"$CONF.tmp" <<EOF
$MARK
ClusterName=graft-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  if [[ -f "$CONF" ]] && cmp -s "$CONF.tmp" "$CONF"; then rm -f "$CONF.tmp"; else mv "$CONF.tmp" "$CONF"; fi
else
  log "$CONF exists and was not written by this script: using it as it is"
fi

mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
chown munge:munge /run/munge 2>/dev/null || true
if [[ ! -s /etc/munge/munge.key ]]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
fi

if ! pgrep -x munged >/dev/null; then
  log "starting munged"
  # Debian's munged runs as the munge user; --force tolerates a stale socket left by a killed daemon.
  if id munge >/dev/null 2>&1; then su -s /bin/sh munge -c 'munged --force'; else munged --force; fi
fi
if ! pgrep -x slurmctld >/dev/null; then
  log "starting slurmctld"
  slurmctld
fi
if ! pgrep -x slurmd >/dev/null; then
  log "starting slurmd"
  slurmd -N localhost
fi

for _ in $(seq 1 60); do
  if node_ready; then log "cluster up: $(sinfo -h -o '%P %D %T %C')"; exit 0; fi
  state=$(timeout 5 sinfo -h -n localhost -o '%T' 2>/dev/null | head -n1 || true)
  # A node left down/drained by an earlier run (e.g. killed slurmd) is put back into service.
  if [[ "$state" =~ ^(down|drained|draining|down\*) ]]; then scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true; fi
  sleep 0.5
done
log "the node did not become ready in 30 s; see /var/log/slurm/slurmctld.log and slurmd.log"
sinfo -N -l >&2 || true
exit 1
