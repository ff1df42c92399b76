"""The fused classifier: one encoder per modality, then one of four fusion strategies.

Shapes are chosen for CPU inference and int8: plain 3x3 convs and GEMMs, few tiny ops,
no layout changes beyond what attention needs. Every forward honours the presence masks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edgefuse.runtime.contract import AudioSpec, ModelContract
from edgefuse.train.frontend import LogMel
from edgefuse.train.fusion import FUSIONS, Block, attention_bias, make_fusion


@dataclass(frozen=True)
class ModelArgs:
    """Architecture numbers; saved in the run so a checkpoint rebuilds its own model."""

    num_classes: int
    modalities: tuple[str, ...]
    fusion: str = "attention"
    """How modality tokens become logits: attention, concat, late or gated (see FUSIONS)."""
    dim: int = 128
    """Width of every modality token and of the fusion transformer."""
    conv_widths: tuple[int, ...] = (32, 64, 128)
    """Channels of the image and audio CNN stages (each stage halves the resolution)."""
    image_channels: int = 3
    text_vocab: int = 512
    text_max_length: int = 32
    text_layers: int = 2
    fusion_layers: int = 1
    heads: int = 4
    dropout: float = 0.1
    sample_rate: int = AudioSpec.sample_rate
    n_fft: int = AudioSpec.n_fft
    hop_length: int = AudioSpec.hop_length
    n_mels: int = AudioSpec.n_mels
    f_min: float = AudioSpec.f_min
    f_max: float = AudioSpec.f_max

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelArgs:
        d = dict(d)  # runs saved before `fusion` existed used attention, the default
        for key in ("modalities", "conv_widths"):
            d[key] = tuple(d[key])
        return cls(**d)


def conv_bn(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class ConvEncoder(nn.Module):
    """(B, C, H, W) → (B, dim): stages of [stride-2 conv, conv], global average pool, projection."""

    def __init__(self, c_in: int, widths: tuple[int, ...], dim: int):
        super().__init__()
        layers, c = [], c_in
        for w in widths:
            layers += [conv_bn(c, w, 2), conv_bn(w, w, 1)]
            c = w
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Linear(c, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # GlobalAveragePool rather than ReduceMean: onnxruntime's int8 convolutions run channels-last,
        # and a pool it can run channels-last too spares a layout Transpose at the end of the stack.
        return self.proj(F.adaptive_avg_pool2d(self.convs(x), 1).flatten(1))


class ImageEncoder(nn.Module):
    """(B, C, H, W) float 0..1 → (B, dim); normalization by data-set mean/std is in the graph."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.register_buffer("mean", torch.full((1, args.image_channels, 1, 1), 0.5))
        self.register_buffer("std", torch.full((1, args.image_channels, 1, 1), 0.25))
        self.cnn = ConvEncoder(args.image_channels, args.conv_widths, args.dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.cnn((image - self.mean) / self.std)


class AudioEncoder(nn.Module):
    """(B, S) waveform → (B, dim): in-graph log-mel, fixed (learned) per-band normalization, 2-D CNN."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.frontend = LogMel(args.sample_rate, args.n_fft, args.hop_length, args.n_mels, args.f_min, args.f_max)
        self.norm = nn.BatchNorm2d(1)
        self.cnn = ConvEncoder(1, args.conv_widths, args.dim)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.cnn(self.norm(self.frontend(audio).unsqueeze(1)))  # (B, 1, T, n_mels) inside


class TextEncoder(nn.Module):
    """(B, L) token ids + mask → (B, dim): embeddings, transformer blocks, masked mean pool."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.embed = nn.Embedding(args.text_vocab, args.dim)
        self.pos = nn.Parameter(torch.zeros(1, args.text_max_length, args.dim))
        self.blocks = nn.ModuleList(Block(args.dim, args.heads, args.dropout) for _ in range(args.text_layers))
        self.ln = nn.LayerNorm(args.dim)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = mask.to(torch.float32)
        x = self.embed(ids) + self.pos[:, : ids.shape[1]]  # (B, L, dim)
        bias = attention_bias(keep)
        for block in self.blocks:
            x = block(x, bias)
        x = self.ln(x) * keep.unsqueeze(-1)
        return x.sum(dim=1) / keep.sum(dim=1, keepdim=True).clamp(min=1.0)


class FusedClassifier(nn.Module):
    """The whole model. `forward` takes the ONNX graph's input names as keyword arguments."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        encoders = {"image": ImageEncoder, "audio": AudioEncoder, "text": TextEncoder}
        self.encoders = nn.ModuleDict({m: encoders[m](args) for m in args.modalities})
        self.fusion = make_fusion(args)

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        """Graph inputs (image, image_present, audio, audio_present, text_ids, text_mask, text_present) → logits (B, K)."""
        tokens, present = [], []
        for m in self.args.modalities:
            if m == "text":
                tokens.append(self.encoders[m](inputs["text_ids"], inputs["text_mask"]))
            else:
                tokens.append(self.encoders[m](inputs[m]))
            present.append(inputs[f"{m}_present"].to(torch.float32))
        return self.fusion(torch.stack(tokens, dim=1), torch.stack(present, dim=1))

    def input_names(self, contract: ModelContract) -> list[str]:
        """Graph input names in order, as the contract names them."""
        names = []
        if contract.image:
            names += [contract.image.input, contract.image.presence]
        if contract.audio:
            names += [contract.audio.input, contract.audio.presence]
        if contract.text:
            names += [contract.text.input_ids, contract.text.attention_mask, contract.text.presence]
        return names


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
