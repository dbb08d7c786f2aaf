"""The words of the shapes world: its shapes, colours, sizes and relations.

Kept apart from the generator (shapes.py) so that the config layer can check held-out
combinations (shapes_held_out.py) without importing numpy and PIL.
"""

SHAPES = ("circle", "square", "triangle")
COLOURS = {
    "red": (215, 40, 40),
    "green": (40, 165, 60),
    "blue": (40, 80, 215),
    "yellow": (225, 205, 35),
    "purple": (135, 55, 175),
    "orange": (240, 135, 25),
}
SIZES = {"small": (0.1, 0.125), "large": (0.18, 0.22)}  # radius as a fraction of the side
RELATIONS = ("left", "right", "above", "below")
INVERSE = {"left": "right", "right": "left", "above": "below", "below": "above"}
