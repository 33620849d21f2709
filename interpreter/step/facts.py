"""What the functional pass learns that an op's cost rule needs: typed facts, one kind each.

Most ops' events follow from their streams alone; a few depend on choices made while
computing values (which input a merged item came from, where padding went). Semantics
records those as one of the dataclasses below under the node's id
(`RunContext.facts`), and the cost rule asks for the kind it expects
(`CostEnv.fact`), so a missing or mismatched fact fails loudly, naming the node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PaddedSlots:
    """reshape(pad=True): the output item each input item became (padding fills the gaps)."""

    slot: np.ndarray


@dataclass(frozen=True)
class ExpandOwners:
    """expand: for every ref item, the x element it repeats (a bare stop: the next one)."""

    owner: np.ndarray


@dataclass(frozen=True)
class ItemSources:
    """Where every output item of a merging op came from: input port and item there
    (-1 and -1 for a bare stop the op made itself)."""

    port: np.ndarray
    item: np.ndarray


@dataclass(frozen=True)
class Reassembled:
    """reassemble: the sources of its items, and the output item at which each selector
    item is taken."""

    sources: ItemSources
    sel_take: np.ndarray


@dataclass(frozen=True)
class Merged:
    """eager_merge: the sources of its items, the first output item of every chunk (the
    chunk's selector is emitted with it), and every input's chunks as item and value
    ranges [start, end) (arrival order is found from the items' times)."""

    sources: ItemSources
    chunk_first: np.ndarray
    chunk_items: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]]


Fact = PaddedSlots | ExpandOwners | Reassembled | Merged
