#!/usr/bin/env bash
# One resumable piece of the gpu-quick profile under asv, on a GPU machine without network
# (the lent H100/H200 machines: their Python has JAX and PyTorch but no asv or folx).
#
# Prepare on a machine with network, in the project's root (both folders git-ignored):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl asv==0.6.6 asv_runner==0.3.2 folx==0.2.30 \
#       json5 tabulate virtualenv distlib platformdirs python-discovery Pympler \
#       importlib_metadata lazy-importer
#   git bundle create .gpu/stde.bundle main      # asv needs the commit; copies carry no .git
# Then on the GPU machine, from a copy of the working tree that holds .whl/ and .gpu/:
#   LIMIT=500 BENCH='AllenCahnRestrictedJ16|AllenCahnTwoBodyJ16' scripts/gpu-quick-offline.sh
# and again (records of finished cells come back with results/cells/) until asv ends by
# itself.  What it writes is packed into $OUT/piece.tgz (results/cells/<machine>-*,
# results/<machine>/ and asv's benchmarks.json of this profile); its log is $OUT/piece.log.
# PROFILE=tiny runs the mechanics in a minute on any machine.
set -u
OUT=${OUT:-/tmp/gpu-piece}
LIMIT=${LIMIT:-500}  # seconds asv may run in this piece
BENCH=${BENCH:-}     # asv --bench regex; empty: every benchmark of the profile
PROFILE=${PROFILE:-gpu-quick}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/piece.log") 2>&1
export PYTHONUNBUFFERED=1 STDE_BENCH_PROFILE=$PROFILE

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir .whl/*.whl || exit 1
python3 -m pip show -q stde-bench >/dev/null 2>&1 \
    || python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . \
    || export PYTHONPATH=$PWD ASV_PYTHONPATH=$PWD  # asv passes only ASV_PYTHONPATH on
[ -d .git ] || git init -q
git fetch -q -f --update-head-ok .gpu/stde.bundle main:main || exit 1
git symbolic-ref HEAD refs/heads/main && git reset -q main || exit 1
echo "commit $(git rev-parse HEAD); code version $(python3 -c \
    'from stde_bench.records import code_version; print(code_version())')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import jax, torch, folx, asv; print("jax", jax.__version__, jax.devices(),
    "| torch", torch.__version__, torch.cuda.is_available(), "| asv", asv.__version__)'

MACHINE=$(python3 -m stde_bench.cli machine) || exit 1  # writes ~/.asv-machine.json
export STDE_BENCH_MACHINE=$MACHINE
echo "machine $MACHINE"
python3 -m stde_bench.cli sweep --profile "$PROFILE" --dry-run | tail -2
start=$(date +%s)
timeout "$LIMIT" python3 -m asv run -E "existing:$(which python3)" \
    --set-commit-hash "$(git rev-parse HEAD)" --machine "$MACHINE" --show-stderr \
    ${BENCH:+--bench "$BENCH"}
echo "asv exit $? after $(( $(date +%s) - start )) s"
tar czf "$OUT/piece.tgz" results/cells/"$MACHINE"-* "results/$MACHINE" results/benchmarks.json 2>/dev/null
ls -la "$OUT"
