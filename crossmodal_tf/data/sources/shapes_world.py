"""What a shapes scene is made of: its shapes, colours, sizes and relations, with their English words.

shapes.py draws scenes from them and shapes_questions.py asks about them; both import them from here, so
neither imports the other.
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
RELATION_EN = {
    "left": "to the left of",
    "right": "to the right of",
    "above": "above",
    "below": "below",
}
