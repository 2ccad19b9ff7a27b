#!/usr/bin/env bash
# One prepared check of labdeck's CUDA path on a lent GPU machine (it has torch but not labdeck's small extras).
# Usage: bash bench/gpu_check.sh CIFAR10_TAR_GZ TEXT_FILE OUT_DIR
# 1. the engine tests with device=auto (so they train on CUDA with AMP);
# 2. bench/language.py on an English text;
# 3. on real CIFAR-10: the default recipe and the airbench-width net (width=64) under budgets (bench/vision.py),
#    and airbench94's own batch size and epochs (width=64, batch 1024, lr scaled, 10 epochs).
# 4. issue 17's checks: two runs at once on cuda:0, the GPU view reading them, peak memory, an OOM run (gpu_multi.py).
# Each step has its own time limit, so one slow step cannot eat the others' time.
set -u
tar_gz=$1 text=$2 out=$3
export PYTHONUNBUFFERED=1 LABDECK_DATA=/tmp/labdeck-data
python3 -m pip install -q --no-deps -e .  # labdeck.engine and labdeck.tui exist only installed (package-dir)
mkdir -p /tmp/cifar10 && tar xzf "$tar_gz" -C /tmp/cifar10
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, torch.cuda.get_device_name())"
step() { local limit=$1 name=$2; shift 2; echo "== $name"; t0=$SECONDS
         timeout "$limit" "$@" 2>&1 | tee "$out/$name.log" | grep -v '^\s*$' | tail -25; echo "== $name: rc ${PIPESTATUS[0]}, $((SECONDS - t0)) s"; }
step 150 tests python3 -m pytest -q -x -p no:cacheprovider -o addopts= tests/test_device.py tests/test_sequence.py tests/test_vision.py tests/test_language.py
step 120 gpu-multi python3 bench/gpu_multi.py /tmp/ld-multi
step 70 language python3 bench/language.py --data "$text" --budget 30 --skip-baseline
step 110 vision-airbench python3 -m labdeck.engine --home /tmp/ld-home run vision --set dataset=folder:/tmp/cifar10 --set width=64 --set batch_size=1024 --set lr=1.5 --set epochs=10 --json
if [ "${FULL:-0}" = 1 ]; then
  step 130 vision-default python3 bench/vision.py --data /tmp/cifar10 --budgets 10 30 --skip-baseline
  step 110 vision-width64 python3 bench/vision.py --data /tmp/cifar10 --budgets 15 45 --skip-baseline --set width=64
fi
