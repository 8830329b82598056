"""Images looked at with Pillow (blocking: the service runs it in a thread): that the file is
the image its bytes claim, its size, the EXIF GPS position of a JPEG, and a small JPEG
thumbnail turned upright. A file that only starts like an image is refused."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from callengine.attachments.model import Kind, Unreadable, gps_position

MAX_PIXELS = 50_000_000               # a 50 MP camera; more is a decompression bomb, not a photo
THUMB_PX = 320
GPS_IFD = 0x8825
_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


@dataclass(frozen=True)
class Facts:
    width: int
    height: int
    gps: tuple[float, float] | None


def examine(path: Path, kind: Kind, thumbnail: Path) -> Facts:
    """The image's facts, its thumbnail written to `thumbnail`; Unreadable if Pillow does not
    read it as `kind` or it is too large to decode."""
    try:
        with Image.open(path, formats=[_FORMATS[kind.name]]) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise Unreadable(f"the image is {width}x{height}: at most {MAX_PIXELS // 1_000_000} megapixels")
            gps = gps_position(image.getexif().get_ifd(GPS_IFD)) if kind.name == "jpeg" else None
            image.load()
            small = ImageOps.exif_transpose(image)
            small.thumbnail((THUMB_PX, THUMB_PX))
            if small.mode != "RGB":
                small = small.convert("RGBA").convert("RGB") if "A" in small.mode or small.mode == "P" \
                    else small.convert("RGB")
            small.save(thumbnail, "JPEG", quality=80)
    except Unreadable:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        thumbnail.unlink(missing_ok=True)
        raise Unreadable(f"the file is not a readable {kind.name.upper()} image") from exc
    return Facts(width, height, gps)
