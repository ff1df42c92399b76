"""Tokenizing on the host with the Hugging Face tokenizer carried inside the contract.

Any Python string is accepted: empty or blank text means the modality is absent; lone
surrogates (which cannot be UTF-8) become U+FFFD; text far longer than the contract's token
budget is cut before tokenizing so that a megabyte of text costs no more than a sentence.
"""

from __future__ import annotations

import numpy as np

from edgefuse.runtime._deps import require
from edgefuse.runtime.contract import TextSpec
from edgefuse.runtime.errors import InputError

CHARS_PER_TOKEN_BOUND = 64
"""Text beyond max_length x this many characters is dropped before tokenizing. A token of the
byte-level BPE covers a few characters, so this never cuts what truncation would have kept
except for pathological runs of whitespace."""


def is_present(text: object) -> bool:
    """True for a string with a non-whitespace character; None and blank strings are absent."""
    if text is None:
        return False
    if not isinstance(text, str):
        raise InputError(f"text must be a string or None, got {type(text).__name__}; decode bytes to str first")
    return bool(text.strip())


def clean_text(text: str, max_chars: int) -> str:
    """Cut to `max_chars` characters and replace lone surrogates so the text is valid UTF-8."""
    text = text[:max_chars]
    return text.encode("utf-8", errors="replace").decode("utf-8")


class TextTokenizer:
    """Turns strings into the graph's (ids, mask, present) arrays; None or blank text is absent."""

    def __init__(self, spec: TextSpec):
        tokenizers = require("tokenizers")
        self.spec = spec
        self._tokenizer = tokenizers.Tokenizer.from_str(spec.tokenizer)
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(spec.max_length)
        self._max_chars = spec.max_length * CHARS_PER_TOKEN_BOUND

    def encode(self, texts: list[str | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """B texts → ids (B, L) int64, mask (B, L) int64, present (B,) float32; 1 <= L <= max_length."""
        present = np.array([is_present(t) for t in texts], dtype=np.float32)
        cleaned = [clean_text(t, self._max_chars) if p else "" for t, p in zip(texts, present)]
        encoded = self._tokenizer.encode_batch(cleaned)
        # Text the tokenizer reduces to nothing (e.g. only characters its normalizer drops) is absent:
        # a present text with an all-zero mask would make attention average over nothing.
        present *= np.array([len(e.ids) > 0 for e in encoded], dtype=np.float32)
        length = max([1] + [len(e.ids) for e in encoded])
        ids = np.full((len(texts), length), self.spec.pad_id, dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.int64)
        for i, e in enumerate(encoded):
            if present[i]:
                ids[i, : len(e.ids)] = e.ids
                mask[i, : len(e.ids)] = 1
        return ids, mask, present
