"""The built-in `shapes` source: seeded synthetic images of shapes with captions.

Each image holds one or two objects (shape x colour x size); two objects stand in a
clear spatial relation. Every image gets several English paraphrases and one Chinese
caption of the same content, questions with answers (shapes_questions), and a paragraph
about the scene that its captions sum up (a document for summarization). Image i
depends only on (seed, i), so generation is deterministic and needs no state between images.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Iterable, Iterator

import numpy as np

from crossmodal_tf.data.records import Record
from crossmodal_tf.data.sources.shapes_held_out import HeldOut, holds_any, parse_all
from crossmodal_tf.data.sources.shapes_questions import scene_questions
from crossmodal_tf.data.sources.shapes_world import COLOURS, INVERSE, RELATION_EN, RELATIONS, SHAPES, SIZES

# the config keys this source reads beyond those every source reads (data/sources/__init__.py): generated, it
# reads no data.path; its records carry scenes, so it can make hard negatives
READS = ("data.shapes", "data.negatives.hard_fraction", "data.negatives.train_hard_weights")
# what its records carry beyond texts: a paragraph summed up by its captions is a document with summaries
GIVES = ("images", "translations", "documents", "questions")

SHAPES_ZH = {"circle": "圆形", "square": "正方形", "triangle": "三角形"}
COLOURS_ZH = {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色", "purple": "紫色", "orange": "橙色"}
SIZES_ZH = {"small": "小", "large": "大"}
RELATION_ZH = {"left": "左边", "right": "右边", "above": "上面", "below": "下面"}

ONE_OBJECT_TEMPLATES = (
    "a {a}",
    "there is a {a}",
    "a picture of a {a}",
    "a {a} on a grey background",
    "an image showing a {a}",
)
TWO_OBJECT_TEMPLATES = (
    "a {a} {rel} a {b}",
    "there is a {a} {rel} a {b}",
    "a {b} {inv} a {a}",
    "a picture of a {a} {rel} a {b}",
    "a {b} with a {a} {rel} it",
)


@dataclass(frozen=True)
class ShapeObject:
    """One drawn object; x, y and radius are fractions of the image side."""

    shape: str
    colour: str
    size: str
    x: float = 0.5
    y: float = 0.5
    radius: float = 0.1

    def phrase(self) -> str:
        return f"{self.size} {self.colour} {self.shape}"

    def phrase_zh(self) -> str:
        return f"一个{COLOURS_ZH[self.colour]}的{SIZES_ZH[self.size]}{SHAPES_ZH[self.shape]}"


@dataclass(frozen=True)
class Scene:
    """What an image shows: one object, or two with `relation` read as 'a REL b'.

    held_out: the combinations the dataset keeps out of train and val (data.shapes.held_out), so that what is
    made from the scene (hard negatives, questions) names none of them unless the scene itself shows one; not
    part of what the scene shows (equality, repr).
    """

    objects: tuple[ShapeObject, ...]
    relation: str | None = None
    held_out: tuple[HeldOut, ...] = field(default=(), compare=False, repr=False)

    def novel(self) -> bool:
        """Whether the scene shows a held-out combination."""
        return holds_any(self, self.held_out)

    def canonical(self) -> str:
        """A description shared by all scenes that the same captions describe."""
        if len(self.objects) == 1:
            return self.objects[0].phrase()
        a, b = self.objects
        # 'a left of b' and 'b right of a' are the same content.
        forms = sorted([f"{a.phrase()}|{self.relation}|{b.phrase()}",
                        f"{b.phrase()}|{INVERSE[self.relation]}|{a.phrase()}"])
        return forms[0]

    def caption(self, template: str) -> str:
        if len(self.objects) == 1:
            return template.format(a=self.objects[0].phrase())
        a, b = self.objects
        return template.format(a=a.phrase(), b=b.phrase(), rel=RELATION_EN[self.relation],
                               inv=RELATION_EN[INVERSE[self.relation]])

    def captions(self, rng: random.Random, count: int) -> tuple[str, ...]:
        templates = ONE_OBJECT_TEMPLATES if len(self.objects) == 1 else TWO_OBJECT_TEMPLATES
        chosen = rng.sample(templates, min(count, len(templates)))
        return tuple(self.caption(t) for t in chosen)

    def caption_zh(self) -> str:
        if len(self.objects) == 1:
            return self.objects[0].phrase_zh()
        a, b = self.objects
        return f"{a.phrase_zh()}在{b.phrase_zh()}的{RELATION_ZH[self.relation]}"


def _random_object(rng: random.Random) -> ShapeObject:
    size = rng.choice(tuple(SIZES))
    low, high = SIZES[size]
    return ShapeObject(rng.choice(SHAPES), rng.choice(tuple(COLOURS)), size, radius=rng.uniform(low, high))


def _place_pair(rng: random.Random, a: ShapeObject, b: ShapeObject, relation: str):
    """Positions for a and b so that 'a REL b' holds clearly, or None."""
    # rng.uniform(lo, hi) is lo + (hi - lo) * rng.random(); spelled out, the same numbers
    # come out about twice as fast, and preprocessing draws every scene twice.
    draw = rng.random
    a_low, a_span = a.radius, (1 - a.radius) - a.radius
    b_low, b_span = b.radius, (1 - b.radius) - b.radius
    gap = a.radius + b.radius + 0.04
    horizontal = relation in ("left", "right")
    for _ in range(200):
        ax, ay = a_low + a_span * draw(), a_low + a_span * draw()
        bx, by = b_low + b_span * draw(), b_low + b_span * draw()
        # main axis distance must separate the objects; the cross axis offset stays
        # well below it so that no other relation could be read off the picture.
        if horizontal:
            along, across = (bx - ax if relation == "left" else ax - bx), abs(ay - by)
        else:
            along, across = (by - ay if relation == "above" else ay - by), abs(ax - bx)
        if along >= gap and across <= 0.5 * along:
            return replace(a, x=ax, y=ay), replace(b, x=bx, y=by)
    return None


def make_scene(rng: random.Random, two_object_fraction: float) -> Scene:
    """A random scene: one object, or two distinct objects in a clear relation."""
    if rng.random() >= two_object_fraction:
        obj = _random_object(rng)
        r = obj.radius
        return Scene((replace(obj, x=rng.uniform(r, 1 - r), y=rng.uniform(r, 1 - r)),))
    while True:
        a, b = _random_object(rng), _random_object(rng)
        if a.phrase() == b.phrase():
            continue  # identical objects would make a swapped relation true too
        relation = rng.choice(RELATIONS)
        placed = _place_pair(rng, a, b, relation)
        if placed:
            return Scene(placed, relation)


def perturb_scene(scene: Scene, rng: random.Random, weights=None) -> Scene:
    """The scene with exactly one attribute changed: colour, shape, size or relation.

    weights (an object with those four attributes: data.negatives.train_hard_weights) says
    how often each is the one changed; None changes each equally often.
    """
    attributes = ["colour", "shape", "size"] + (["relation"] if scene.relation else [])
    if weights is None:
        attribute = rng.choice(attributes)  # as before weights existed: the same draws, the same shards
    else:
        attribute = rng.choices(attributes, [getattr(weights, a) for a in attributes])[0]
    if attribute == "relation":
        return replace(scene, relation=rng.choice([r for r in RELATIONS if r != scene.relation]))
    index = rng.randrange(len(scene.objects))
    obj = scene.objects[index]
    choices = {"colour": tuple(COLOURS), "shape": SHAPES, "size": tuple(SIZES)}[attribute]
    value = rng.choice([c for c in choices if c != getattr(obj, attribute)])
    objects = list(scene.objects)
    objects[index] = replace(obj, **{attribute: value})
    return replace(scene, objects=tuple(objects))


def render_scene(scene: Scene, image_size: int, rng: np.random.Generator):
    """Draw the scene on a lightly noisy grey background; returns a PIL RGB image."""
    from PIL import Image, ImageDraw

    scale = 2  # draw at twice the size, then downsample: smooth edges
    side = image_size * scale
    canvas = Image.new("RGB", (side, side), (232, 232, 232))
    draw = ImageDraw.Draw(canvas)
    for obj in scene.objects:
        colour = tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in COLOURS[obj.colour])
        cx, cy, r = obj.x * side, obj.y * side, obj.radius * side
        if obj.shape == "circle":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        elif obj.shape == "square":
            h = r * 0.85
            draw.rectangle([cx - h, cy - h, cx + h, cy + h], fill=colour)
        else:  # triangle
            draw.polygon([(cx, cy - r), (cx - r * 0.95, cy + r * 0.8), (cx + r * 0.95, cy + r * 0.8)], fill=colour)
    small = canvas.resize((image_size, image_size), Image.Resampling.BOX)
    pixels = np.asarray(small, dtype=np.int16) + rng.integers(-10, 11, size=(image_size, image_size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


# --- paragraphs: a longer text of which a caption is a fair summary -----------------------------------
ONE_INTRO_TEMPLATES = ("there is a {a}.", "the picture shows a {a}.", "a {a} is drawn on a grey background.")
TWO_INTRO_TEMPLATES = ("there is a {a}.", "the picture shows a {a}.", "one of the objects is a {a}.")
BACKGROUNDS = ("the background is a plain grey.", "the background is light grey with a little noise.")
SHAPE_DETAILS = {
    "circle": "the {name} has no corners.",
    "square": "the {name} is not tilted.",
    "triangle": "the {name} points upwards.",
}


def _names(objects) -> list[str]:
    """The shortest of 'shape', 'colour shape', 'size colour shape' that tells each object from the others."""
    forms = [(o.shape, f"{o.colour} {o.shape}", o.phrase()) for o in objects]
    for level in range(3):
        if len({f[level] for f in forms}) == len(forms):
            return [f[level] for f in forms]
    return [f[2] for f in forms]


def _region(obj: ShapeObject) -> str:
    """Where the object's centre lies, in thirds of the picture: 'the top left corner', 'the centre', …"""
    row = "top" if obj.y < 1 / 3 else "bottom" if obj.y > 2 / 3 else ""
    column = "left" if obj.x < 1 / 3 else "right" if obj.x > 2 / 3 else ""
    if row and column:
        return f"the {row} {column} corner"
    if row or column:
        return f"the {row or column} edge"
    return "the centre"


def _details(scene: Scene, names: list[str], rng: random.Random) -> list[str]:
    """True sentences about the scene that no caption states: background, drawing, shape, place, sizes."""
    objects = scene.objects
    details = [rng.choice(BACKGROUNDS)]
    details += [SHAPE_DETAILS[o.shape].format(name=n) for o, n in zip(objects, names)]
    details += [f"the {n} is near {_region(o)} of the picture." for o, n in zip(objects, names)]
    if len(objects) == 1:
        return details + [f"the {names[0]} is drawn in a flat colour.",
                          f"the {names[0]} is the only object in the picture."]
    details += ["both objects are drawn in flat colours.", "there are two objects in the picture.",
                "the two objects do not touch."]
    if objects[0].size == objects[1].size:
        return details + ["the two objects are about the same size."]
    larger = 0 if objects[0].size == "large" else 1
    return details + [rng.choice((f"the {names[larger]} is the larger of the two objects.",
                                  f"the {names[1 - larger]} is the smaller of the two objects."))]


def scene_paragraph(scene: Scene, rng: random.Random) -> str:
    """A paragraph of 3–6 sentences about the scene, in varied order, holding every fact of its captions.

    Each object's size, colour and shape appear together, and the relation is stated,
    so that a caption of the scene is a fair summary of the paragraph; the other
    sentences tell true details that no caption holds. Draws only from rng (the
    caller's own), so the scene's images, captions and translations do not change.
    """
    objects = scene.objects
    names = _names(objects)
    if len(objects) == 1:
        facts = [rng.choice(ONE_INTRO_TEMPLATES).format(a=objects[0].phrase())]
    else:
        a, b = objects
        full = rng.random() < 0.5  # the relation with whole phrases, or short names after two introductions
        first, second = (a.phrase(), b.phrase()) if full else names
        facts = [] if full else [rng.choice(TWO_INTRO_TEMPLATES).format(a=o.phrase()) for o in objects]
        if rng.random() < 0.5:
            facts.append(f"the {first} is {RELATION_EN[scene.relation]} the {second}.")
        else:
            facts.append(f"the {second} is {RELATION_EN[INVERSE[scene.relation]]} the {first}.")
    details = _details(scene, names, rng)
    count = rng.randint(max(3, len(facts)), 6)
    sentences = facts + rng.sample(details, count - len(facts))
    rng.shuffle(sentences)
    return " ".join(sentences)


def _scene_and_pixel_seed(index: int, seed: int, two_object_fraction: float) -> tuple[Scene, int, random.Random]:
    rng = random.Random(f"shapes:{seed}:{index}")
    scene = make_scene(rng, two_object_fraction)
    return scene, rng.getrandbits(63), rng


def draw_image(index: int, seed: int, image_size: int, two_object_fraction: float):
    """Image number `index`, redrawn from (seed, index) alone: the same pixels on every call, in any process.

    A record's load_image is this function with its arguments bound: four numbers pickle
    about ten times faster than the scene itself, and preprocess sends one per image to
    its worker processes.
    """
    scene, pixel_seed, _ = _scene_and_pixel_seed(index, seed, two_object_fraction)
    return render_scene(scene, image_size, np.random.default_rng(pixel_seed))


def make_record(index: int, seed: int, image_size: int = 64, two_object_fraction: float = 0.6,
                captions_per_image: int = 5, questions: bool = True, document: bool = True,
                held_out: tuple[str, ...] = ()) -> Record:
    """Image number `index` of the shapes dataset for `seed`: a Record with lazy pixels, questions and a document.

    questions=False or document=False leaves those out (empty, None): writing them takes about as long as the
    rest of the record, and only vqa reads questions, only summarize documents. Each draws from its own rng,
    so leaving one out changes nothing else of the record. A scene that shows one of the held_out combinations
    (data.shapes.held_out, see shapes_held_out) is novel: its record goes to the test split.
    """

    scene, _, rng = _scene_and_pixel_seed(index, seed, two_object_fraction)
    scene = replace(scene, held_out=parse_all(tuple(held_out)))
    novel = scene.novel()
    # questions draw from their own rng, so the images, captions and translations stay as they were
    asked = scene_questions(scene, random.Random(f"shapes:{seed}:questions:{index}")) if questions else ()
    paragraph = (scene_paragraph(scene, random.Random(f"shapes:{seed}:paragraph:{index}"))  # its own rng, likewise
                 if document else None)
    return Record(
        key=f"shapes-{index:07d}",
        captions=scene.captions(rng, captions_per_image),
        load_image=partial(draw_image, index, seed, image_size, two_object_fraction),
        canonical=scene.canonical(),
        translation=scene.caption_zh(),
        scene=scene,
        place=f"shapes image {index}",
        questions=asked,
        document=paragraph,
        split="test" if novel else None,
        novel=novel,
    )


def read_records(data_config, seed: int, skips=None, needs=None) -> Iterator[Record]:
    """Yield the configured number of shapes records, in index order; questions and documents only if needed.

    needs: what the caller reads, in the words of GIVES; None: everything.
    """
    for _, record in records_at(data_config, seed, range(num_records(data_config)), skips, needs):
        yield record


def num_records(data_config) -> int:
    """How many records read_records yields: with records_at, what makes the source random-access."""
    return data_config.shapes.num_images


def records_at(data_config, seed: int, indices: Iterable[int], skips=None, needs=None) -> Iterator[tuple[int, Record]]:
    """(index, record) of the records at these positions of read_records' order: any part, in any process."""
    cfg = data_config.shapes
    questions = needs is None or "questions" in needs
    documents = needs is None or "documents" in needs
    for index in indices:
        yield index, make_record(index, seed, cfg.image_size, cfg.two_object_fraction, cfg.captions_per_image,
                                 questions, documents, tuple(cfg.held_out))


HARD_NEGATIVE_TRIES = 100


def hard_negative(record: Record, rng: random.Random, weights=None) -> str | None:
    """A hard negative: a caption of the record's scene with one attribute changed (chosen by weights: see
    perturb_scene). The change never makes a held-out combination out of a scene that shows none (a train
    caption would name it otherwise); None when no change avoids one."""
    scene = record.scene
    avoid = scene.held_out and not scene.novel()
    for _ in range(HARD_NEGATIVE_TRIES if avoid else 1):
        changed = perturb_scene(scene, rng, weights)
        if not (avoid and changed.novel()):
            return changed.caption(rng.choice(TWO_OBJECT_TEMPLATES if changed.relation else ONE_OBJECT_TEMPLATES))
    return None


def fingerprint(data_config) -> str:
    """Changes whenever the generator would draw different data for the same config."""
    return "shapes-v2"
