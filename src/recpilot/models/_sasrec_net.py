"""The SASRec network and its training loop (imports torch; used only via :mod:`recpilot.models.sasrec`).

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

    causal: torch.Tensor

    def __init__(
        self, n_items: int, max_len: int, hidden: int, n_blocks: int, n_heads: int, dropout: float
    ) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.max_len = max_len
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
        self.register_buffer(
            "causal", torch.ones(max_len, max_len, dtype=torch.bool).triu(1), persistent=False
        )

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        """Hidden states ``(batch, width, hidden)`` for right-aligned sequences ``(batch, width)``.

        ``width`` may be less than ``max_len`` (leading all-padding columns dropped): padding is fully
        masked, so the hidden states of real items do not depend on it.
        """
        width = sequences.shape[1]
        positions = self.position_embedding.weight[self.max_len - width :]
        x = self.embedding_dropout(self.item_embedding(sequences) * self.scale + positions)
        mask = self._attention_mask(sequences)
        for block in self.blocks:
            x = block(x, src_mask=mask)
        hidden: torch.Tensor = self.final_norm(x)
        return hidden

    @property
    def item_weights(self) -> torch.Tensor:
        """Embeddings of the real items ``(n_items, hidden)``, which double as the output layer."""
        return self.item_embedding.weight[1:]

    def _attention_mask(self, sequences: torch.Tensor) -> torch.Tensor:
        """Boolean ``(batch * heads, width, width)`` mask, True = blocked: future and padding keys."""
        width = sequences.shape[1]
        padding_key = (sequences == 0).unsqueeze(1)
        # Every position may see itself: a padding query would otherwise have no key at all (NaN softmax).
        # Real queries are unaffected, and padding queries see only themselves, so nothing leaks.
        padding_key = padding_key & ~torch.eye(width, dtype=torch.bool, device=sequences.device)
        blocked = self.causal[:width, :width] | padding_key
        return blocked.repeat_interleave(self.n_heads, dim=0)


def resolve_device(name: str) -> torch.device:
    """The torch device for a config value; ``"cuda"`` without a GPU is a configuration error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "sasrec: device 'cuda' was requested but no CUDA GPU is available; use device='cpu'"
        )
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
    widths = torch.from_numpy((inputs > 0).sum(axis=1))
    losses: list[float] = []
    net.train()
    for epoch in range(1, config.epochs + 1):
        total = 0.0
        batches = _length_bucketed_batches(widths, config.batch_size, generator)
        for rows in batches:
            # Right-aligned rows: dropping the leading columns that are padding in the whole batch
            # changes nothing for real items and saves most of the work on short-history data.
            width = int(widths[rows].max())
            batch_targets = all_targets[rows, -width:].to(device)
            hidden = net(all_inputs[rows, -width:].to(device))
            valid = batch_targets > 0
            value = batch_loss(net, hidden[valid], batch_targets[valid], config, generator)
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(value)
            optimizer.step()
            total += float(value.detach())
        losses.append(total / max(len(batches), 1))
        logger.info("sasrec epoch %d/%d: loss %.4f", epoch, config.epochs, losses[-1])
    return losses


def _length_bucketed_batches(
    widths: torch.Tensor, batch_size: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """Shuffled batches of row indices whose rows have similar lengths.

    Rows are shuffled, sorted by length within pools of 64 batches, cut into batches, and the batches
    shuffled again: batches stay random in content and order while their padding stays small.
    """
    order = torch.randperm(len(widths), generator=generator)
    pool = batch_size * 64
    batches: list[torch.Tensor] = []
    for start in range(0, len(order), pool):
        part = order[start : start + pool]
        part = part[torch.argsort(widths[part], stable=True)]
        batches.extend(torch.split(part, batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def batch_loss(
    net: SASRecNet,
    states: torch.Tensor,
    positives: torch.Tensor,
    config: SASRecConfig,
    generator: torch.Generator,
) -> torch.Tensor:
    """The configured loss of hidden ``states`` ``(n, hidden)`` against shifted ``positives`` ``(n,)``."""
    n_items = net.item_weights.shape[0]
    # Sampling as many negatives as there are items costs as much as the exact softmax, so use that.
    if config.loss == "softmax" or (config.loss == "sampled_softmax" and config.n_negatives >= n_items):
        return functional.cross_entropy(states @ net.item_weights.T, positives - 1)
    weights = net.item_embedding.weight
    if config.loss == "sampled_softmax":
        # One shared set of uniform negatives per batch: a single (n, n_negatives) matmul instead of
        # (n, n_items). Uniform sampling needs no logQ correction; a negative that happens to be the
        # positive is masked out.
        negatives = torch.randint(1, n_items + 1, (config.n_negatives,), generator=generator).to(
            states.device
        )
        pos_logits = (states * weights[positives]).sum(-1, keepdim=True)
        neg_logits = (states @ weights[negatives].T).masked_fill(
            negatives == positives.unsqueeze(1), -torch.inf
        )
        logits = torch.cat([pos_logits, neg_logits], dim=1)
        return functional.cross_entropy(
            logits, torch.zeros(len(logits), dtype=torch.long, device=states.device)
        )
    # The original objective, one uniform negative per position. The original rejects negatives from the
    # whole user history; rejecting only the positive keeps sampling vectorised and differs on a
    # negligible fraction of draws when the catalog is large.
    negatives = torch.randint(1, n_items + 1, positives.shape, generator=generator).to(positives.device)
    clash = negatives == positives
    negatives[clash] = negatives[clash] % n_items + 1
    pos_logits = (states * weights[positives]).sum(-1)
    neg_logits = (states * weights[negatives]).sum(-1)
    return functional.binary_cross_entropy_with_logits(
        pos_logits, torch.ones_like(pos_logits)
    ) + functional.binary_cross_entropy_with_logits(neg_logits, torch.zeros_like(neg_logits))


def score_sequences(
    net: SASRecNet, sequences: npt.NDArray[np.int64], *, num_threads: int | None, batch_size: int = 1024
) -> npt.NDArray[np.float32]:
    """Scores ``(n, n_items)``: the newest position's hidden state against every item embedding.

    Rows are processed in order of length so that each batch can drop its all-padding columns.
    """
    widths = (sequences > 0).sum(axis=1)
    order = np.argsort(widths, kind="stable")
    device = net.item_weights.device
    scores = np.empty((len(sequences), net.item_weights.shape[0]), dtype=np.float32)
    with limited_threads(num_threads), torch.inference_mode():
        weights = net.item_weights
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(int(widths[rows].max()), 1)
            batch = torch.from_numpy(np.ascontiguousarray(sequences[rows, -width:])).to(device)
            block = net(batch)[:, -1, :] @ weights.T
            scores[rows] = block.float().cpu().numpy()
    return scores
