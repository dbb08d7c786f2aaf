"""Questions about a shapes scene, with their answers: visual question answering on the built-in data.

Six types, several paraphrased templates each: `colour`, `shape` and `size` of one
object ("what colour is the small circle?"), `relation` ("is the red circle to the
left of the blue square?" yes/no, "what is above the green triangle?" → a shape
name, or "where is the red circle relative to the blue square?" → left, right, above
or below), `count` ("how many circles are there?" → 0, 1 or 2) and `existence` ("is
there a blue triangle?" yes/no). Every question is answerable from the scene alone:
an object is named by attributes that only it has (never by the one asked about),
or by its place when the objects differ in nothing else ("the circle on the left").
Answers are balanced within each type so that the question alone cannot give
them: yes/no are drawn with p = 0.5 each, counts uniformly over what the scene
allows. Everything is drawn from the caller's rng, so the scene's images, captions
and translations do not change.
"""

from __future__ import annotations

import random
from itertools import combinations

from crossmodal_tf.data.records import Question
from crossmodal_tf.data.sources import shapes_world as world

QUESTIONS_PER_IMAGE = 5  # question types per image (a two-object image asks two relation questions: 6 in all)
QUESTION_TYPES = ("colour", "shape", "size", "relation", "count", "existence")
ATTRIBUTES = ("size", "colour", "shape")  # in the order an English phrase names them

TEMPLATES = {
    "colour": ("what colour is the {x}?", "what is the colour of the {x}?", "which colour does the {x} have?",
               "the {x} is what colour?"),
    "shape": ("what shape is the {x}?", "what is the shape of the {x}?", "which shape does the {x} have?"),
    "size": ("what size is the {x}?", "is the {x} small or large?", "is the {x} large or small?",
             "how big is the {x}?"),
    "relation": ("is the {x} {rel} the {y}?", "does the {x} stand {rel} the {y}?",
                 "is it true that the {x} is {rel} the {y}?"),
    "relation_what": ("what is {rel} the {y}?", "what shape is {rel} the {y}?", "which shape is {rel} the {y}?"),
    "relation_where": ("where is the {x} relative to the {y}?", "where is the {x} compared with the {y}?",
                       "on which side of the {y} is the {x}?"),
    "count": ("how many {x} are there?", "how many {x} can you see?", "how many {x} are in the picture?",
              "what is the number of {x}?"),
    "existence": ("is there {x}?", "does the picture contain {x}?", "can you see {x}?",
                  "is there {x} in the picture?"),
}
# Where the first object of 'a REL b' stands; the second stands at the inverse's place.
PLACES = {"left": "on the left", "right": "on the right", "above": "at the top", "below": "at the bottom"}
EXISTENCE_FORMS = (("shape",), ("colour", "shape"), ("size", "shape"), ("size", "colour", "shape"))
# the attribute subsets an object may be named by, shortest first, when a question asks about one (or none)
SUBSETS = {asked: [subset for n in range(4) for subset in combinations([a for a in ATTRIBUTES if a != asked], n)]
           for asked in ("", *ATTRIBUTES)}


def _phrase(values: dict) -> str:
    """'small red circle' from the attributes given; 'object' stands in for a missing shape."""
    words = [values[a] for a in ("size", "colour") if a in values]
    return " ".join(words + [values.get("shape", "object")])


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _refer(scene, index: int, rng: random.Random, asked: str = "") -> str:
    """A phrase naming objects[index] and no other, without the attribute `asked` about."""
    obj = scene.objects[index]
    if len(scene.objects) == 1:
        return _phrase({a: getattr(obj, a) for a in rng.choice(SUBSETS[asked])})
    other = scene.objects[1 - index]
    unique = [subset for subset in SUBSETS[asked] if any(getattr(other, a) != getattr(obj, a) for a in subset)]
    if unique:
        return _phrase({a: getattr(obj, a) for a in rng.choice(unique)})
    # the objects differ only in the asked attribute: name this one by its place instead
    relation = scene.relation if index == 0 else world.INVERSE[scene.relation]
    return f"{_phrase({a: getattr(obj, a) for a in ATTRIBUTES if a != asked})} {PLACES[relation]}"


def _attribute_question(kind: str, scene, rng: random.Random) -> Question:
    index = rng.randrange(len(scene.objects))
    text = rng.choice(TEMPLATES[kind]).format(x=_refer(scene, index, rng, asked=kind))
    return Question(text, getattr(scene.objects[index], kind), type=kind)


def _relation_questions(scene, rng: random.Random) -> list[Question]:
    """Two relation questions: a yes/no one, then 'what is REL the y?' or 'where is the x relative to the y?'.

    Yes/no relation questions are the hardest to learn: the answer is yes exactly when
    the asked relation is the true one, so neither the relation word nor either object's
    place says anything about it alone (a parity of three things), and a model needs
    many of them before it stops guessing. Every two-object image therefore asks one.
    'Where is the x?' answers with the place itself, which teaches the model to find
    the named object and read where it is.
    """
    questions = []
    for form in ("yes/no", rng.choice(("what", "where"))):
        # a true statement 'x REL y', with either object first
        x, y, relation = (0, 1, scene.relation) if rng.random() < 0.5 else (1, 0, world.INVERSE[scene.relation])
        if form == "what":
            text = rng.choice(TEMPLATES["relation_what"])
            questions.append(Question(text.format(rel=world.RELATION_EN[relation], y=_refer(scene, y, rng)),
                                      scene.objects[x].shape, type="relation"))
        elif form == "where":
            text = rng.choice(TEMPLATES["relation_where"]).format(x=_refer(scene, x, rng), y=_refer(scene, y, rng))
            questions.append(Question(text, relation, type="relation"))
        else:
            answer = rng.random() < 0.5
            if not answer:
                relation = world.INVERSE[relation]  # the opposite of a clear relation is clearly false
            text = rng.choice(TEMPLATES["relation"]).format(x=_refer(scene, x, rng), rel=world.RELATION_EN[relation],
                                                            y=_refer(scene, y, rng))
            questions.append(Question(text, "yes" if answer else "no", type="relation"))
    return questions


def _count_question(scene, rng: random.Random) -> Question:
    counts = dict.fromkeys([("shape", v) for v in world.SHAPES] + [("colour", v) for v in world.COLOURS]
                           + [("size", v) for v in world.SIZES], 0)
    for obj in scene.objects:
        for attribute in ATTRIBUTES:
            counts[attribute, getattr(obj, attribute)] += 1
    counts["all", ""] = len(scene.objects)
    by_count: dict[int, list] = {}
    for query, count in counts.items():
        by_count.setdefault(count, []).append(query)
    count = rng.choice(sorted(by_count))  # each count the scene allows is equally likely
    attribute, value = rng.choice(by_count[count])
    noun = {"shape": f"{value}s", "colour": f"{value} objects", "size": f"{value} objects", "all": "objects"}
    return Question(rng.choice(TEMPLATES["count"]).format(x=noun[attribute]), str(count), type="count")


def _existence_question(scene, rng: random.Random) -> Question:
    form = rng.choice(EXISTENCE_FORMS)
    answer = rng.random() < 0.5
    if answer:
        obj = rng.choice(scene.objects)
        values = {a: getattr(obj, a) for a in form}
    else:
        choices = {"size": tuple(world.SIZES), "colour": tuple(world.COLOURS), "shape": world.SHAPES}
        # a scene that shows no held-out combination is asked about none either (its questions may be train ones)
        avoid = () if scene.novel() else scene.held_out
        while True:  # a description that fits no object (at least one of the three shapes is always absent)
            values = {a: rng.choice(choices[a]) for a in form}
            if (not any(all(getattr(o, a) == v for a, v in values.items()) for o in scene.objects)
                    and not any(combination.in_description(values) for combination in avoid)):
                break
    text = rng.choice(TEMPLATES["existence"]).format(x=_article(_phrase(values)))
    return Question(text, "yes" if answer else "no", type="existence")


def scene_questions(scene, rng: random.Random, count: int = QUESTIONS_PER_IMAGE) -> tuple[Question, ...]:
    """`count` questions of distinct types about the scene; a two-object scene always gets relation questions,
    two of them (see _relation_questions), so it has count + 1."""
    others = [k for k in QUESTION_TYPES if k != "relation"]
    kinds = (["relation"] + rng.sample(others, count - 1)) if scene.relation else rng.sample(others, count)
    questions = []
    for kind in kinds:
        if kind in ("colour", "shape", "size"):
            questions.append(_attribute_question(kind, scene, rng))
        elif kind == "relation":
            questions.extend(_relation_questions(scene, rng))
        else:
            questions.append({"count": _count_question, "existence": _existence_question}[kind](scene, rng))
    return tuple(questions)
