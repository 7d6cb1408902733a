"""A rate-1/2 convolutional code (constraint length 7, generators 171/133 octal, the NASA/CCSDS code)
with soft-decision Viterbi decoding (Viterbi, 1967): the watermark's 48 payload bits become 108 coded
bits, and a few weak ones no longer change the key id."""

from __future__ import annotations

import functools

import numpy as np

K = 7
GENERATORS = (0o171, 0o133)
STATES = 1 << (K - 1)


def coded_length(n_bits: int) -> int:
    return 2 * (n_bits + K - 1)


@functools.lru_cache(maxsize=None)
def _trellis() -> tuple[np.ndarray, np.ndarray]:
    """For each state and input bit: the next state (STATES, 2) and the two output bits (STATES, 2, 2)."""
    nxt = np.zeros((STATES, 2), np.int64)
    out = np.zeros((STATES, 2, 2), np.int8)
    for s in range(STATES):
        for b in (0, 1):
            reg = (b << (K - 1)) | s  # newest bit on top
            nxt[s, b] = reg >> 1
            for j, g in enumerate(GENERATORS):
                out[s, b, j] = bin(reg & g).count("1") & 1
    return nxt, out


def encode(bits: np.ndarray) -> np.ndarray:
    """(n,) of 0/1 -> (2 (n + 6),) coded bits, the register flushed back to zero at the end."""
    nxt, out = _trellis()
    s, coded = 0, []
    for b in list(np.asarray(bits, np.int64)) + [0] * (K - 1):
        coded.extend(out[s, b])
        s = nxt[s, b]
    return np.array(coded, np.uint8)


def decode(soft: np.ndarray, n_bits: int) -> np.ndarray:
    """Soft Viterbi: ``soft`` (2 (n + 6),) with the sign a coded bit's vote (+ for 1) and the size its
    confidence -> the (n,) bits whose code word agrees with it best."""
    nxt, out = _trellis()
    signs = 2.0 * out.astype(np.float64) - 1.0  # (STATES, 2, 2)
    metric = np.full(STATES, -np.inf)
    metric[0] = 0.0
    back = np.zeros((n_bits + K - 1, STATES), np.int64)  # best predecessor's (state * 2 + bit)
    steps = n_bits + K - 1
    soft = np.asarray(soft, np.float64).reshape(steps, 2)
    for t in range(steps):
        gain = signs @ soft[t]  # (STATES, 2)
        cand = metric[:, None] + gain  # from state s with bit b
        if t >= n_bits:
            cand[:, 1] = -np.inf  # tail bits are zeros
        new = np.full(STATES, -np.inf)
        arg = np.zeros(STATES, np.int64)
        flat_next = nxt.ravel()
        flat_cand = cand.ravel()
        order = np.argsort(flat_cand, kind="stable")  # later (larger) writes win
        new[flat_next[order]] = flat_cand[order]
        arg[flat_next[order]] = order
        metric, back[t] = new, arg
    s, bits = 0, []
    for t in range(steps - 1, -1, -1):
        code = back[t, s]
        bits.append(code % 2)
        s = code // 2
    return np.array(bits[::-1][:n_bits], np.uint8)
