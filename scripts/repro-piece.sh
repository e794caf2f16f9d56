#!/usr/bin/env bash
# One logged piece of the CPU reproduction, as the committed repro-cpu records were made:
#   bash scripts/repro-piece.sh --grid Table3Error      (any `stde-bench sweep` arguments)
# Runs `stde-bench sweep --profile repro-cpu` from a clean worktree of HEAD (so edits in the
# checkout cannot change a running piece), appends its records to the machine's records
# file, and logs start, the dry run's plan (ETA) and the end (wall seconds, record counts)
# to results/sweeps/<machine>-repro-cpu.txt; scripts/sweep_log_eta.py sums that log.
set -u
ROOT=$(git rev-parse --show-toplevel)
MACHINE=${MACHINE:-cpu-epyc-2core}
LOG=$ROOT/results/sweeps/$MACHINE-repro-cpu.txt
REC=$ROOT/results/cells/$MACHINE-repro-cpu.jsonl
WT=${WT:-/tmp/stde-repro-wt}
PY=$ROOT/.venv/bin/python
rm -rf "$WT"; git -C "$ROOT" worktree prune
git -C "$ROOT" worktree add -q --detach "$WT" HEAD || exit 1
cd "$WT" || exit 1
args="sweep --profile repro-cpu --machine $MACHINE $*"
plan=$($PY -m stde_bench.cli $args --out "$REC" --dry-run | tail -1)
echo "$(date -u +%FT%TZ) start: stde-bench $args" >> "$LOG"
echo "  plan: $plan" >> "$LOG"
t0=$(date +%s)
$PY -m stde_bench.cli $args --out "$REC"
rc=$?
summary=$($PY -c "
import collections, json, sys
c = collections.Counter(json.loads(line)['status'] for line in open(sys.argv[1]))
print(f'{sum(c.values())} cells in {sys.argv[1]}: ' + ', '.join(f'{k} {v}' for k, v in sorted(c.items())))
" "$REC")
echo "$(date -u +%FT%TZ) end (exit $rc): $(( $(date +%s) - t0 )) s wall; $summary" >> "$LOG"
