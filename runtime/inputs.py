"""Raw examples → the graph's input arrays, as the contract describes them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgefuse.runtime.contract import ModelContract
from edgefuse.runtime.errors import InputError
from edgefuse.runtime.preprocess import TextTokenizer, fit_window, load_audio, load_image
from edgefuse.runtime.preprocess.audio import AudioSource
from edgefuse.runtime.preprocess.image import ImageSource
from edgefuse.runtime.preprocess.text import is_present


@dataclass
class Example:
    """Raw input of one example; None (or blank text) means the modality is absent."""

    image: ImageSource | None = None
    audio: AudioSource | None = None
    text: str | None = None
    sample_rate: int | None = None
    """Rate of `audio` when it is an array; None means the contract's rate."""

    def present(self) -> tuple[str, ...]:
        given = {"image": self.image is not None, "audio": self.audio is not None, "text": is_present(self.text)}
        return tuple(m for m, ok in given.items() if ok)


class InputBuilder:
    """Builds feeds for one contract; absent modalities get zeros and presence 0."""

    def __init__(self, contract: ModelContract):
        self.contract = contract
        self.tokenizer = TextTokenizer(contract.text) if contract.text else None

    def build(self, examples: list[Example]) -> dict[str, np.ndarray]:
        """B examples → {input name: array with leading dimension B}."""
        c, feeds = self.contract, {}
        if not examples:
            raise InputError("no examples given; pass at least one")
        unused = sorted({m for e in examples for m in e.present()} - set(c.modalities))
        if unused:
            raise InputError(f"this model takes {', '.join(c.modalities)}; it has no input for {', '.join(unused)}")
        empty = [i for i, e in enumerate(examples) if not e.present()]
        if empty:
            raise InputError(f"example {empty[0]} has no input at all; pass at least one of {', '.join(c.modalities)}")
        if c.image:
            shape = (c.image.channels, c.image.height, c.image.width)
            tensors = [load_image(e.image, c.image) if e.image is not None else None for e in examples]
            feeds[c.image.input], feeds[c.image.presence] = _stack(tensors, shape)
        if c.audio:
            n = c.audio.window_samples
            clips = [
                fit_window(load_audio(e.audio, c.audio, e.sample_rate), n) if e.audio is not None else None
                for e in examples
            ]
            feeds[c.audio.input], feeds[c.audio.presence] = _stack(clips, (n,))
        if c.text:
            ids, mask, present = self.tokenizer.encode([e.text for e in examples])
            feeds[c.text.input_ids], feeds[c.text.attention_mask], feeds[c.text.presence] = ids, mask, present
        return feeds


def _stack(arrays: list[np.ndarray | None], shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    data = np.zeros((len(arrays), *shape), dtype=np.float32)
    for i, a in enumerate(arrays):
        if a is not None:
            data[i] = a
    return data, np.array([a is not None for a in arrays], dtype=np.float32)
