"""Held-out compositions of the shapes world (data.shapes.held_out): combinations kept out of train and val.

A combination is an object description of two or three attributes ("red triangle",
"large circle", "small red square": any object that has all of them), or a relation
between two descriptions of one or more attributes ("circle left of square", "red circle
above triangle": the first object stands in that relation to the second, whichever way
the scene's own relation is read). A scene holding one is novel: the source puts it in
the test split, so no train or val image shows it, and evaluation reports the test
figures on seen and novel scenes apart (the question CLEVR-CoGenT and SCAN ask: are the
parts learned, or only the wholes that were seen?).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from crossmodal_tf.data.sources.shapes_world import COLOURS, INVERSE, SHAPES, SIZES

ATTRIBUTE_OF = {**{s: "size" for s in SIZES}, **{c: "colour" for c in COLOURS}, **{s: "shape" for s in SHAPES}}
# the longer form first, so that "to the left of" is not read as a description ending in "to the"
RELATION_WORDS = {"to the left of": "left", "to the right of": "right", "left of": "left", "right of": "right",
                  "above": "above", "below": "below"}
_RELATION = re.compile(rf"(.+?) ({'|'.join(RELATION_WORDS)}) (.+)")

Description = tuple[tuple[str, str], ...]  # (attribute, value) pairs, sorted


def _fits(obj, description: Description) -> bool:
    return all(getattr(obj, attribute) == value for attribute, value in description)


@dataclass(frozen=True)
class HeldOut:
    """One held-out combination: an object description, or `first RELATION second`."""

    first: Description
    relation: str | None = None
    second: Description = ()

    def in_scene(self, scene) -> bool:
        """Whether the scene shows this combination."""
        if self.relation is None:
            return any(_fits(obj, self.first) for obj in scene.objects)
        if scene.relation is None:
            return False
        a, b = scene.objects
        return ((scene.relation == self.relation and _fits(a, self.first) and _fits(b, self.second))
                or (INVERSE[scene.relation] == self.relation and _fits(b, self.first) and _fits(a, self.second)))

    def in_description(self, values: dict) -> bool:
        """Whether a description of one object (attribute → value, as a question names it) names this
        combination; a relation is never named by one object."""
        return self.relation is None and all(values.get(attribute) == value for attribute, value in self.first)


def _description(words: str, text: str, least: int) -> Description:
    pairs: dict[str, str] = {}
    for word in words.split():
        attribute = ATTRIBUTE_OF.get(word)
        if attribute is None:
            raise ValueError(f"{text!r}: {word!r} is no size, colour or shape of the shapes world "
                             f"(those are {', '.join(ATTRIBUTE_OF)})")
        if attribute in pairs:
            raise ValueError(f"{text!r} names two {attribute}s for one object")
        pairs[attribute] = word
    if len(pairs) < least:
        raise ValueError(f"{text!r} is no combination: name two or three attributes of one object "
                         "('red triangle') or a relation between two objects ('circle left of square')")
    return tuple(sorted(pairs.items()))


def parse_held_out(text: str) -> HeldOut:
    """One combination from its words ("red triangle", "circle left of square"); a ValueError saying what is wrong."""
    words = " ".join(str(text).lower().split())
    match = _RELATION.fullmatch(words)
    if match:
        return HeldOut(_description(match[1], text, 1), RELATION_WORDS[match[2]], _description(match[3], text, 1))
    return HeldOut(_description(words, text, 2))


@cache
def parse_all(texts: tuple[str, ...]) -> tuple[HeldOut, ...]:
    """The combinations of data.shapes.held_out (parsed once per process)."""
    return tuple(parse_held_out(text) for text in texts)


def holds_any(scene, combinations: tuple[HeldOut, ...]) -> bool:
    """Whether the scene shows any of the combinations."""
    return any(combination.in_scene(scene) for combination in combinations)
