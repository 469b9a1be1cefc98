"""Drawn personas: a speaker sampled, seeded, from axes instead of read from a persona file.

Hand-written persona files give a run a couple of dozen voices, so a run of hundreds of
conversations repeats its speakers and a speaker-disjoint split is impossible. A drawn persona
takes a locale (locales/<locale>.yaml: its names and espeak-ng voices), a gender presentation and
age band, a name, a voice per engine within natural bounds and a speaking style, within the axes
the scenario role allows (`roles.<role>.sample`).

Where the voice catalog (voices.py) has neural voices for the language, the persona speaks with
one: its locale is one those voices speak, its gender the voice's where the catalog knows it
(a persona named Jennifer never speaks in a man's voice), with its own prosody (Piper's length
and noise scales, a pitch shift). The two roles of a conversation get different voices; when
the catalog has one voice that fits both, they share it and are told apart by pitch, at least
SHARED_GAP semitones apart (meta.json `voices_shared` says so). Without a neural voice (Hindi
today) the persona speaks with espeak-ng. It is an ordinary `Persona` (validated by the
same model) whose id is a hash of its content, so the same seed always draws the same persona
with the same id; the plan carries it in full (run.json `jobs[].personas`), so a resumed run or
an agent worker in another process uses exactly it.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from typing import get_args

from .errors import LibraryError
from .scenario import Age, Fillers, Gender, Library, Mood, Pace, Persona, Politeness, Scenario, Verbosity
from .voices import Catalog, Voice

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
# Piper: length scale by pace (above 1 is slower), shifted by age; noise scales around the voices'
# own defaults (0.667, 0.8); pitch in semitones, formants moving with it (see engine/offline/piper.py)
LENGTH = {"slow": (1.06, 1.16), "normal": (0.96, 1.05), "fast": (0.87, 0.95)}
AGE_LENGTH = {"18-29": -0.02, "30-44": 0.0, "45-64": 0.02, "65+": 0.06}
NOISE, NOISE_W = (0.55, 0.75), (0.6, 0.95)
PITCH_SHIFT = (-1.5, 1.5)
AGE_PITCH_SHIFT = {"18-29": 0.3, "30-44": 0.0, "45-64": -0.3, "65+": -0.6}
SHARED_GAP = (2.5, 3.5)  # semitones between two roles speaking with one voice
MAX_SHIFT = 3.0
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


def _pick(rng: random.Random, axis: str, allowed: Sequence[str]) -> str:
    values = allowed or list(get_args(AXES[axis]))
    weights = [WEIGHTS.get(axis, {}).get(v, 1.0) for v in values]
    return rng.choices(values, weights=weights)[0]


def draw(library: Library, scenario: Scenario, role: str, seed: str, catalog: Catalog | None = None,
         taken: dict[str, float] | None = None) -> Persona:
    """The persona `seed` draws for `role` of `scenario`, within the role's `sample` axes; with a
    `catalog`, speaking with one of its voices where one fits, not one of `taken` (voice name ->
    the pitch shift its other speaker has) unless no other fits."""
    rng = random.Random(f"persona:{seed}")
    axes = scenario.roles[role].sample
    locales = axes.locales or sorted(k for k, v in library.locales.items() if v.language == scenario.language)
    if not locales:
        raise LibraryError(f"scenario {scenario.id}: role {role}: no locale file speaks {scenario.language!r}, "
                           "so no persona can be drawn (use --personas files)")
    neural = [v for v in (catalog.for_language(scenario.language) if catalog else [])
              if v.locale in locales and (v.gender is None or not axes.genders or v.gender in axes.genders)]
    loc = library.locales[rng.choice(sorted({v.locale for v in neural}) if neural else locales)]
    here = [v for v in neural if v.locale == loc.locale]
    gender = _pick(rng, "gender", [g for g in axes.genders or get_args(Gender) if any(v.gender in (g, None) for v in here)]
                   if here else axes.genders)
    fits = [v for v in here if v.gender in (gender, None)]
    fresh = [v for v in fits if v.name not in (taken or {})] or fits
    voice = rng.choice(fresh) if fresh else None
    age = voice.age if voice and voice.age and (not axes.ages or voice.age in axes.ages) else _pick(rng, "age", axes.ages)
    style = {axis: _pick(rng, axis, getattr(axes, axis))
             for axis in ("verbosity", "politeness", "fillers", "pace", "mood")}
    rate = rng.randint(*RATE[style["pace"]]) + AGE_RATE[age]
    pitch = rng.randint(*PITCH[gender]) + AGE_PITCH[age]
    spread = rng.randint(*RANGE) + {"cheerful": 8, "anxious": 5, "tired": -10, "calm": -3}.get(style["mood"], 0)
    name = f"{rng.choice(getattr(loc, gender))} {rng.choice(loc.family)}"
    voices = {"offline": {"voice": f"{rng.choice(loc.voices)}+{rng.choice(VARIANTS[gender])}",
                          "rate": rate, "pitch": pitch, "range": max(0, min(99, spread))},
              "openai": _openai_voice(rng, catalog, gender, scenario.language)}
    if voice is not None:
        voices["piper"] = _prosody(rng, voice, style["pace"], age, (taken or {}).get(voice.name))
    data = {
        "name": name,
        "roles": [role],
        "language": scenario.language,
        "locale": loc.locale,
        "voice": voices,
        "style": style,
        "gender": gender,
        "age": age,
    }
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:10]
    return Persona.model_validate({"id": f"drawn-{digest}", **data})


def _prosody(rng: random.Random, voice: Voice, pace: str, age: str, other: float | None) -> dict:
    """A Piper voice's settings for one speaker; `other`: the pitch shift of the other role when
    both speak with this voice, which this one keeps SHARED_GAP away from."""
    if other is None:
        shift = rng.uniform(*PITCH_SHIFT) + AGE_PITCH_SHIFT[age]
    else:
        gap = rng.uniform(*SHARED_GAP)
        shift = other - gap if other > 0 else other + gap
    return {"voice": voice.name,
            "length_scale": round(rng.uniform(*LENGTH[pace]) + AGE_LENGTH[age], 3),
            "noise_scale": round(rng.uniform(*NOISE), 3),
            "noise_w_scale": round(rng.uniform(*NOISE_W), 3),
            "pitch": round(max(-MAX_SHIFT, min(MAX_SHIFT, shift)), 2)}


def _openai_voice(rng: random.Random, catalog: Catalog | None, gender: str, language: str) -> str:
    """An OpenAI voice, or a voice of the server the catalog names (`openai:` in voices.yaml)."""
    server = [v.name for v in (catalog.server if catalog else [])
              if v.gender in (gender, None) and v.language in (language, None)]
    return rng.choice(server or OPENAI_VOICES[gender])
