"""Tokenizing on the host with the Hugging Face tokenizer carried inside the contract."""

from __future__ import annotations

import numpy as np

from edgefuse.runtime._deps import require
from edgefuse.runtime.contract import TextSpec


class TextTokenizer:
    """Turns strings into the graph's (ids, mask, present) arrays; None or blank text is absent."""

    def __init__(self, spec: TextSpec):
        tokenizers = require("tokenizers")
        self.spec = spec
        self._tokenizer = tokenizers.Tokenizer.from_str(spec.tokenizer)
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(spec.max_length)

    def encode(self, texts: list[str | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """B texts → ids (B, L) int64, mask (B, L) int64, present (B,) float32; L = longest, >= 1."""
        present = np.array([bool(t and t.strip()) for t in texts], dtype=np.float32)
        encoded = self._tokenizer.encode_batch([t if p else "" for t, p in zip(texts, present)])
        length = max([1] + [len(e.ids) for e in encoded])
        ids = np.full((len(texts), length), self.spec.pad_id, dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.int64)
        for i, e in enumerate(encoded):
            if present[i]:
                ids[i, : len(e.ids)] = e.ids
                mask[i, : len(e.ids)] = 1
        return ids, mask, present
