"""Train/dev/test assignment that leaks nothing: whole groups of conversations go to one split.

`--split-by persona` groups conversations that share a speaker (transitively: the connected
components of the persona co-occurrence graph), so no voice is heard in two splits;
`scenario` keeps each scenario's wording and facts in one split; `conversation` splits freely.
Groups are ordered by a hash of their key and dealt greedily to the split furthest below its
share, so the same run and flags always give the same splits.
"""

from __future__ import annotations

import hashlib

from .source import Conversation

SPLITS = ("train", "dev", "test")
SPLIT_BY = ("persona", "scenario", "conversation")


def parse_split(text: str) -> dict[str, float]:
    """"80/10/10" -> {"train": 0.8, "dev": 0.1, "test": 0.1}; ValueError names what is wrong."""
    parts = text.split("/")
    if len(parts) != 3 or not all(p.strip().isascii() and p.strip().isdigit() for p in parts):  # not '²'
        raise ValueError(f"--split: expected three whole numbers like 80/10/10, got {text!r}")
    shares = [int(p) for p in parts]
    if sum(shares) != 100:
        raise ValueError(f"--split: {text} adds up to {sum(shares)}, not 100")
    return {name: share / 100 for name, share in zip(SPLITS, shares) if share}


def groups(conversations: list[Conversation], by: str) -> list[list[Conversation]]:
    """Conversations that must share a split: each alone, by scenario, or by persona (those that
    share a speaker, transitively: the connected components of persona co-occurrence)."""
    if by == "conversation":
        return [[c] for c in conversations]
    if by == "scenario":
        keyed: dict[str, list[Conversation]] = {}
        for c in conversations:
            keyed.setdefault(c.scenario, []).append(c)
        return list(keyed.values())
    parent: dict[str, str] = {}  # union-find over persona ids

    def find(p: str) -> str:
        while parent.setdefault(p, p) != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    for c in conversations:
        first, *rest = sorted(c.roles.values())
        for p in rest:
            parent[find(p)] = find(first)
    keyed = {}
    for c in conversations:
        keyed.setdefault(find(next(iter(c.roles.values()))), []).append(c)
    return list(keyed.values())


def assign(conversations: list[Conversation], shares: dict[str, float], by: str) -> dict[str, str]:
    """conversation id -> split name."""
    if by not in SPLIT_BY:
        raise ValueError(f"--split-by: choose from {', '.join(SPLIT_BY)} (got {by!r})")
    together = sorted(groups(conversations, by),
                      key=lambda g: hashlib.sha256(" ".join(sorted(c.id for c in g)).encode()).hexdigest())
    together.sort(key=len, reverse=True)  # big groups first: the small ones even out the shares
    total = len(conversations)
    filled = dict.fromkeys(shares, 0)
    out = {}
    for group in together:
        name = max(shares, key=lambda s: (shares[s] * total - filled[s], shares[s]))
        filled[name] += len(group)
        out.update({c.id: name for c in group})
    return out
