"""The built-in shapes source: seeded, deterministic, with true captions and hard negatives."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from crossmodal_tf.config import validate_config
from crossmodal_tf.data.sources import shapes
from crossmodal_tf.data.sources.shapes import (COLOURS, INVERSE, ONE_OBJECT_TEMPLATES, RELATION_EN, RELATIONS,
                                               TWO_OBJECT_TEMPLATES, hard_negative, make_record, make_scene,
                                               perturb_scene, read_records, scene_paragraph)
from crossmodal_tf.data.text import normalize

CJK = re.compile(r"[\u4e00-\u9fff]")


def pixels(record) -> np.ndarray:
    return np.asarray(record.load_image())


def all_captions(scene) -> set[str]:
    """Every paraphrase the generator could write for a scene."""
    templates = TWO_OBJECT_TEMPLATES if scene.relation else ONE_OBJECT_TEMPLATES
    return {normalize(scene.caption(t)) for t in templates}


def attributes(scene) -> list:
    return [(o.shape, o.colour, o.size) for o in scene.objects] + [scene.relation]


def test_same_seed_and_index_give_identical_records():
    """Image i of seed s is always the same captions and the same pixels (no hidden state)."""
    for index in (0, 3, 17):
        first, second = make_record(index, 5, 32), make_record(index, 5, 32)
        assert first.key == second.key
        assert first.captions == second.captions
        assert first.translation == second.translation
        np.testing.assert_array_equal(pixels(first), pixels(second))
    # order of generation does not matter either
    later = make_record(3, 5, 32)
    list(read_records(validate_config({"task": "match", "data": {"shapes": {"num_images": 5}}}).data, 5))
    np.testing.assert_array_equal(pixels(later), pixels(make_record(3, 5, 32)))


def test_different_seed_gives_different_data():
    """Another seed draws other scenes and other pixels."""
    a = [make_record(i, 1, 32) for i in range(10)]
    b = [make_record(i, 2, 32) for i in range(10)]
    assert [r.captions for r in a] != [r.captions for r in b]
    assert any(not np.array_equal(pixels(x), pixels(y)) for x, y in zip(a, b))


@pytest.mark.parametrize("needs", [(), ("images", "questions"), ("documents",)])
def test_read_records_makes_questions_and_documents_only_when_needed(needs):
    """What the task does not read is left out, and the rest of every record stays as it was (same draws)."""
    from dataclasses import replace

    data = validate_config({"task": "match", "data": {"shapes": {"num_images": 30, "image_size": 16}}}).data
    everything, lean = list(read_records(data, 4)), list(read_records(data, 4, needs=needs))
    assert all(bool(r.questions) == ("questions" in needs) for r in lean)
    assert all((r.document is not None) == ("documents" in needs) for r in lean)

    def kept(record):  # what `needs` asked for, and the rest; load_image is a new partial each time
        return replace(record, load_image=record.load_image.args, questions=record.questions * ("questions" in needs),
                       document=record.document if "documents" in needs else None)

    assert [kept(r) for r in everything] == [kept(r) for r in lean]


def test_read_records_yields_configured_number_with_unique_keys():
    """data.shapes.num_images records, each with its own key."""
    data = validate_config({"task": "match", "data": {"shapes": {"num_images": 12, "image_size": 32}}}).data
    records = list(read_records(data, seed=3))
    assert len(records) == 12
    assert len({r.key for r in records}) == 12


@pytest.mark.parametrize("count", [1, 3, 5])
def test_several_distinct_captions_per_image(count):
    """captions_per_image distinct English paraphrases, each a caption of the record's scene."""
    for index in range(20):
        record = make_record(index, 0, 32, captions_per_image=count)
        assert len(record.captions) == count
        assert len(set(record.captions)) == count
        for caption in record.captions:
            assert normalize(caption) in all_captions(record.scene)
            for obj in record.scene.objects:
                assert obj.phrase() in caption  # every object is named with its size, colour and shape


def test_chinese_caption_present():
    """Each record carries a Chinese caption of the same content."""
    for index in range(10):
        record = make_record(index, 0, 32)
        assert record.translation and CJK.search(record.translation)
        assert not CJK.search(" ".join(record.captions))


@pytest.mark.parametrize("size", [16, 32, 64])
def test_images_have_the_configured_size(size):
    """Images are RGB uint8 of data.shapes.image_size."""
    image = make_record(0, 0, size).load_image()
    assert image.mode == "RGB" and image.size == (size, size)
    assert pixels(make_record(1, 0, size)).shape == (size, size, 3)


def test_two_object_fraction_extremes():
    """two_object_fraction 0 gives only single objects, 1 only pairs in a relation."""
    singles = [make_record(i, 0, 32, two_object_fraction=0.0).scene for i in range(20)]
    pairs = [make_record(i, 0, 32, two_object_fraction=1.0).scene for i in range(20)]
    assert all(len(s.objects) == 1 and s.relation is None for s in singles)
    assert all(len(s.objects) == 2 and s.relation in RELATIONS for s in pairs)
    assert all(s.objects[0].phrase() != s.objects[1].phrase() for s in pairs)  # no ambiguous twin objects


def test_perturb_scene_changes_exactly_one_attribute():
    """A hard negative's scene differs from the original in exactly one attribute."""
    rng = random.Random(0)
    changed_kinds = set()
    for i in range(300):
        scene = make_scene(random.Random(i), 0.6)
        changed = perturb_scene(scene, rng)
        before, after = attributes(scene), attributes(changed)
        diffs = []
        for b, a in zip(before[:-1], after[:-1]):
            diffs += [name for name, x, y in zip(("shape", "colour", "size"), b, a) if x != y]
        if before[-1] != after[-1]:
            diffs.append("relation")
        assert len(diffs) == 1, (scene, changed)
        changed_kinds.update(diffs)
        assert changed.canonical() != scene.canonical()
    assert changed_kinds == {"shape", "colour", "size", "relation"}


def changed_attribute(scene, changed) -> str:
    before, after = attributes(scene), attributes(changed)
    for b, a in zip(before[:-1], after[:-1]):
        for name, x, y in zip(("shape", "colour", "size"), b, a):
            if x != y:
                return name
    return "relation"


def test_hard_weights_choose_the_attribute_a_hard_negative_changes():
    """data.negatives.train_hard_weights: a weight 0 never changes that attribute; shares follow the weights."""
    from crossmodal_tf.config.sections import HardWeightsConfig

    only_shape = HardWeightsConfig(colour=0, shape=1, size=0, relation=0)
    mostly_relation = HardWeightsConfig(colour=1, shape=1, size=1, relation=7)
    rng = random.Random(3)
    scenes = [make_scene(random.Random(i), 0.6) for i in range(400)]
    assert {changed_attribute(s, perturb_scene(s, rng, only_shape)) for s in scenes} == {"shape"}
    pairs = [s for s in scenes if s.relation]
    relation = sum(changed_attribute(s, perturb_scene(s, rng, mostly_relation)) == "relation" for s in pairs)
    assert 0.6 < relation / len(pairs) < 0.8  # 7 of 10 on average
    # without weights, the draws are the ones made before weights existed (rng.choice): shards stay the same
    plain, twin = random.Random(5), random.Random()
    for scene in scenes[:50]:
        twin.setstate(plain.getstate())
        expected = twin.choice(["colour", "shape", "size"] + (["relation"] if scene.relation else []))
        assert changed_attribute(scene, perturb_scene(scene, plain)) == expected


def test_hard_weights_need_an_attribute_of_one_object():
    from pydantic import ValidationError

    from crossmodal_tf.config.sections import HardWeightsConfig

    with pytest.raises(ValidationError, match="one of colour, shape and size"):
        HardWeightsConfig(colour=0, shape=0, size=0, relation=1)


def test_hard_negative_differs_in_meaning_from_every_caption():
    """A hard negative caption is never one of the paraphrases that describe the image."""
    rng = random.Random(1)
    for index in range(200):
        record = make_record(index, 11, 32)
        own = all_captions(record.scene)
        for _ in range(3):
            caption = hard_negative(record, rng)
            assert normalize(caption) not in own
            assert normalize(caption) not in {normalize(c) for c in record.captions}


def test_relation_coordinates_hold():
    """For 'a REL b' the object positions really stand in that relation (y grows downwards)."""
    seen = set()
    for i in range(200):
        scene = make_scene(random.Random(i), 1.0)
        a, b = scene.objects
        seen.add(scene.relation)
        assert {"left": a.x < b.x, "right": a.x > b.x, "above": a.y < b.y, "below": a.y > b.y}[scene.relation]
        # the cross axis offset is small, so no other relation can be read off the picture
        along = abs(a.x - b.x) if scene.relation in ("left", "right") else abs(a.y - b.y)
        across = abs(a.y - b.y) if scene.relation in ("left", "right") else abs(a.x - b.x)
        assert across < along
        for obj in scene.objects:  # objects lie inside the image
            assert obj.radius <= obj.x <= 1 - obj.radius and obj.radius <= obj.y <= 1 - obj.radius
    assert seen == set(RELATIONS)


def _centre_of(image: np.ndarray, colour: str) -> tuple[float, float]:
    """Mean (x, y) of the pixels whose nearest palette colour (or background) is `colour`."""
    palette = {**COLOURS, "background": (232, 232, 232)}
    names = list(palette)
    centres = np.array([palette[n] for n in names], dtype=float)
    distance = ((image[:, :, None, :].astype(float) - centres[None, None]) ** 2).sum(-1)
    ys, xs = np.nonzero(distance.argmin(-1) == names.index(colour))
    return xs.mean(), ys.mean()


def test_relation_holds_in_the_pixels():
    """Drawn objects stand where the caption says: 'a left of b' has a's pixels left of b's."""
    checked = 0
    for index in range(60):
        record = make_record(index, 4, 64, two_object_fraction=1.0)
        a, b = record.scene.objects
        if a.colour == b.colour:
            continue
        image = pixels(record)
        (ax, ay), (bx, by) = _centre_of(image, a.colour), _centre_of(image, b.colour)
        relation = record.scene.relation
        assert {"left": ax < bx, "right": ax > bx, "above": ay < by, "below": ay > by}[relation], record.captions
        # the inverse relation, as the paraphrase 'b INV a' uses it, holds as well
        inverse = INVERSE[relation]
        assert {"left": bx < ax, "right": bx > ax, "above": by < ay, "below": by > ay}[inverse]
        checked += 1
    assert checked >= 30


def test_fingerprint_is_stable():
    """The source fingerprint does not change between calls (preprocess relies on it for reuse)."""
    data = validate_config({"task": "match"}).data
    assert shapes.fingerprint(data) == shapes.fingerprint(data)


# --- paragraphs ---------------------------------------------------------------------------------------
def sentences(paragraph: str) -> list[str]:
    assert paragraph.endswith(".")
    return re.split(r"(?<=\.) ", paragraph)


def forms(obj) -> set[str]:
    """The ways a paragraph may name an object: its shape, colour and shape, or its whole phrase."""
    return {obj.shape, f"{obj.colour} {obj.shape}", obj.phrase()}


def relation_sentences(paragraph: str) -> list[tuple[str, str, str]]:
    """(subject, relation, object) of every sentence 'the X is REL the Y.'"""
    found = []
    for sentence in sentences(paragraph):
        for relation, words in RELATION_EN.items():
            match = re.fullmatch(rf"the (.+) is {words} the (.+)\.", sentence)
            if match:
                found.append((match[1], relation, match[2]))
    return found


def scenes(count: int = 200) -> list:
    return [make_scene(random.Random(f"paragraph:{i}"), 0.6) for i in range(count)]


def test_a_paragraph_is_the_same_for_the_same_rng_seed():
    for scene in scenes(20):
        assert scene_paragraph(scene, random.Random(7)) == scene_paragraph(scene, random.Random(7))
    texts = {scene_paragraph(scenes(1)[0], random.Random(seed)) for seed in range(20)}
    assert len(texts) > 10  # another seed, another paragraph


def test_paragraphs_have_three_to_six_sentences():
    counts = [len(sentences(scene_paragraph(scene, random.Random(i)))) for i, scene in enumerate(scenes())]
    assert set(counts) == {3, 4, 5, 6}


def test_every_fact_of_the_caption_is_in_the_paragraph():
    """Each object's size, colour and shape together, and the relation the right way round, naming each object
    so that it cannot be taken for the other: a caption of the scene summarises the paragraph fairly."""
    for i, scene in enumerate(scenes()):
        paragraph = scene_paragraph(scene, random.Random(i))
        for obj in scene.objects:
            assert f"a {obj.phrase()}" in paragraph or f"the {obj.phrase()}" in paragraph, paragraph
        stated = relation_sentences(paragraph)
        if scene.relation is None:
            assert stated == []
            continue
        a, b = scene.objects
        assert len(stated) == 1, paragraph
        subject, relation, other = stated[0]
        if relation != scene.relation:
            (subject, other), relation = (other, subject), INVERSE[relation]
        assert relation == scene.relation, paragraph
        assert subject in forms(a) - forms(b) and other in forms(b) - forms(a), paragraph


def test_no_sentence_speaks_of_another_relation():
    for i, scene in enumerate(scenes()):
        paragraph = scene_paragraph(scene, random.Random(i))
        for sentence in sentences(paragraph):
            if not relation_sentences(sentence):
                assert not re.search(r"\b(above|below|to the (left|right) of)\b", sentence), sentence


def test_the_sentence_order_varies():
    first_sentences, relation_places = set(), set()
    for i, scene in enumerate(scenes()):
        parts = sentences(scene_paragraph(scene, random.Random(i)))
        first_sentences.add(re.sub(r"(small|large|" + "|".join(COLOURS) + r"|circle|square|triangle) ", "",
                                   parts[0]))
        relation_places.update(j for j, s in enumerate(parts) if relation_sentences(s))
    assert len(first_sentences) > 10  # background, shape, place … sentences open paragraphs too
    assert relation_places == {0, 1, 2, 3, 4, 5}


def test_paragraphs_leave_the_records_draws_alone():
    """The paragraph draws from its own rng: the record's captions and pixels stay those of the seed."""
    before = make_record(4, 9, 32)
    scene_paragraph(before.scene, random.Random(1))
    after = make_record(4, 9, 32)
    assert before.captions == after.captions and before.translation == after.translation


# --- documents (the summarize task's paragraphs) ------------------------------------------------------
def test_a_record_carries_its_scene_paragraph_drawn_from_its_own_rng():
    record = shapes.make_record(4, seed=42)
    assert record.document == scene_paragraph(record.scene, random.Random("shapes:42:paragraph:4"))
    assert shapes.make_record(4, seed=42).document == record.document


def test_the_document_changes_nothing_else_of_a_record():
    """Keys, captions, translations, scenes and pixels of 50 records, as before records had documents (the digest
    was taken from the code before documents were added): other tasks' shards stay byte-identical. Questions are
    left out: they changed since (two relation questions per two-object image), drawing from their own rng."""
    import hashlib

    digest = hashlib.sha256()
    for index in range(50):
        r = shapes.make_record(index, 42)
        digest.update(repr((r.key, r.captions, r.canonical, r.translation, r.scene)).encode())
        digest.update(r.load_image().tobytes())
    assert digest.hexdigest() == "2d70efcfec24f6ba8ee93683cfa0210ecf5a51c8a0faab07b1ab4a2b592948af"
