"""The one place that decides which dtype kino computes in on a device.

bfloat16 where the hardware runs it natively (CUDA devices with bf16, CPUs with AMX or AVX512-BF16),
float32 elsewhere: on a CPU with only AVX2, oneDNN emulates bf16 matmuls at under 1 GFLOP/s against
40-90 GFLOP/s in float32. ``--dtype`` on every command that runs a model and ``KINO_DTYPE`` (for the
service and its workers) override the choice.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
CHOICES = ("auto", *DTYPES)
ENV = "KINO_DTYPE"
NAMES = {v: k for k, v in DTYPES.items()}


class DtypeError(ValueError):
    """An unknown dtype name; the message lists the allowed ones."""


@dataclass(frozen=True)
class Hardware:
    """What a device offers for the dtype choice. ``capability``: for a CPU the widest instruction set
    kino's kernels use there (AMX, AVX512-BF16, AVX512, AVX2, ...), for CUDA the device's name."""

    device: str
    capability: str
    native_bf16: bool


def _device_type(device) -> str:
    return torch.device(device).type


def _cpu_flags() -> tuple[bool, bool] | None:
    """(AMX tiles, AVX512-BF16) from the CPU's flags, or None where this torch cannot read them."""
    try:
        return bool(torch.cpu._is_amx_tile_supported()), bool(torch.cpu._is_avx512_bf16_supported())
    except (AttributeError, RuntimeError):
        return None


@functools.cache
def _probe_bf16(n: int = 256, repeats: int = 3) -> bool:
    """Whether a bf16 matmul runs at least as fast as a float32 one here (about 50 ms): for CPUs
    whose flags this torch cannot read (ARM, older builds)."""

    def best(dtype) -> float:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t)
        return min(times)

    return best(torch.bfloat16) <= best(torch.float32)


def hardware(device="cpu") -> Hardware:
    kind = _device_type(device)
    if kind == "cuda":
        return Hardware("cuda", torch.cuda.get_device_name(torch.device(device)), torch.cuda.is_bf16_supported())
    if kind != "cpu":
        return Hardware(kind, kind, False)
    isa = torch.backends.cpu.get_cpu_capability()  # the kernels ATen dispatches to (ATEN_CPU_CAPABILITY lowers it)
    flags = _cpu_flags()
    if flags is None:
        return Hardware("cpu", isa, _probe_bf16())
    amx, avx512_bf16 = flags
    # The flags say what the chip has; oneDNN and ATen may still be held below it (ONEDNN_MAX_CPU_ISA,
    # ATEN_CPU_CAPABILITY), and then they run bf16 the slow way.
    usable = torch.ops.mkldnn._is_mkldnn_bf16_supported() and isa.upper().startswith(("AVX512", "AMX"))
    if amx and usable:
        return Hardware("cpu", "AMX", True)
    if avx512_bf16 and usable:
        return Hardware("cpu", "AVX512-BF16", True)
    return Hardware("cpu", isa, False)


def parse(name: str | None) -> str:
    """A dtype name as given (None: ``$KINO_DTYPE``, else auto), checked."""
    if name is None:
        name = os.environ.get(ENV, "").strip() or "auto"
    name = name.lower()
    if name not in CHOICES:
        raise DtypeError(f"dtype {name!r} is not allowed; use one of {', '.join(CHOICES)}")
    return name


def choose(name: str | None = None, device="cpu") -> torch.dtype:
    """The compute dtype for ``device``: ``name`` (auto, bf16, fp16, fp32; None reads ``$KINO_DTYPE``),
    auto meaning bf16 where the hardware runs it natively and float32 elsewhere."""
    name = parse(name)
    if name != "auto":
        return DTYPES[name]
    return torch.bfloat16 if hardware(device).native_bf16 else torch.float32


def describe(dtype: torch.dtype, device="cpu") -> dict:
    """What a figure was measured with: {"dtype", "device", "capability"}."""
    hw = hardware(device)
    return {"dtype": NAMES.get(dtype, str(dtype)), "device": hw.device, "capability": hw.capability}
