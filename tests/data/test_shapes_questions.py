"""Shapes questions (visual question answering): deterministic, answerable from the scene, balanced, six types."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from collections import Counter, defaultdict

import pytest

from crossmodal_tf.data.records import Question
from crossmodal_tf.data.sources.shapes import COLOURS, RELATION_EN, SHAPES, SIZES, make_record
from crossmodal_tf.data.sources.shapes_questions import PLACES, QUESTION_TYPES, TEMPLATES

NUM_IMAGES = 2000
RELATION_OF = {v: k for k, v in RELATION_EN.items()}
AXIS = {"left": "x", "right": "x", "above": "y", "below": "y"}
RELATION_FORMS = ("relation", "relation_what", "relation_where")


@pytest.fixture(scope="module")
def records():
    return [make_record(i, 7, 16) for i in range(NUM_IMAGES)]


def template_regex(template: str) -> re.Pattern:
    pattern = re.escape(template)
    pattern = pattern.replace(r"\{x\}", "(?P<x>.+)").replace(r"\{y\}", "(?P<y>.+)")
    pattern = pattern.replace(r"\{rel\}", "(?P<rel>" + "|".join(map(re.escape, RELATION_OF)) + ")")
    return re.compile(pattern + "$")


PATTERNS = {kind: [template_regex(t) for t in templates] for kind, templates in TEMPLATES.items()}


def stands(a, b, relation: str) -> bool:
    """'a RELATION b' read off the coordinates (y grows downwards)."""
    return {"left": a.x < b.x, "right": a.x > b.x, "above": a.y < b.y, "below": a.y > b.y}[relation]


def resolve(phrase: str, scene) -> list:
    """The scene objects a phrase such as 'small red circle', 'object' or 'circle on the left' fits."""
    place = next((p for p in PLACES.values() if phrase.endswith(" " + p)), None)
    words = (phrase[: -len(place) - 1] if place else phrase).split()
    wanted = {}
    for word in words[:-1]:
        attribute = "size" if word in SIZES else "colour" if word in COLOURS else None
        if attribute is None or attribute in wanted:
            raise ValueError(phrase)
        wanted[attribute] = word
    if words[-1] in SHAPES:
        wanted["shape"] = words[-1]
    elif words[-1] != "object":
        raise ValueError(phrase)
    found = [o for o in scene.objects if all(getattr(o, a) == v for a, v in wanted.items())]
    if place:
        # a place is only used to tell two otherwise alike objects apart, along the axis of the scene's relation
        relation = {p: r for r, p in PLACES.items()}[place]
        assert len(found) == 2 and AXIS[relation] == AXIS[scene.relation], (phrase, scene)
        found = [a for a in found if all(stands(a, b, relation) for b in found if b is not a)]
    return found


def the_one(phrase: str, scene):
    found = resolve(phrase, scene)
    assert len(found) == 1, (phrase, scene)  # an object is named unambiguously
    return found[0]


def count_of(noun: str, scene) -> int:
    words = noun.split()
    if words == ["objects"]:
        return len(scene.objects)
    if len(words) == 1 and words[0][:-1] in SHAPES:
        return sum(o.shape == words[0][:-1] for o in scene.objects)
    attribute = "size" if words[0] in SIZES else "colour" if words[0] in COLOURS else None
    if attribute is None or words[1:] != ["objects"]:
        raise ValueError(noun)
    return sum(getattr(o, attribute) == words[0] for o in scene.objects)


def answer_from_scene(question: Question, scene) -> str:
    """The answer computed from the question's words and the scene, independently of the generator."""
    kind = question.type
    kinds = RELATION_FORMS if kind == "relation" else (kind,)
    answers = set()
    for pattern_kind in kinds:
        for pattern in PATTERNS[pattern_kind]:
            match = pattern.match(question.question)
            if not match:
                continue
            try:
                if kind in ("colour", "shape", "size"):
                    phrase = match["x"]
                    obj = the_one(phrase, scene)
                    answer = getattr(obj, kind)
                    assert answer not in phrase.split()  # the question does not give its answer away
                elif pattern_kind == "relation":
                    a, b, relation = the_one(match["x"], scene), the_one(match["y"], scene), RELATION_OF[match["rel"]]
                    assert a is not b and AXIS[relation] == AXIS[scene.relation]  # asked along the clear axis
                    answer = "yes" if stands(a, b, relation) else "no"
                elif pattern_kind == "relation_where":
                    a, b = the_one(match["x"], scene), the_one(match["y"], scene)
                    assert a is not b
                    (answer,) = [r for r in AXIS if stands(a, b, r) and AXIS[r] == AXIS[scene.relation]]
                elif pattern_kind == "relation_what":
                    b, relation = the_one(match["y"], scene), RELATION_OF[match["rel"]]
                    (a,) = [o for o in scene.objects if o is not b and stands(o, b, relation)]
                    answer = a.shape
                elif kind == "count":
                    answer = str(count_of(match["x"], scene))
                else:  # existence
                    article, phrase = match["x"].split(" ", 1)
                    assert article == ("an" if phrase[0] in "aeiou" else "a")
                    answer = "yes" if resolve(phrase, scene) else "no"
            except ValueError:
                continue  # another template of the same start ('is there {x}?' vs '… in the picture?')
            answers.add(answer)
    assert len(answers) == 1, (question, scene, answers)
    return answers.pop()


def test_every_answer_follows_from_the_scene(records):
    """Each question parses with its type's templates, names its objects unambiguously, and its answer holds."""
    for record in records:
        for question in record.questions:
            assert question.answer == answer_from_scene(question, record.scene), (question, record.scene)


def test_several_questions_of_distinct_types_per_image(records):
    """Five types per image; a two-object image always asks two relation questions (a yes/no one, then a 'what'
    or a 'where' one), a one-object image none."""
    for record in records:
        kinds = [q.type for q in record.questions]
        two_objects = record.scene.relation is not None
        assert len(set(kinds)) == 5 and len(kinds) == 5 + two_objects
        assert kinds.count("relation") == 2 * two_objects
        if two_objects:
            first, second = [q.answer for q in record.questions if q.type == "relation"]
            assert first in ("yes", "no") and second not in ("yes", "no")
        assert len({q.question for q in record.questions}) == len(kinds)
        assert all(q.answers == () for q in record.questions)


def test_all_six_types_and_their_answers_occur(records):
    by_type = defaultdict(Counter)
    for record in records:
        for question in record.questions:
            by_type[question.type][question.answer] += 1
    assert set(by_type) == set(QUESTION_TYPES)
    assert set(by_type["colour"]) == set(COLOURS) and set(by_type["shape"]) == set(SHAPES)
    assert set(by_type["size"]) == set(SIZES) and set(by_type["count"]) == {"0", "1", "2"}
    assert set(by_type["existence"]) == {"yes", "no"}
    assert set(by_type["relation"]) == {"yes", "no", *SHAPES, *AXIS}
    # counts are spread over what the scenes allow: none is rare
    assert min(by_type["count"].values()) > 0.15 * sum(by_type["count"].values())
    for kind in ("colour", "shape", "size"):  # attribute answers roughly uniform
        counts = by_type[kind]
        assert max(counts.values()) < 1.3 * min(counts.values()), (kind, counts)


@pytest.mark.parametrize("kind", ["relation", "existence"])
def test_yes_and_no_are_balanced_within_a_type(records, kind):
    """yes/no questions of each type answer yes half the time (±5%), so the question alone cannot tell."""
    answers = Counter(q.answer for r in records for q in r.questions if q.type == kind and q.answer in ("yes", "no"))
    assert sum(answers.values()) > 300
    assert abs(answers["yes"] / sum(answers.values()) - 0.5) <= 0.05, answers


def test_the_same_template_asks_for_yes_and_for_no(records):
    """The wording of a yes/no question does not depend on its answer: each template gives both."""
    seen = defaultdict(set)
    for record in records:
        for question in record.questions:
            if question.answer in ("yes", "no"):
                kinds = RELATION_FORMS if question.type == "relation" else (question.type,)
                template = max((t for k in kinds for t in TEMPLATES[k] if template_regex(t).match(question.question)),
                               key=len)  # the longest that matches ('is there {x} in the picture?', not '… {x}?')
                seen[template].add(question.answer)
    assert len(seen) == len(TEMPLATES["relation"]) + len(TEMPLATES["existence"])
    assert all(answers == {"yes", "no"} for answers in seen.values()), seen


def test_questions_are_deterministic_and_independent_of_order():
    """Image i's questions depend only on (seed, i); another seed asks other questions."""
    first = [make_record(i, 5, 16).questions for i in (9, 2, 4)]
    assert first == [make_record(i, 5, 16).questions for i in (9, 2, 4)]
    assert [make_record(i, 6, 16).questions for i in (9, 2, 4)] != first
    record = make_record(3, 5, 16)
    assert pickle.loads(pickle.dumps(record)).questions == record.questions


def test_captions_translations_and_scenes_are_unchanged():
    """Adding questions draws nothing from the scene's rng: captions and translations are those of before."""
    records = [make_record(i, 3, 32) for i in range(300)]
    rows = [[r.key, list(r.captions), r.translation, r.canonical] for r in records]
    digest = hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()
    # computed with the source as it was before questions were added (commit 4a8ff95)
    assert digest == "354cbda42c59ca0ba3bdc3a2837c2bcc4f89f00cd3438e4128cf4a178df90898"
