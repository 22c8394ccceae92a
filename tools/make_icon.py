"""Draw LUSApp's icon (a convex-probe sector with the pleural line, A-lines and one B-line, in the app's
mask colours) and write ``resources/icons/lusapp.png`` (256 px, window icon) and ``lusapp.ico`` (16-256 px,
Windows exe and installer). Run it again after changing the drawing: ``python tools/make_icon.py``."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "resources" / "icons"
S = 1024  # drawn large, downsampled for smooth edges
CYAN, GREEN, BROWN, BG = (0, 220, 235), (60, 200, 90), (190, 120, 60), (24, 28, 34)


def draw() -> Image.Image:
    im = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    d.rounded_rectangle([24, 24, S - 24, S - 24], radius=180, fill=BG)
    apex, r0, r1, half = (S / 2, -260), 380, 1180, math.radians(30)  # the sector's virtual apex above the tile

    def pt(r: float, a: float) -> tuple[float, float]:
        return apex[0] + r * math.sin(a), apex[1] + r * math.cos(a)

    arc = [pt(r0, -half + 2 * half * i / 64) for i in range(65)]
    far = [pt(r1, half - 2 * half * i / 64) for i in range(65)]
    d.polygon(arc + far, fill=(70, 74, 80))  # the imaging sector
    for r, w, c in ((560, 34, CYAN), (760, 22, GREEN), (960, 16, (45, 140, 65))):  # pleura, A-lines fading
        band = [pt(r, -half + 2 * half * i / 64) for i in range(65)]
        d.line(band, fill=c, width=w, joint="curve")
    d.polygon([pt(560, -0.05), pt(560, 0.05), pt(r1, 0.075), pt(r1, -0.075)], fill=BROWN)  # a B-line
    d.line([pt(560, -half + 2 * half * i / 64) for i in range(65)], fill=CYAN, width=34, joint="curve")
    mask = Image.new("L", (S, S), 0)
    ImageDraw.Draw(mask).rounded_rectangle([24, 24, S - 24, S - 24], radius=180, fill=255)
    im.putalpha(Image.composite(im.getchannel("A"), mask, mask))
    return im


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    big = draw()
    big.resize((256, 256), Image.LANCZOS).save(OUT / "lusapp.png")
    big.resize((256, 256), Image.LANCZOS).save(OUT / "lusapp.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48),
                                                                           (64, 64), (128, 128), (256, 256)])
    print(OUT / "lusapp.png", OUT / "lusapp.ico")


if __name__ == "__main__":
    main()
