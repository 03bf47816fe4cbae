"""The file formats charts are written in; apart from the plotting package so the
command line can name them without importing matplotlib (see cli/__init__.py)."""

FORMATS = ("png", "svg")
# PNG only unless asked: SVG of a many-line chart costs as much again to write.
DEFAULT_FORMATS = ("png",)
