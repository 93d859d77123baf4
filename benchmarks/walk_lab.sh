#!/usr/bin/env bash
# A lab run of 1,000 walks of two shell actions on 2 testbeds: labdeck against py-combtest's
# execution model in Python (benchmarks/python/combtest_model.py --ssh, OpenSSH ControlMaster),
# same walks, same hosts, same run. Needs root (it brings a lab up and down).
# Usage: benchmarks/walk_lab.sh [LABDECK_BINARY]   (default: target/release/labdeck)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/labdeck}
WORK=$(mktemp -d)
trap '"$BIN" lab down --dir "$WORK/lab" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
"$BIN" lab up --hosts 2 --topology line --dir "$WORK/lab" >/dev/null
cat > "$WORK/recipe.toml" <<'RECIPE'
name = "lab-bench"
[hosts.box]
[[actions]]
name = "first"
kind = "shell"
roles = ["box"]
command = "echo {value} > /tmp/combtest-a"
options = { from = 0, to = 9, step = 1 }
[[actions]]
name = "second"
kind = "shell"
roles = ["box"]
command = "test -n {value}"
options = { from = 0, to = 99, step = 1 }
RECIPE
start=$(date +%s.%N)
"$BIN" run --pool "$WORK/lab/pool.toml" --recipe "$WORK/recipe.toml" --testbeds 2 \
    --run-dir "$WORK/run" >"$WORK/run.out" 2>&1
end=$(date +%s.%N)
tail -1 "$WORK/run.out"
python3 -c "s = $end - $start; print(f'labdeck: 1000 walks (2000 steps) on 2 testbeds in {s:.3f} s = {1000 / s:.1f} walks/s (trace fsynced, connect included)')"
# Python: the same 1000 walks over OpenSSH with the lab's key and known_hosts.
ports=$(python3 -c "import json,sys; s=json.load(open('$WORK/lab/lab.json')); print(' '.join('root@127.0.0.1:%d' % h['port'] for h in s['hosts']))")
export SSH_OPTS="-i $WORK/lab/id_ed25519 -o UserKnownHostsFile=$WORK/lab/known_hosts -o StrictHostKeyChecking=yes"
python3 benchmarks/python/combtest_model.py --ssh 1000 $ports | grep -v '^walks_per_second'
