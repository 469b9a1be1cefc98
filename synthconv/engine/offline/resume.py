"""Resuming after a cut: a line the peer cut off comes again, after "As I was saying," (the
policy decides when: policy.py). Not the hearing repair (repair.py) nor a self-repair
(disfluency.py): no opener starts with "Sorry", which the hearing repair reads, on a short
line, as a question about a number (acts.asks_about_number)."""

from __future__ import annotations

from .spelling import lower_first
from .transform import Context, Example, Line, Transform

OPENERS = {
    "en": ["As I was saying,", "Let me just finish,", "Like I said,", "Anyway, as I was saying,"],
    "hi": ["जैसा मैं कह रहा था,", "मैं बस यह कह रहा था कि"],
}


def _resume(line: Line, ctx: Context) -> str:
    again = ctx.pick(OPENERS[ctx.lang])
    if ctx.persona.gender == "female":  # Hindi verbs agree with the speaker: "कह रही थी"
        again = again.replace("रहा था", "रही थी")
    return f"{again} {lower_first(line.text)}"


RESUME = Transform(
    "resume", _resume,
    examples=(Example("It's 4417 2093.", "As I was saying, it's 4417 2093."),
              Example("Dallas is the drop.", "As I was saying, dallas is the drop.",
                      "a known quirk: names lose their capital here, not after a filler"),
              Example("रिचार्ज नहीं हुआ।", "जैसा मैं कह रही थी, रिचार्ज नहीं हुआ।", "a woman's words",
                      lang="hi", persona={"gender": "female"})),
)
