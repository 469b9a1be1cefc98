"""Which written token each of Piper's phoneme words was: a sentence's phonemes, cut at spaces,
matched to the text's whitespace tokens by how many sounds each makes (engine/offline/piper.py
then times each token by its phonemes' durations)."""

from __future__ import annotations

import unicodedata

import numpy as np

_NOT_A_SOUND = {"Lm", "Sk", "Mn", "Po", "Pd", "Ps", "Pe", "Pi", "Pf", "Zs"}  # ˈ ˌ ː , . ? ...


def sounds(phonemes: list[str]) -> int:
    """How many of `phonemes` are sounds (not stress, length or pause marks)."""
    return sum(unicodedata.category(p) not in _NOT_A_SOUND for p in phonemes)


def word_spans_of(phonemes: list[str]) -> list[list[int]]:
    """A sentence's phonemes cut at spaces into words that make a sound (indices into it); marks
    after a space (a pause) belong to the word before."""
    spans: list[list[int]] = []
    start = 0
    for k, p in enumerate([*phonemes, " "]):
        if p != " ":
            continue
        part = list(range(start, k))
        if sounds([phonemes[i] for i in part]):
            spans.append(part)
        elif spans:
            spans[-1] += part
        start = k + 1
    return spans


def align(tokens: list[list[tuple[int, int]]], words: list[int]) -> list[list[int] | tuple[int, int] | None]:
    """Which phoneme words each written token was said as.

    `tokens` are the ways each token may be said on its own: (phoneme words, sounds) each
    (`PiperModel.expected`);
    `words` the sounds of each phoneme word of the text as said. Mostly one to one; espeak-ng
    says a number as several words ("4471" as "four thousand four hundred seventy one") and
    joins some pairs into one ("in the" as "ɪnðə"). The monotone alignment of least mismatch in
    sounds finds them. Per token: its phoneme word indices; (word, k) for the k-th of several
    tokens said as one word; or None (nothing said: it rides with the word before).
    """
    n, m = len(tokens), len(words)
    cost = np.full((n + 1, m + 1), np.inf)
    cost[0, 0] = 0.0
    back: dict[tuple[int, int], tuple[int, int, str]] = {}
    cum = np.cumsum([0, *words])
    for i in range(n + 1):
        for j in range(m + 1):
            if cost[i, j] == np.inf:
                continue
            for a, b, d, kind in _moves(tokens, words, cum, i, j):
                if cost[i, j] + d < cost[a, b]:
                    cost[a, b] = cost[i, j] + d
                    back[a, b] = (i, j, kind)
    out: list = [None] * n
    i, j = n, m
    while (i, j) != (0, 0):
        pi, pj, kind = back[i, j]
        if kind == "own":
            out[pi] = list(range(pj, j))
        elif kind == "joined":
            out[pi:i] = [(pj, k) for k in range(i - pi)]
        i, j = pi, pj
    return out


def _moves(tokens: list[list[tuple[int, int]]], words: list[int], cum: np.ndarray, i: int, j: int) -> list:
    """From token i and word j: (next token, next word, cost, kind) for each way to go on."""
    n, m = len(tokens), len(words)
    moves = [(i, j + 1, 1.0 + words[j] / 4, "extra")] if j < m else []  # said, but by no token
    if i == n:
        return moves
    if all(e == 0 for _, e in tokens[i]):
        return [*moves, (i + 1, j, 0.0, "silent")]
    most = max(k for k, _ in tokens[i])
    for k in range(1, min(m - j, max(2 * most + 2, 4)) + 1):  # one token, k words
        said = cum[j + k] - cum[j]
        cost = min(abs(said - e) / (e + 1) + 0.25 * abs(k - k_alone) for k_alone, e in tokens[i])
        moves.append((i + 1, j + k, cost, "own"))
    joined = tokens[i][0][1]
    for t in range(i + 1, min(n, i + 4)):  # several tokens, one word
        if tokens[t][0][1] == 0 or j >= m:
            break
        joined += tokens[t][0][1]
        moves.append((t + 1, j + 1, abs(words[j] - joined) / (joined + 1) + 0.5, "joined"))
    return moves


def sentence_of_tokens(owner: list, flat: list[tuple[int, int]]) -> list[int]:
    """The sentence each token is spoken in: where its (last) phoneme word is; a token said as
    nothing goes with the token before it (or, at the start, the one after)."""
    where: list[int | None] = []
    for own in owner:
        if isinstance(own, list) and own:
            where.append(flat[own[-1]][0])
        elif isinstance(own, tuple):
            where.append(flat[own[0]][0])
        else:
            where.append(where[-1] if where else None)
    nxt = next((w for w in where if w is not None), 0)
    return [nxt if w is None else w for w in where]


def span_of(owner: list, t: int, flat: list[tuple[int, int]], at: list[tuple[int, int]], s: int,
          said: list[str]) -> tuple[int, int] | None:
    """Token `t`'s samples in sentence `s`: its phoneme words (from the sentence start if they
    began in the sentence before), or its share by length of a word said with its neighbours."""
    own = owner[t]
    if isinstance(own, list) and own:
        first, last = flat[own[0]], flat[own[-1]]
        return (at[first[1]][0] if first[0] == s else 0, at[last[1]][1])
    if isinstance(own, tuple):
        a, b = at[flat[own[0]][1]]
        group = [k for k, o in enumerate(owner) if isinstance(o, tuple) and o[0] == own[0]]
        sizes = np.cumsum([0, *(len(said[k]) + 1 for k in group)])
        cuts = [a + int((b - a) * x / sizes[-1]) for x in sizes]
        i = group.index(t)
        return cuts[i], cuts[i + 1]
    return None
