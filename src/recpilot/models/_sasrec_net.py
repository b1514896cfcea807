"""The SASRec network and its training loop (imports torch; loaded only through :mod:`recpilot.models.sasrec`).

Sequences arrive as ``(batch, max_len)`` int64 tensors of item indices shifted by +1, left-padded with 0 and
right-aligned, so the newest item always sits in the last column (as in Kang & McAuley 2018).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional

from recpilot.errors import ConfigError

if TYPE_CHECKING:
    from recpilot.models.sasrec import SASRecConfig

logger = logging.getLogger("recpilot.models.sasrec")


class SASRecNet(nn.Module):
    """Item + learned position embeddings, causal pre-LN transformer blocks, tied output embedding.

    Args:
        n_items: Number of real items (index 0 of the embedding is padding).
        max_len: Sequence window length.
        hidden: Embedding and model width.
        n_blocks: Number of self-attention blocks.
        n_heads: Attention heads per block (must divide ``hidden``).
        dropout: Dropout rate on embeddings, attention and feed-forward layers.
    """

    def __init__(
        self, n_items: int, max_len: int, hidden: int, n_blocks: int, n_heads: int, dropout: float
    ) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.scale = math.sqrt(hidden)
        self.item_embedding = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        # N(0, 1/hidden) rather than torch's N(0, 1): the scaled input then has unit variance, and the tied
        # output layer starts with logits of order 1 instead of saturating the softmax.
        nn.init.normal_(self.item_embedding.weight, std=hidden**-0.5)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()
        self.position_embedding = nn.Embedding(max_len, hidden)
        self.embedding_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model=hidden,
                nhead=n_heads,
                dim_feedforward=hidden,
                dropout=dropout,
                batch_first=True,
                norm_first=True,
            )
            for _ in range(n_blocks)
        )
        self.final_norm = nn.LayerNorm(hidden)
        self.register_buffer("positions", torch.arange(max_len), persistent=False)
        self.register_buffer("causal", torch.triu(torch.ones(max_len, max_len, dtype=torch.bool), 1), persistent=False)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        """Hidden states ``(batch, max_len, hidden)`` for padded sequences ``(batch, max_len)``."""
        keep = (sequences > 0).unsqueeze(-1)
        x = self.item_embedding(sequences) * self.scale + self.position_embedding(self.positions)
        x = self.embedding_dropout(x) * keep
        mask = self._attention_mask(sequences)
        for block in self.blocks:
            # Re-zero padding after every block so it carries no signal into the next one.
            x = block(x, src_mask=mask) * keep
        return self.final_norm(x)

    @property
    def item_weights(self) -> torch.Tensor:
        """Embeddings of the real items ``(n_items, hidden)``, which double as the output layer."""
        return self.item_embedding.weight[1:]

    def _attention_mask(self, sequences: torch.Tensor) -> torch.Tensor:
        """Boolean ``(batch * heads, L, L)`` mask (True = blocked): causal, and padding keys blocked."""
        blocked = self.causal.unsqueeze(0) | (sequences == 0).unsqueeze(1)
        # A padding query sees only padding keys; letting every position see itself avoids all-blocked
        # rows (NaN softmax). Real positions are unaffected: their own key is never padding.
        blocked = blocked & ~torch.eye(sequences.shape[1], dtype=torch.bool, device=sequences.device)
        return blocked.repeat_interleave(self.n_heads, dim=0)


def resolve_device(name: str) -> torch.device:
    """The torch device for a config value; ``"cuda"`` without a GPU is a configuration error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("sasrec: device 'cuda' was requested but no CUDA GPU is available; use device='cpu'")
    return torch.device(name)


def build_network(config: SASRecConfig, n_items: int) -> SASRecNet:
    """An untrained network shaped by ``config`` for ``n_items`` items."""
    return SASRecNet(n_items, config.max_len, config.hidden, config.n_blocks, config.n_heads, config.dropout)


@contextmanager
def limited_threads(num_threads: int | None) -> Iterator[None]:
    """Run with ``num_threads`` torch CPU threads (None: leave torch's default), restoring it afterwards."""
    previous = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fit_network(
    config: SASRecConfig, n_items: int, inputs: npt.NDArray[np.int64], targets: npt.NDArray[np.int64]
) -> tuple[SASRecNet, list[float]]:
    """Build and train a network with Adam on next-item targets.

    Args:
        config: Architecture, optimisation and runtime settings.
        n_items: Number of real items.
        inputs: ``(n, max_len)`` shifted, left-padded input sequences.
        targets: ``(n, max_len)`` the shifted item that follows each input position (0 at padding).

    Returns:
        The trained network (in eval mode, on the configured device) and the mean loss of every epoch.
    """
    device = resolve_device(config.device)
    cuda = [device.index or 0] if device.type == "cuda" else []
    # fork_rng keeps the seeding local: the caller's global torch RNG state is left as it was.
    with limited_threads(config.num_threads), torch.random.fork_rng(devices=cuda):
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        net = build_network(config, n_items).to(device)
        losses = _train(net, inputs, targets, config, device, generator)
    net.eval()
    return net, losses


def _train(
    net: SASRecNet,
    inputs: npt.NDArray[np.int64],
    targets: npt.NDArray[np.int64],
    config: SASRecConfig,
    device: torch.device,
    generator: torch.Generator,
) -> list[float]:
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, betas=(0.9, 0.98))
    all_inputs = torch.from_numpy(inputs)
    all_targets = torch.from_numpy(targets)
    n_items = net.item_weights.shape[0]
    losses: list[float] = []
    net.train()
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(all_inputs), generator=generator)
        total, steps = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size]
            batch_targets = all_targets[rows].to(device)
            hidden = net(all_inputs[rows].to(device))
            valid = batch_targets > 0
            # Only real positions reach the output layer: padding would waste most of a full softmax.
            states = hidden[valid]
            positives = batch_targets[valid]
            if config.loss == "softmax":
                value = functional.cross_entropy(states @ net.item_weights.T, positives - 1)
            else:
                value = _bce_loss(net, states, positives, n_items, generator)
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            total += float(value.detach())
            steps += 1
        losses.append(total / max(steps, 1))
        logger.info("sasrec epoch %d/%d: loss %.4f", epoch, config.epochs, losses[-1])
    return losses


def _bce_loss(
    net: SASRecNet, states: torch.Tensor, positives: torch.Tensor, n_items: int, generator: torch.Generator
) -> torch.Tensor:
    """The original SASRec objective: one uniformly sampled negative per position.

    The original rejects negatives from the whole user history; rejecting only the positive keeps sampling
    vectorised and differs on a negligible fraction of draws when the catalog is large.
    """
    negatives = torch.randint(1, n_items + 1, positives.shape, generator=generator).to(positives.device)
    clash = negatives == positives
    negatives[clash] = negatives[clash] % n_items + 1
    weights = net.item_embedding.weight
    pos_logits = (states * weights[positives]).sum(-1)
    neg_logits = (states * weights[negatives]).sum(-1)
    return functional.binary_cross_entropy_with_logits(
        pos_logits, torch.ones_like(pos_logits)
    ) + functional.binary_cross_entropy_with_logits(neg_logits, torch.zeros_like(neg_logits))


def score_sequences(
    net: SASRecNet, sequences: npt.NDArray[np.int64], *, num_threads: int | None, batch_size: int = 1024
) -> npt.NDArray[np.float32]:
    """Scores ``(n, n_items)``: the newest position's hidden state against every item embedding."""
    device = net.item_weights.device
    weights = net.item_weights
    scores = np.empty((len(sequences), weights.shape[0]), dtype=np.float32)
    with limited_threads(num_threads), torch.inference_mode():
        for start in range(0, len(sequences), batch_size):
            batch = torch.from_numpy(sequences[start : start + batch_size]).to(device)
            block = net(batch)[:, -1, :] @ weights.T
            scores[start : start + len(batch)] = block.float().cpu().numpy()
    return scores
