"""How varied a run's wording is: distinct n-grams, utterances repeated verbatim across
conversations, near-duplicate conversations. Plain functions over texts, so any reader of runs
(inspect's summary, its report) computes them one way.
"""

from __future__ import annotations

import re

WORD = re.compile(r"\w+(?:['’]\w+)*")
NEAR_DUPLICATE = 0.8  # Jaccard similarity of word 3-gram sets above which two conversations are near-duplicates
MAX_PAIRWISE = 3000  # conversations; beyond that the pair matrix (n x n) is not made (not measured)


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: list[str], n: int) -> float | None:
    """Distinct n-grams over all n-grams (n-grams do not cross utterances); None without any."""
    grams = [g for t in texts for g in ngrams(words(t), n)]
    return round(len(set(grams)) / len(grams), 4) if grams else None


def repeated_share(conversations: dict[str, list[str]]) -> float | None:
    """The share of utterances whose wording (case and punctuation aside) is said word for word in
    another conversation too."""
    seen: dict[tuple[str, ...], set[str]] = {}
    for cid, texts in conversations.items():
        for t in texts:
            seen.setdefault(tuple(words(t)), set()).add(cid)
    total = sum(len(texts) for texts in conversations.values())
    if not total:
        return None
    repeated = sum(1 for texts in conversations.values() for t in texts if len(seen[tuple(words(t))]) > 1)
    return round(repeated / total, 4)


def near_duplicates(conversations: dict[str, list[str]],
                    threshold: float = NEAR_DUPLICATE) -> list[tuple[str, str, float]] | None:
    """Pairs of conversations whose word 3-gram sets overlap above `threshold` (Jaccard), most
    similar first; None when there are too many conversations to compare pairwise."""
    if len(conversations) > MAX_PAIRWISE:
        return None
    import numpy as np
    from scipy import sparse

    ids = list(conversations)
    vocab: dict[tuple[str, ...], int] = {}
    rows, cols = [], []
    for i, cid in enumerate(ids):
        for g in {g for t in conversations[cid] for g in ngrams(words(t), 3)}:
            rows.append(i)
            cols.append(vocab.setdefault(g, len(vocab)))
    m = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(ids), max(1, len(vocab))))
    inter = (m @ m.T).toarray()  # shared 3-grams of every pair at once
    size = np.diag(inter)
    union = size[:, None] + size[None, :] - inter
    sim = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    pairs = [(ids[a], ids[b], round(float(sim[a, b]), 3))
             for a, b in zip(*np.nonzero(np.triu(sim >= threshold, k=1)))]
    return sorted(pairs, key=lambda p: -p[2])


def diversity(conversations: dict[str, list[str]]) -> dict:
    """All of the above for conversation id -> its utterances."""
    texts = [t for ts in conversations.values() for t in ts]
    dups = near_duplicates(conversations)
    return {"distinct_2": distinct_n(texts, 2), "distinct_3": distinct_n(texts, 3),
            "repeated_utterance_share": repeated_share(conversations),
            "near_duplicate_pairs": None if dups is None else len(dups),
            "near_duplicate_threshold": NEAR_DUPLICATE, "near_duplicates": (dups or [])[:20]}


__all__ = ["diversity", "distinct_n", "near_duplicates", "repeated_share", "words"]
