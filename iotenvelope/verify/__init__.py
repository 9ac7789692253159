"""``iotenvelope verify``: every implementation (:mod:`.peers`) over every vector file (:mod:`.vectors`)."""

from .matrix import *  # noqa: F401,F403
