"""Zone score scales and patient severity levels."""

from __future__ import annotations

from dataclasses import dataclass

from lusapp.core.errors import ValidationError


@dataclass(frozen=True)
class ScoreLevel:
    value: int
    short: str
    description: str


@dataclass(frozen=True)
class ScoreScale:
    id: str
    name: str
    levels: tuple[ScoreLevel, ...]

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(lv.value for lv in self.levels)

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def min_value(self) -> int:
        return self.levels[0].value

    @property
    def max_value(self) -> int:
        return self.levels[-1].value

    def level(self, value: int) -> ScoreLevel:
        for lv in self.levels:
            if lv.value == value:
                return lv
        raise KeyError(f"score {value!r} is not on scale {self.id} ({self.min_value}-{self.max_value})")

    def check(self, value: object, field: str = "score") -> int:
        """``value`` as an int on this scale, else ``ValidationError(field, ...)``."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(field, f"{value!r} is not an integer score")
        if value not in self.values:
            raise ValidationError(field, f"{value} is outside {self.min_value}-{self.max_value} (scale {self.id})")
        return value


SCALE_0_4 = ScoreScale(
    id="0-4",
    name="LUS score 0-4",
    levels=(
        ScoreLevel(0, "Normal", "A-lines, fewer than 3 B-lines"),
        ScoreLevel(1, "Mild", "3-5 B-lines"),
        ScoreLevel(2, "Moderate", "6 or more B-lines, or irregular pleural line"),
        ScoreLevel(3, "Severe", "Fused B-lines, or thickened pleural line"),
        ScoreLevel(4, "Consolidation", "Consolidation"),
    ),
)

SCALE_0_3 = ScoreScale(
    id="0-3",
    name="ICLUS score 0-3 (Soldati)",
    levels=(
        ScoreLevel(0, "Normal", "Continuous, regular pleural line with horizontal artefacts (A-lines)"),
        ScoreLevel(1, "Indented", "Indented pleural line with vertical white areas (B-lines) below the indent"),
        ScoreLevel(2, "Broken", "Broken pleural line, small to large consolidated areas with white areas below"),
        ScoreLevel(3, "White lung", "Dense, largely extended white lung with or without larger consolidations"),
    ),
)

SCALES: dict[str, ScoreScale] = {SCALE_0_4.id: SCALE_0_4, SCALE_0_3.id: SCALE_0_3}


def get_scale(scale_id: str) -> ScoreScale:
    try:
        return SCALES[scale_id]
    except KeyError:
        raise ValidationError("scale_id", f"unknown score scale {scale_id!r} (known: {', '.join(SCALES)})") from None


SEVERITY_LEVELS: dict[int, str] = {1: "mild", 2: "moderate", 3: "severe", 4: "critical"}


def severity_name(label: int) -> str:
    try:
        return SEVERITY_LEVELS[label]
    except KeyError:
        raise ValidationError("severity", f"{label!r} is not a severity level (1-4)") from None


def is_severe(label: int) -> bool:
    """Severe or critical (3, 4) versus mild or moderate (1, 2): the paper's binary split."""
    severity_name(label)
    return label >= 3
