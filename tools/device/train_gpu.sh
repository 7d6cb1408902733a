#!/usr/bin/env bash
# Continue the shipped checkpoint on a lent GPU machine (run from the repo root there, with
# .gpu/minilm from pack_text_encoder.py carried). Writes the model folder, split into files
# under 16 MiB, and the log to $OUT. Settings come from the environment:
#   CLIPS (cache clips), BATCH, LR, WARMUP, MINUTES (train() budget), WORKERS, LIMIT (hard stop, s),
#   COMPILE=1 (torch.compile the training step; untried on a GPU so far).
# Here, before the first run: echo /.gpu/ >> .git/info/exclude
#   python tools/device/pack_text_encoder.py .gpu/minilm --clips CLIPS   (22 MiB; the tree is ~33 MiB)
# then device run: `bash tools/device/train_gpu.sh 2>&1 | tee $OUT/train.log` with carry [".gpu"],
# and here: python tools/device/split_model.py --join /work/.device/N runs/NAME/model
# Session 3 (H200): 12288 clips cached in 2.5 min; batch 256 at ~6.4 steps/s (1600 samples/s).
set -uo pipefail
export PYTHONPATH=$PWD/src:$PWD/.gpu/minilm/shim PYTHONUNBUFFERED=1
RUN=${RUN:-/tmp/run}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
python3 tools/device/pack_text_encoder.py --unpack .gpu/minilm /tmp/minilm || exit 1
timeout "${LIMIT:-480}" python3 tools/device/train_gpu.py
echo "train exit: $?"
python3 tools/device/split_model.py "$RUN/model" "$OUT"
