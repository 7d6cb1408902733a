#!/usr/bin/env bash
# Continue the shipped checkpoint on a lent GPU machine (run from the repo root there, with
# .gpu/minilm from pack_text_encoder.py carried). Writes the model folder, split into files
# under 16 MiB, and the log to $OUT. Settings come from the environment:
#   CLIPS (cache clips), BATCH, LR, WARMUP, MINUTES (train() budget), WORKERS, LIMIT (hard stop, s), GROUNDING,
#   COMPILE=1 (torch.compile the training step; untried on a GPU so far).
# Here, before the first run: echo /.gpu/ >> .git/info/exclude
#   python tools/device/pack_text_encoder.py .gpu/minilm --clips CLIPS   (22 MiB; the tree is ~33 MiB)
# then device run: `bash tools/device/train_gpu.sh 2>&1 | tee $OUT/train.log` with carry [".gpu"],
# and here: python tools/device/split_model.py --join /work/.device/N runs/NAME/model
# Session 3 (H200): 12288 clips cached in 2.5 min; batch 256 at ~6.4 steps/s (1600 samples/s).
# Session 7 (H100, v3): 12288 clips with colours cached in 3.7 min; batch 384 at ~3.6 steps/s (1360 samples/s);
# `CLIPS=12288 BATCH=384 MINUTES=8.2 LIMIT=525` then, on the same warm machine, `MINUTES=4.4 LIMIT=290`
# (it resumes from /tmp/run): 1761 steps in 15 minutes of device time, start-up included.
set -uo pipefail
export PYTHONPATH=$PWD/src:$PWD/.gpu/minilm/shim PYTHONUNBUFFERED=1
RUN=${RUN:-/tmp/run}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
python3 tools/device/pack_text_encoder.py --unpack .gpu/minilm /tmp/minilm || exit 1
timeout "${LIMIT:-480}" python3 tools/device/train_gpu.py
echo "train exit: $?"
python3 tools/device/split_model.py "$RUN/model" "$OUT"
