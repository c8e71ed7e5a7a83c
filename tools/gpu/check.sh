#!/usr/bin/env bash
# One call on a lent GPU machine (see DEVELOPERS' guide): install the carried wheels, run the GPU
# tests and the encode benchmark on CUDA, and leave every number under $OUT.
#   run(command="bash tools/gpu/check.sh", carry=[".whl"])
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl \
  > "$OUT/pip.log" 2>&1
export PYTHONPATH=/tmp/site:$PWD:${PYTHONPATH:-}
export MPLBACKEND=Agg
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.csv"
python3 -c "import torch, sys; print(sys.version); print('torch', torch.__version__, torch.cuda.get_device_name(0))" \
  | tee "$OUT/versions.txt"
timeout 240 python3 -m pytest -q -p no:cacheprovider tests/encode/test_cuda.py tests/encode/test_model.py \
  tests/select/test_kcenter.py -k "cuda or torch or model" \
  2>&1 | tail -15 | tee "$OUT/pytest.txt"
# k-center on the GPU: time per pick at N = 2.25M and 20M, fp32 and fp16, vs the bandwidth floor
timeout 200 python3 -m tools.bench.bench_kcenter --device cuda --no-doc \
  --json "$OUT/kcenter_cuda.json" 2>&1 | tail -30 | tee "$OUT/bench_kcenter.txt"
timeout 200 python3 -m tools.bench.bench_encode --device cuda --quick --no-doc \
  --json "$OUT/encode_cuda.json" 2>&1 | tail -40 | tee "$OUT/bench_encode.txt"
echo "done"
