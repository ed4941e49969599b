"""Which project image a file name from elsewhere refers to (``ImageMatcher``), and an image's
size without decoding it where its mask already tells (``image_shape``). Used by the mask
import and export."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from segstudio.io.files import resolve_path
from segstudio.project.project import ImageEntry, Project


class ImageMatcher:
    """Finds the project image a file name refers to: exact path, then the image with that file
    name sharing the most trailing folders, then the stem, then the image id."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.by_path: dict[Path, ImageEntry] = {}
        self.by_stem: dict[str, list[ImageEntry]] = {}
        self.by_id: dict[str, ImageEntry] = {}
        self.by_name: dict[str, list[ImageEntry]] = {}
        for e in project.images:
            posix = e.path.replace("\\", "/")
            self.by_name.setdefault(PurePosixPath(posix).name.lower(), []).append(e)
            self.by_path[resolve_path(project.image_path(e))] = e
            self.by_stem.setdefault(PurePosixPath(e.path).stem.lower(), []).append(e)
            self.by_id[e.id.lower()] = e

    def find(self, name: str, base: Path | None = None) -> tuple[ImageEntry | None, str]:
        """(entry, "") or (None, reason)."""
        name = (name or "").replace("\\", "/").strip()
        if not name:
            return None, "no image name"
        for root in ([base] if base is not None else []) + [self.project.root]:
            p = resolve_path(root / name)
            if p in self.by_path:
                return self.by_path[p], ""
        pp = PurePosixPath(name)
        parts = [x for x in pp.parts if x not in ("", ".", "..", "/")]
        if len(parts) > 1:
            # Same file name: the image sharing the most trailing folders (at least one) wins.
            want = [x.lower() for x in reversed(parts)]

            def shared(e: ImageEntry) -> int:
                path = PurePosixPath(e.path.replace("\\", "/"))
                have = [x.lower() for x in reversed(path.parts)]
                n = 0
                while n < min(len(want), len(have)) and want[n] == have[n]:
                    n += 1
                return n

            scored = sorted(((shared(e), i, e) for i, e in
                             enumerate(self.by_name.get(parts[-1].lower(), []))), reverse=True)
            if scored and scored[0][0] >= 2 and (len(scored) == 1 or scored[1][0] < scored[0][0]):
                return scored[0][2], ""
        stem = pp.stem.lower()
        hits = self.by_stem.get(stem, [])
        if len(hits) == 1:
            return hits[0], ""
        if len(hits) > 1:
            exact = self.by_id.get(stem)
            if exact is not None:
                return exact, ""
            return None, (f"{len(hits)} images are called '{pp.stem}' "
                          f"({', '.join(e.path for e in hits[:3])}); rename one")
        if stem in self.by_id:
            return self.by_id[stem], ""
        return None, "no image of that name in the project"


def image_shape(project: Project, entry: ImageEntry) -> tuple[int, int]:
    """(height, width) of an image: from its saved mask if any (cheap), else by decoding."""
    from PIL import Image

    from segstudio.io.files import open_regular
    from segstudio.io.images import read_image

    mp = project.mask_path(entry)
    if mp.exists():
        try:
            with open_regular(mp) as fh, Image.open(fh) as im:
                return im.height, im.width
        except Exception:
            pass
    return read_image(project.image_path(entry)).data.shape[:2]
