#!/usr/bin/env bash
# One prepared check of labdeck on a lent GPU machine, which has torch but not labdeck's small extras nor airbench:
# carry them in .gpu/ (ignored by git):
#   .gpu/whl/*.whl          platformdirs plotext textual textual-plotext tomli_w argcomplete (pip download)
#   .gpu/airbench/          the airbench package (pip download airbench; it is pure Python)
#   .gpu/cifar10-jpeg.tar.gz  the shared CIFAR-10
# Usage: bash bench/gpu_check.sh OUT_DIR
# 1. bench/vision.py: airbench94 (3 runs) and airbench96 against labdeck's default recipe without a budget and
#    with a 60 s budget, on the same images and GPU;
# 2. issue 17's checks: two runs at once on cuda:0, the GPU view reading them, peak memory, an OOM run;
# 3. the device tests on CUDA.
# Each step has its own time limit, so one slow step cannot eat the others' time.
set -u
out=$1
export PYTHONUNBUFFERED=1 LABDECK_DATA=/tmp/labdeck-data
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/.gpu
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || exit 1  # labdeck.engine exists only installed
mkdir -p /tmp/cifar10 && tar xzf .gpu/cifar10-jpeg.tar.gz -C /tmp/cifar10
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, torch.cuda.get_device_name())"
step() { local limit=$1 name=$2; shift 2; echo "== $name"; t0=$SECONDS
         timeout "$limit" "$@" 2>&1 | tee "$out/$name.log" | grep -v '^\s*$' | tail -25; echo "== $name: rc ${PIPESTATUS[0]}, $((SECONDS - t0)) s"; }
step 330 vision python3 bench/vision.py --data /tmp/cifar10 --skip-baseline --epochs-line --budgets ${BUDGETS:-60} --peer-runs 3
step 100 gpu-multi python3 bench/gpu_multi.py /tmp/ld-multi
step 60 tests python3 -m pytest -q -x -p no:cacheprovider -o addopts= tests/test_device.py
