#!/usr/bin/env bash
# The Slurm test of `hwsim sweep slurm` (issue 13), run by .ci/run after `npm test`:
# a single-node Slurm cluster without systemd (munged, slurmctld -D, slurmd -D, all
# in a temp directory, on their own ports), an array of 4 sweep shards plus the
# dependent merge job, and the merged results compared with a single-process sweep
# (sorted by point hash, wall time left out) byte for byte. Stops what it started.
# Needs root (SlurmUser=root) and Debian's slurm-wlm + munge (installed when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  SUDO=""; if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

D=$(mktemp -d /tmp/hwsim-slurm-XXXXXX)
chmod 700 "$D"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -f "$D/munged.pid" ]; then kill "$(cat "$D/munged.pid")" 2>/dev/null || true; fi
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$D"
}
trap cleanup EXIT

# munge: a key and a socket of our own
mkdir -p "$D/munge" "$D/spool" "$D/state"
chmod 700 "$D/munge"
dd if=/dev/urandom of="$D/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$D/munge/munge.key"
munged -f --key-file="$D/munge/munge.key" --socket="$D/munge/munge.sock" --pid-file="$D/munged.pid" \
  --log-file="$D/munged.log" --seed-file="$D/munge/seed"

CPUS=$(nproc)
PORT=$((17000 + RANDOM % 2000))
cat > "$D/slurm.conf" <<CONF
ClusterName=hwsim-test
SlurmctldHost=localhost
SlurmUser=root
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
AuthInfo=socket=$D/munge/munge.sock
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
NodeName=localhost NodeHostname=localhost CPUs=$CPUS State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
export SLURM_CONF="$D/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" >"$D/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -N localhost -f "$SLURM_CONF" >"$D/slurmd.out" 2>&1 &
PIDS+=($!)
for i in $(seq 1 60); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed)'; then break; fi
  if [ "$i" = 60 ]; then echo "slurm did not come up"; tail -20 "$D/slurmctld.log" "$D/slurmd.log" || true; exit 1; fi
  sleep 1
done
echo "slurm up: $(sinfo -h -o '%P %T %c')"

# a 6-point sweep of the water SchNet on one frame
cat > "$D/spec.json" <<SPEC
{
  "name": "slurm-test",
  "base": "$ROOT/examples/sweeps/water-base.json",
  "model": { "file": "$ROOT/examples/water-schnet/water_schnet.safetensors", "arch": "schnet" },
  "structures": { "file": "$ROOT/examples/water-schnet/water_test.extxyz", "frames": 1 },
  "axes": [
    { "name": "linear_fmt", "pointers": ["/forward/rules/0/datapath/in", "/forward/rules/0/datapath/out"], "values": ["fp32", "bf16", "fp16"] },
    { "name": "other", "pointers": ["/forward/default/datapath/out"], "values": ["fp32", "bf16"] }
  ]
}
SPEC
node bin/hwsim.js sweep "$D/spec.json" --out "$D/single.jsonl" --workers 1
node bin/hwsim.js sweep slurm "$D/spec.json" --tasks 4 --out "$D/merged.jsonl"
bash "$D/merged.jsonl.slurm.sh"
for i in $(seq 1 600); do
  if [ -z "$(squeue -h 2>/dev/null)" ]; then break; fi
  if [ "$i" = 600 ]; then echo "jobs still queued after 600 s"; squeue; exit 1; fi
  sleep 1
done
if [ ! -f "$D/merged.jsonl" ]; then
  echo "no merged results"; cat "$D"/merged.jsonl.*.log 2>/dev/null || true; exit 1
fi
canon() { node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map((l) => { const o = JSON.parse(l); delete o.wallSeconds; return o; });
  lines.sort((a, b) => (a.pointHash < b.pointHash ? -1 : a.pointHash > b.pointHash ? 1 : 0));
  process.stdout.write(lines.map((o) => JSON.stringify(o)).join("\n") + "\n");' "$1"; }
canon "$D/single.jsonl" > "$D/single.sorted"
canon "$D/merged.jsonl" > "$D/merged.sorted"
n=$(wc -l < "$D/merged.sorted")
for k in 0 1 2 3; do test -s "$D/merged.jsonl.shard$k.jsonl" || { echo "shard $k wrote nothing"; exit 1; }; done
if cmp "$D/single.sorted" "$D/merged.sorted"; then
  echo "slurm sweep test: ok ($n points, 4 array tasks + merge job == single process)"
else
  echo "slurm sweep test: merged results differ from the single-process sweep"; exit 1
fi
