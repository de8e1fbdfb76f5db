"""Gated attention multiple-instance learning (Ilse et al. 2018), as the MIL paper scores a film from its
tiles (Scheme 1) or joint patches (Scheme 2).

A bag is ``N`` instances of one film, padded to the longest bag of a batch with a ``mask`` (1 = real
instance). Each instance's features ``h_n`` get an attention logit ``w^T (tanh(V h_n) * sigmoid(U h_n))``
(torchmil's ``AttentionPool`` with ``gated=True``); the softmax over the real instances weights their sum,
and a dropout and one linear layer give the film's score. The attention is returned, so a notebook can draw
it back over the tiles or joints.

:class:`AttentionMIL` works on features (an extractor run once, frozen); :class:`BagScorer` puts a CNN
before it, applied to every instance, for an extractor tuned with the MIL head.

Example:
    >>> import torch
    >>> mil = AttentionMIL(in_dim=8).eval()
    >>> out, attention = mil(torch.randn(2, 5, 8), torch.tensor([[1, 1, 1, 0, 0], [1] * 5]), return_attention=True)
    >>> tuple(out.shape), attention.sum(1).round(decimals=4).tolist(), attention[0, 3:].tolist()
    ((2, 1), [1.0, 1.0], [0.0, 0.0])
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn
from torchmil.nn import AttentionPool, masked_softmax

from ralib.models.backbones import ExplainerTarget, explainer_target
from ralib.models.registry import register_model
from ralib.models.weight_files import read_weights


class AttentionMIL(nn.Module):
    """Gated attention pooling over instance features ``(B, N, in_dim)`` and a linear head."""

    def __init__(self, in_dim: int, num_outputs: int = 1, att_dim: int = 128, dropout: float = 0.1):
        super().__init__()
        self.pool = AttentionPool(in_dim=in_dim, att_dim=att_dim, act="tanh", gated=True)  # V, U, w
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, num_outputs))

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None, return_attention: bool = False):
        """``features`` (B, N, D), ``mask`` (B, N) or None -> outputs (B, num_outputs) [, attention (B, N)]."""
        if mask is None:
            mask = torch.ones(features.shape[:2], device=features.device)
        pooled, logits = self.pool(features, mask, return_att=True)  # (B, D), (B, N)
        outputs = self.head(pooled)  # (B, num_outputs)
        if not return_attention:
            return outputs
        return outputs, masked_softmax(logits, mask)  # (B, N), zero on padding


class BagScorer(nn.Module):
    """A CNN ``extractor`` (a timm model without its head, ``num_features`` wide) applied to every
    instance of bags ``(B, N, C, H, W)`` (or grey ``(B, N, H, W)``), then :class:`AttentionMIL`."""

    def __init__(self, extractor: nn.Module, num_outputs: int = 1, att_dim: int = 128, dropout: float = 0.1):
        super().__init__()
        self.extractor = extractor
        self.mil = AttentionMIL(extractor.num_features, num_outputs, att_dim, dropout)

    @classmethod
    def from_trained(cls, classifier: nn.Module, mil: AttentionMIL) -> "BagScorer":
        """A scorer to tune end to end, started from a trained instance ``classifier`` (a timm model, copied
        and truncated before its head) and a :class:`AttentionMIL` trained on its frozen features (copied):
        the MIL paper's fine-tuned feature extractor, from where the frozen run ended."""
        extractor = copy.deepcopy(classifier)
        extractor.reset_classifier(0)
        scorer = cls(extractor, mil.head[-1].out_features, mil.pool.att_dim, mil.head[0].p)
        scorer.mil.load_state_dict(mil.state_dict())
        return scorer

    def explainer_target(self) -> ExplainerTarget:
        """The instance CNN's (the extractor's) target: a CAM over every instance of a bag."""
        return explainer_target(self.extractor)

    def instance_features(self, bags: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Features (B, N, D) of every instance; padded instances are not run through the CNN (zeros)."""
        if bags.dim() == 4:  # grey instances without a channel axis
            bags = bags[:, :, None]
        b, n = bags.shape[:2]
        flat = bags.reshape(b * n, *bags.shape[2:])  # (B*N, C, H, W)
        keep = torch.ones(b * n, dtype=torch.bool, device=bags.device) if mask is None else mask.reshape(-1).bool()
        features = flat.new_zeros(b * n, self.mil.pool.in_dim)
        features[keep] = self.extractor(flat[keep])  # (kept, D)
        return features.reshape(b, n, -1)

    def forward(self, bags: torch.Tensor, mask: torch.Tensor | None = None, return_attention: bool = False):
        return self.mil(self.instance_features(bags, mask), mask, return_attention)


def _bags(batch: int = 2, instances: int = 5, in_dim: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Random bags ``(batch, instances, in_dim)`` and their mask, the last bag one instance short."""
    mask = torch.ones(batch, instances, dtype=torch.bool)
    mask[-1, -1] = False
    return torch.randn(batch, instances, in_dim), mask


@register_model("attention_mil", explained=False, sample_build={"num_outputs": 1, "in_dim": 8}, sample_inputs=_bags)
def attention_mil(num_outputs: int, weights: str | Path | None = None, pretrained: str = "random", in_dim: int = 512,
                  att_dim: int = 128, dropout: float = 0.1) -> AttentionMIL:  # fmt: skip
    """:class:`AttentionMIL` over ``in_dim`` features, random or from a local state dict / checkpoint (it has no
    pretrained start: ``pretrained`` is always random)."""
    model = AttentionMIL(in_dim, num_outputs, att_dim, dropout)
    if weights is not None:
        state = read_weights(weights)
        model.load_state_dict(state.get("state_dict", state))
    return model
