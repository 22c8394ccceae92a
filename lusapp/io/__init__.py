"""Qt-free media input: clip readers (video, GIF, stills, DICOM) and imaging-region crop."""

from lusapp.io.clip import Clip
from lusapp.io.readers import open_media

__all__ = ["Clip", "open_media"]
