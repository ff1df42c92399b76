"""Fusion strategies: modality tokens (B, M, dim) + presence (B, M) → logits (B, K).

Every strategy honours the presence mask: an absent modality's token never reaches the logits
(masked attention keys, zeroed concat slots, excluded from the late average, gated to zero).
Masks are additive -1e4 or multiplicative 0/1, never boolean indexing, so they export to
plain ONNX ops and batch rows with different presence run in one graph.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from edgefuse.train.model import ModelArgs

MASKED = 1e4
"""Additive mask for absent modalities: finite (not -inf) so fully masked rows stay finite in ONNX."""


def attention_bias(keep: torch.Tensor) -> torch.Tensor:
    """(B, T) 1/0 keep flags → (B, 1, 1, T) additive attention mask, computed once for all blocks."""
    return ((keep - 1.0) * MASKED)[:, None, None, :]


class Block(nn.Module):
    """Pre-norm transformer block; `bias` (B, 1, 1, T) from `attention_bias` masks keys.

    Heads are channel masks instead of reshapes: head h attends with q and v restricted to its
    channels, which is multi-head attention exactly, written without Reshape/Transpose and the
    shape arithmetic they export to — at batch 1 on a CPU those nodes cost more than the
    4x larger (B, H, T, T) products over tokens that stay few.
    """

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.scale = (dim // heads) ** -0.5
        self.register_buffer("head_mask", torch.eye(heads).repeat_interleave(dim // heads, dim=1)[:, None, :], persistent=False)  # (H, 1, C)
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)  # (B, T, C) each
        att = ((q.unsqueeze(1) * self.head_mask) @ k.unsqueeze(1).transpose(-2, -1)) * self.scale + bias  # (B, H, T, T)
        y = ((att.softmax(dim=-1) @ v.unsqueeze(1)) * self.head_mask).sum(dim=1)  # (B, T, C)
        x = x + self.drop(self.proj(y))
        return x + self.drop(self.mlp(self.ln2(x)))


class AttentionFusion(nn.Module):
    """A transformer over [CLS, one token per modality]; absent modalities are masked keys."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        m = len(args.modalities)
        self.cls = nn.Parameter(torch.zeros(1, 1, args.dim))
        self.type_embed = nn.Parameter(torch.randn(1, m, args.dim) * 0.02)
        self.blocks = nn.ModuleList(Block(args.dim, args.heads, args.dropout) for _ in range(args.fusion_layers))
        self.ln = nn.LayerNorm(args.dim)
        self.head = nn.Linear(args.dim, args.num_classes)

    def forward(self, tokens: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """tokens (B, M, dim), present (B, M) 0/1 → logits (B, K)."""
        B = tokens.shape[0]
        x = torch.cat([self.cls.expand(B, -1, -1), tokens + self.type_embed], dim=1)  # (B, 1 + M, dim)
        keep = torch.cat([torch.ones_like(present[:, :1]), present], dim=1)
        bias = attention_bias(keep)
        for block in self.blocks:
            x = block(x, bias)
        return self.head(self.ln(x[:, 0]))


class ConcatFusion(nn.Module):
    """Absent tokens zeroed, all tokens and the presence flags concatenated, then an MLP."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        m = len(args.modalities)
        self.ln = nn.LayerNorm(args.dim)
        self.mlp = nn.Sequential(
            nn.Linear(m * args.dim + m, 2 * args.dim), nn.GELU(), nn.Dropout(args.dropout), nn.Linear(2 * args.dim, args.num_classes)
        )

    def forward(self, tokens: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """tokens (B, M, dim), present (B, M) 0/1 → logits (B, K)."""
        x = self.ln(tokens) * present.unsqueeze(-1)  # (B, M, dim), absent slots exactly 0
        return self.mlp(torch.cat([x.flatten(1), present], dim=1))  # (B, M * dim + M) inside


class LateFusion(nn.Module):
    """One classifier head per modality; logits averaged over the present modalities."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        m, k = len(args.modalities), args.num_classes
        self.ln = nn.LayerNorm(args.dim)
        self.drop = nn.Dropout(args.dropout)
        # All M heads as one batched matmul: (M, dim, K) weights, (M, K) biases.
        self.weight = nn.Parameter(torch.randn(m, args.dim, k) / math.sqrt(args.dim))
        self.bias = nn.Parameter(torch.zeros(m, k))

    def forward(self, tokens: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """tokens (B, M, dim), present (B, M) 0/1 → logits (B, K)."""
        x = self.drop(self.ln(tokens)).transpose(0, 1)  # (M, B, dim)
        per_modality = (x @ self.weight).transpose(0, 1) + self.bias  # (B, M, K)
        weights = present / present.sum(dim=1, keepdim=True).clamp(min=1.0)  # (B, M)
        return (per_modality * weights.unsqueeze(-1)).sum(dim=1)


class GatedFusion(nn.Module):
    """Gated multimodal units: tanh features per modality, softmax gates over present modalities."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        m = len(args.modalities)
        self.ln = nn.LayerNorm(args.dim)
        self.features = nn.Linear(args.dim, args.dim)
        self.type_embed = nn.Parameter(torch.randn(1, m, args.dim) * 0.02)
        self.gate = nn.Linear(m * args.dim + m, m)
        self.head = nn.Sequential(nn.Dropout(args.dropout), nn.Linear(args.dim, args.num_classes))

    def forward(self, tokens: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """tokens (B, M, dim), present (B, M) 0/1 → logits (B, K)."""
        x = self.ln(tokens) * present.unsqueeze(-1)  # (B, M, dim)
        h = torch.tanh(self.features(x + self.type_embed))  # (B, M, dim)
        scores = self.gate(torch.cat([x.flatten(1), present], dim=1)) + (present - 1.0) * MASKED  # (B, M)
        gates = scores.softmax(dim=1) * present  # re-masked: exact zeros for absent modalities
        return self.head((h * gates.unsqueeze(-1)).sum(dim=1))


FUSIONS: dict[str, type[nn.Module]] = {
    "attention": AttentionFusion,
    "concat": ConcatFusion,
    "late": LateFusion,
    "gated": GatedFusion,
}
"""Fusion strategy by name, as `--fusion` takes it."""


def make_fusion(args: ModelArgs) -> nn.Module:
    if args.fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {args.fusion!r}; choose one of {sorted(FUSIONS)}")
    return FUSIONS[args.fusion](args)
