"""Errors the core raises. All are ``ValueError`` subclasses whose message a person can act on."""


class MaskError(ValueError):
    """Base class: bad input to the processing core. The message is meant for the user."""


class OpError(MaskError):
    """An edit operation's wire form broke a rule; the message names the field and the rule."""


class PathDataError(MaskError):
    """SVG path data could not be parsed or is out of bounds."""


class ImageInputError(MaskError):
    """An image file is not an image, is truncated, too large, or otherwise unusable."""


class ClipPathError(MaskError):
    """A Photoshop path resource block is malformed."""
