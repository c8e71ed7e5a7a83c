#!/usr/bin/env bash
# One call on a lent GPU machine (see DEVELOPERS' guide): install the carried wheels, run the GPU
# tests and the GPU benchmarks, and leave every number under $OUT.
#   ../shared/tools/gpu-wheels .whl 'zarr==3.1.6' 'numcodecs==0.16.6' pytest iniconfig pluggy psutil
#   run(command="bash tools/gpu/check.sh", carry=[".whl"], timeout_s=560)
# Parts run in order of what is still unmeasured, each under its own timeout, and a part starts
# only while the whole script is inside BUDGET_S (default 500 s), so one call fits the device's
# per-call limit and leaves time for a second try. Back here:
#   python -m tools.bench.bench_pretrain --render FILES_AT/pretrain_cuda.json
#   python -m tools.bench.bench_kcenter --merge FILES_AT/kcenter_cuda.json
#   python -m tools.bench.bench_encode --merge FILES_AT/encode_cuda.json
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
BUDGET_S=${BUDGET_S:-500}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl \
  > "$OUT/pip.log" 2>&1 || { echo "pip install failed"; tail -20 "$OUT/pip.log"; }
export PYTHONPATH=/tmp/site:$PWD:${PYTHONPATH:-}
export MPLBACKEND=Agg
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.csv"
python3 -c "import torch, sys; print(sys.version); print('torch', torch.__version__, torch.cuda.get_device_name(0))" \
  | tee "$OUT/versions.txt"

part() {  # part NAME TIMEOUT_S CMD...: run CMD if the budget allows, output to $OUT/NAME.txt
  local name=$1 limit=$2; shift 2
  local left=$((BUDGET_S - SECONDS))
  if (( left < 30 )); then echo "== $name: skipped (${SECONDS}s used of ${BUDGET_S}s)"; return; fi
  (( limit > left )) && limit=$left
  echo "== $name (limit ${limit}s, at ${SECONDS}s)"
  timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1
  echo "   exit $? after ${SECONDS}s"; tail -25 "$OUT/$name.txt"
}

# 1. CUDA tests: encode, pretrain (bf16 run of both stages), k-center
part pytest 150 python3 -m pytest -q -p no:cacheprovider tests/encode/test_cuda.py \
  tests/pretrain/test_pretrain_cuda.py tests/select/test_kcenter.py -k "cuda or torch or model"
# 2. LaBraM base pretraining on the GPU: tokens/s and data wait (issue 5)
part pretrain 200 python3 -m tools.bench.bench_pretrain --device cuda --model base --epochs 3 \
  --device-workers 2,4 --json "$OUT/pretrain_cuda.json" --no-doc
# 3. k-center on the GPU: time per pick at N = 2.25M and 20M, fp32 and fp16, vs the bandwidth floor
part kcenter 120 python3 -m tools.bench.bench_kcenter --device cuda --no-doc \
  --json "$OUT/kcenter_cuda.json"
# 4. encode on the GPU
part encode 120 python3 -m tools.bench.bench_encode --device cuda --quick --no-doc \
  --json "$OUT/encode_cuda.json"
echo "done at ${SECONDS}s"
