"""The order in which the offline policy words a turn: every named transform, in the order it
runs (policy.py runs the stages; a transform's chances are drawn in this order, so the order is
part of what a seed says)."""

from __future__ import annotations

from .disfluency import FILLER, ONE_SPACE, REPETITION, SELF_REPAIR
from .idiolect import ADDRESS, ADVERB, INTENSIFIER, OPENER, OPENER_CASE
from .paraphrase import PARAPHRASE
from .resume import RESUME
from .spelling import ONE_STOP, SENTENCE_CASE, TIDY
from .style import CONTRACT, DROP_PLEASE, HEDGE, IN_FULL, POLITE_ASK, TERSE
from .transform import run

TEMPLATE = (PARAPHRASE,)  # a scenario's lines, before their parts are chosen (wording.choose)
LINE = (TIDY, SENTENCE_CASE)  # the beat's line as composed; a sentence added to it gets SENTENCE_CASE alone
IDIOLECT = (ADVERB, INTENSIFIER, OPENER, OPENER_CASE)  # what this one speaker says out of habit
RESTYLE = (IN_FULL, CONTRACT, POLITE_ASK, *IDIOLECT, HEDGE, TERSE)  # how this speaker talks (English)
TURN = (ONE_STOP, DROP_PLEASE, *RESTYLE, ADDRESS, FILLER)  # the turn: the line, what is added to it, its opener
DISFLUENCY = (REPETITION, SELF_REPAIR, ONE_SPACE)  # natural turn-taking only, with an RNG of its own
AGAIN = (RESUME,)  # a line the peer cut off, said again
ALL = TEMPLATE + LINE + TURN + DISFLUENCY + AGAIN

__all__ = ["AGAIN", "ALL", "DISFLUENCY", "IDIOLECT", "LINE", "RESTYLE", "TEMPLATE", "TURN", "run"]
