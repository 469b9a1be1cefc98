"""Drawn personas: a speaker sampled, seeded, from axes instead of read from a persona file.

Hand-written persona files give a run a couple of dozen voices, so a run of hundreds of
conversations repeats its speakers and a speaker-disjoint split is impossible. A drawn persona
takes a locale (locales/<locale>.yaml: its names and espeak-ng voices), a gender presentation and
age band, a name, a voice per engine within natural bounds and a speaking style, within the axes
the scenario role allows (`roles.<role>.sample`). It is an ordinary `Persona` (validated by the
same model) whose id is a hash of its content, so the same seed always draws the same persona
with the same id; the plan carries it in full (run.json `jobs[].personas`), so a resumed run or
an agent worker in another process uses exactly it.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import get_args

from .errors import LibraryError
from .scenario import Age, Fillers, Gender, Library, Mood, Pace, Persona, Politeness, Scenario, Verbosity

MODES = ("sampled", "files", "mixed")
MIXED_FILE_SHARE = 0.25  # --personas mixed: the share of speakers taken from persona files

# espeak-ng variants that present as each gender, and OpenAI voices likewise. Not the breathy
# f2, f3 and f5: their breath noise differs from one process to the next, so the same seed would
# not give the same tracks (persona files that use them have that problem too)
VARIANTS = {"female": ["f1", "f4"], "male": ["m1", "m2", "m3", "m4", "m5", "m6", "m7"]}
OPENAI_VOICES = {"female": ["coral", "nova", "shimmer", "sage", "alloy"],
                 "male": ["ash", "echo", "onyx", "verse", "ballad"]}
# natural bounds: words per minute by pace, shifted by age; pitch and range (espeak 0-99) by gender
RATE = {"slow": (132, 156), "normal": (158, 186), "fast": (188, 214)}
AGE_RATE = {"18-29": 8, "30-44": 0, "45-64": -6, "65+": -16}
PITCH = {"female": (50, 74), "male": (28, 52)}
AGE_PITCH = {"18-29": 4, "30-44": 0, "45-64": -3, "65+": -6}
RANGE = (34, 74)
# how common each value is when the scenario does not constrain the axis
WEIGHTS: dict[str, dict[str, float]] = {
    "age": {"18-29": 3, "30-44": 4, "45-64": 3, "65+": 1.5},
    "verbosity": {"terse": 2, "normal": 5, "verbose": 2},
    "politeness": {"low": 1.5, "normal": 5, "high": 3},
    "fillers": {"none": 2, "some": 5, "many": 2},
    "pace": {"slow": 2, "normal": 5, "fast": 2},
    "mood": {"calm": 5, "cheerful": 2, "frustrated": 1.5, "anxious": 1.2, "tired": 1, "hurried": 1.2},
}
AXES = {"gender": Gender, "age": Age, "verbosity": Verbosity, "politeness": Politeness, "fillers": Fillers,
        "pace": Pace, "mood": Mood}


def _pick(rng: random.Random, axis: str, allowed: list[str]) -> str:
    values = allowed or list(get_args(AXES[axis]))
    weights = [WEIGHTS.get(axis, {}).get(v, 1.0) for v in values]
    return rng.choices(values, weights=weights)[0]


def draw(library: Library, scenario: Scenario, role: str, seed: str) -> Persona:
    """The persona `seed` draws for `role` of `scenario`, within the role's `sample` axes."""
    rng = random.Random(f"persona:{seed}")
    axes = scenario.roles[role].sample
    locales = axes.locales or sorted(k for k, v in library.locales.items() if v.language == scenario.language)
    if not locales:
        raise LibraryError(f"scenario {scenario.id}: role {role}: no locale file speaks {scenario.language!r}, "
                           "so no persona can be drawn (use --personas files)")
    loc = library.locales[rng.choice(locales)]
    gender = _pick(rng, "gender", axes.genders)
    age = _pick(rng, "age", axes.ages)
    style = {axis: _pick(rng, axis, getattr(axes, axis))
             for axis in ("verbosity", "politeness", "fillers", "pace", "mood")}
    rate = rng.randint(*RATE[style["pace"]]) + AGE_RATE[age]
    pitch = rng.randint(*PITCH[gender]) + AGE_PITCH[age]
    spread = rng.randint(*RANGE) + {"cheerful": 8, "anxious": 5, "tired": -10, "calm": -3}.get(style["mood"], 0)
    data = {
        "name": f"{rng.choice(getattr(loc, gender))} {rng.choice(loc.family)}",
        "roles": [role],
        "language": scenario.language,
        "locale": loc.locale,
        "voice": {"offline": {"voice": f"{rng.choice(loc.voices)}+{rng.choice(VARIANTS[gender])}",
                              "rate": rate, "pitch": pitch, "range": max(0, min(99, spread))},
                  "openai": rng.choice(OPENAI_VOICES[gender])},
        "style": style,
        "gender": gender,
        "age": age,
    }
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:10]
    return Persona.model_validate({"id": f"drawn-{digest}", **data})
