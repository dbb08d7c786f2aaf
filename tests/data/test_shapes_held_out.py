"""Held-out compositions of the shapes source (data.shapes.held_out): parsing, matching, where novel scenes go,
and that nothing made from a seen scene names a held-out combination."""

from __future__ import annotations

import random

import pytest
import yaml

from crossmodal_tf.config import config_from_run
from crossmodal_tf.preprocessing import fingerprint
from crossmodal_tf.data.sources.shapes import Scene, ShapeObject, hard_negative, make_record
from crossmodal_tf.data.sources.shapes_held_out import HeldOut, parse_held_out
from crossmodal_tf.errors import CmxError

RED_TRIANGLE = ("red triangle",)


def obj(shape: str, colour: str = "blue", size: str = "small") -> ShapeObject:
    return ShapeObject(shape, colour, size)


def test_parse_object_and_relation_combinations():
    assert parse_held_out("Red  triangle") == HeldOut((("colour", "red"), ("shape", "triangle")))
    assert parse_held_out("triangle small red") == HeldOut((("colour", "red"), ("shape", "triangle"),
                                                            ("size", "small")))
    assert parse_held_out("circle to the left of red square") == HeldOut(
        (("shape", "circle"),), "left", (("colour", "red"), ("shape", "square")))
    assert parse_held_out("circle left of square") == HeldOut((("shape", "circle"),), "left", (("shape", "square"),))
    assert parse_held_out("large circle below triangle").relation == "below"


@pytest.mark.parametrize("text, says", [
    ("pink triangle", "'pink' is no size, colour or shape"),
    ("red", "is no combination"),
    ("", "is no combination"),
    ("red blue triangle", "names two colours"),
    ("circle left of", "'left' is no size"),
    ("circle left of pink square", "'pink' is no size"),
])
def test_parse_refuses_what_is_no_combination(text, says):
    with pytest.raises(ValueError, match=says):
        parse_held_out(text)


def test_a_bad_value_is_one_line_naming_the_key(tiny_config):
    with pytest.raises(CmxError) as error:
        tiny_config("data.shapes.held_out=[red triangle, pink circle]")
    message = str(error.value)
    assert "data.shapes.held_out" in message and "'pink' is no size, colour or shape" in message
    assert "\n" not in message


def test_which_scenes_show_a_combination():
    red_triangle = parse_held_out("red triangle")
    assert red_triangle.in_scene(Scene((obj("triangle", "red"),)))
    assert red_triangle.in_scene(Scene((obj("circle"), obj("triangle", "red", "large")), "left"))
    assert not red_triangle.in_scene(Scene((obj("triangle"), obj("circle", "red")), "above"))  # red and triangle apart
    left = parse_held_out("circle left of square")
    assert left.in_scene(Scene((obj("circle"), obj("square")), "left"))
    assert left.in_scene(Scene((obj("square"), obj("circle")), "right"))  # the same picture, read the other way
    assert not left.in_scene(Scene((obj("circle"), obj("square")), "right"))
    assert not left.in_scene(Scene((obj("square"), obj("circle")), "left"))
    assert not left.in_scene(Scene((obj("circle"),)))


def test_novel_records_are_exactly_those_showing_the_combination_and_go_to_test():
    novel = 0
    for index in range(400):
        record = make_record(index, 3, 32, questions=False, document=False, held_out=RED_TRIANGLE)
        shows = any(o.colour == "red" and o.shape == "triangle" for o in record.scene.objects)
        assert record.novel == shows
        assert record.split == ("test" if shows else None)
        novel += shows
    # one object in 18 is a red triangle; 40 % of scenes hold one object, 60 % two
    assert 20 <= novel <= 50
    plain = make_record(5, 3, 32, questions=False, document=False)
    assert not plain.novel and plain.split is None


def test_held_out_changes_nothing_else_of_a_record():
    for index in range(30):
        a = make_record(index, 3, 32, document=False)
        b = make_record(index, 3, 32, document=False, held_out=RED_TRIANGLE)
        assert (a.key, a.captions, a.canonical, a.translation, a.scene) == (b.key, b.captions, b.canonical,
                                                                             b.translation, b.scene)


def names_red_triangle(text: str) -> bool:
    return "red triangle" in text


def test_hard_negatives_of_seen_scenes_never_name_the_combination():
    """A red square's shape change could make a red triangle: with the combination held out it never does."""
    records = [make_record(i, 3, 32, questions=False, document=False) for i in range(300)]
    held = [make_record(i, 3, 32, questions=False, document=False, held_out=RED_TRIANGLE) for i in range(300)]
    rng_free, rng_held = random.Random(0), random.Random(0)
    free = [hard_negative(r, rng_free) for r in records if not any(
        o.colour == "red" and o.shape == "triangle" for o in r.scene.objects) for _ in range(5)]
    kept = [hard_negative(r, rng_held) for r in held if not r.novel for _ in range(5)]
    assert any(names_red_triangle(c) for c in free)  # without holding it out, some do
    assert kept and not any(c is None or names_red_triangle(c) for c in kept)


def test_questions_about_seen_scenes_never_name_the_combination():
    free = [q.question for i in range(600) for q in make_record(i, 3, 32, document=False).questions]
    held = [q.question for i in range(600)
            for record in [make_record(i, 3, 32, document=False, held_out=RED_TRIANGLE)] if not record.novel
            for q in record.questions]
    assert any(names_red_triangle(q) for q in free)  # "is there a red triangle?" asked of scenes without one
    assert held and not any(names_red_triangle(q) for q in held)


def test_nothing_held_out_keeps_fingerprints_of_folders_written_before(tmp_path, tiny_config):
    """held_out [] is what folders written before the key held; another source never reads the key."""
    none = fingerprint(tiny_config("data.shapes.held_out=[]"))
    assert fingerprint(tiny_config()) != none
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "captions.csv").write_text("image,caption\na.png,a cat\n", encoding="utf-8")
    manifest = tiny_config("data.source=manifest")
    emptied = manifest.model_copy(deep=True)
    emptied.data.shapes.held_out = []
    assert manifest.data.shapes.held_out and fingerprint(manifest) == fingerprint(emptied)


def test_a_run_written_before_the_key_held_nothing_out(tmp_path, tiny_config):
    config = tiny_config().to_dict()
    del config["data"]["shapes"]["held_out"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    assert config_from_run(tmp_path).data.shapes.held_out == []
    assert tiny_config().data.shapes.held_out == ["red triangle"]  # today's default
