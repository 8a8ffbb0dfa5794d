"""JewelReview's processing core: masks as edit logs, rendering, tracing, colour, QA.

Arrays in, arrays out. Images are ``uint8`` arrays of shape ``(H, W, 3)`` in sRGB, alpha
masks ``uint8`` arrays of shape ``(H, W)`` (0 = background, 255 = object). Coordinates are
image pixels in a continuous plane: pixel (x, y) is the unit square [x, x+1) × [y, y+1).

Nothing here imports Django: web views, Channels consumers, Celery workers, the command line
(``python -m masks``) and the benchmarks all call the same functions.
"""
