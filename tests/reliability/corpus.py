"""A corpus of hostile (and merely unusual) inputs, written by the tests themselves.

``build_corpus(root)`` writes every case into its own folder under ``root`` and returns the
cases. Four kinds:

- ``image``: a folder holding one image file (``Case.path`` is the file); opened as a folder of
  images in the window, or handed to ``segstudio predict``.
- ``mask``: a project folder whose one image is fine but whose saved mask is not.
- ``project``: a project folder whose ``segstudio.json`` is broken or hostile.
- ``model``: a model file (``Case.path``) with, where the case needs one, its JSON sidecar.

``Case.ok`` says whether segstudio must accept the input (a legal if unusual file) or refuse it
with a message matching ``Case.expect`` (a regular expression, searched case-insensitively).

The crafted pickles would create a file in ``markers/`` when unpickled (their ``__reduce__``
calls ``open(marker, "w")``); no marker may ever appear.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE = "image"
MASK = "mask"
PROJECT = "project"
MODEL = "model"

CLASSES = [{"name": "background", "color": "#3b4cc0"}, {"name": "cell", "color": "#e69f00"}]


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    path: Path
    ok: bool
    expect: str = ""   # regex the message must contain (refused cases)
    shape: tuple[int, int] | None = None  # accepted images: (height, width) once decoded


# ---------------------------------------------------------------------------- crafting helpers
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_with_header(width: int, height: int, rows: int = 1) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` (8-bit grey) but whose data is tiny:
    the shape of a decompression bomb, harmless unless a reader trusts the header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = b"\x00" * (1 + min(width, 64)) * rows
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(raw)) + _png_chunk(b"IEND", b""))


def jpeg_with_size(width: int, height: int) -> bytes:
    """A real JPEG whose SOF0 marker is patched to claim ``width`` x ``height``."""
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.new("L", (16, 16), 128).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    i = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, i + 5, height, width)
    return bytes(data)


class _WritesMarker:
    """Unpickling this object calls open(marker, "w"): it would create the marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def evil_pickle(marker: Path) -> bytes:
    """A pickle that creates ``marker`` when loaded, wrapped like a PyTorch state dict."""
    return pickle.dumps({"state_dict": {"weight": _WritesMarker(str(marker))}}, protocol=2)


def _png_bytes(a: np.ndarray) -> bytes:
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def _gradient(h: int, w: int, c: int = 3) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    base = ((xx * 7 + yy * 3) % 256).astype(np.uint8)
    return np.stack([np.roll(base, 5 * k, 1) for k in range(c)], -1) if c > 1 else base


# ---------------------------------------------------------------------------------- images
def _images(root: Path) -> list[Case]:
    import tifffile
    from PIL import Image

    from tests.image_corpus import write_exif_rotated_jpeg

    cases: list[Case] = []

    def folder(name: str) -> Path:
        d = root / "images" / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def add(name, filename, ok, expect="", shape=None, sub=None) -> Path:
        d = folder(name) if sub is None else sub
        p = d / filename
        cases.append(Case(name, IMAGE, p, ok, expect, shape))
        return p

    good = _gradient(24, 32)
    png = _png_bytes(good)
    jpg_buf = __import__("io").BytesIO()
    Image.fromarray(good).save(jpg_buf, "JPEG", quality=90)
    jpg = jpg_buf.getvalue()

    add("zero_bytes", "empty.png", False, r"empty \(0 bytes\)").write_bytes(b"")
    add("truncated_png", "cut.png", False, r"cut\.png: not .*(readable|image)").write_bytes(
        png[: len(png) // 2])
    add("truncated_jpeg", "cut.jpg", False, r"cut\.jpg: not .*(readable|image)").write_bytes(
        jpg[: len(jpg) // 2])
    add("text_as_png", "notes.png", False, r"notes\.png: not an image").write_text(
        "Dear diary, today I renamed a text file to .png.\n" * 20, encoding="utf-8")
    add("html_as_jpeg", "page.jpg", False, r"page\.jpg: not an image").write_text(
        "<!doctype html><html><body>not a picture</body></html>", encoding="utf-8")
    add("png_bomb_100000", "bomb.png", False,
        r"100000 x 100000 pixels is larger than the limit").write_bytes(
        png_with_header(100_000, 100_000))
    add("jpeg_bomb_65500", "bomb.jpg", False,
        r"65500 x 65500 pixels is larger than the limit").write_bytes(
        jpeg_with_size(65500, 65500))
    add("png_zero_width", "flat.png", False, r"flat\.png: ").write_bytes(png_with_header(0, 10))
    add("tiff_garbage", "garbage.tif", False,
        r"garbage\.tif: (not a readable image|the TIFF holds no image)").write_bytes(
        b"II*\x00" + os.urandom(200))
    p = add("tiff_5_channels", "five.tif", False, r"5 channels per pixel")
    tifffile.imwrite(p, np.zeros((12, 10, 5), np.uint8), photometric="minisblack",
                     planarconfig="contig")
    p = add("dangling_symlink", "gone.png", False, r"(gone|no-such-file)\.png: file not found")
    os.symlink(root / "images" / "no-such-file.png", p)

    Image.fromarray(np.array([[200]], np.uint8)).save(
        add("one_by_one", "dot.png", True, shape=(1, 1)))
    Image.fromarray(_gradient(20, 30, 1).astype(np.uint16) * 257).save(
        add("png_16bit", "deep.png", True, shape=(20, 30)))
    Image.new("CMYK", (30, 20), (10, 200, 30, 5)).save(
        add("cmyk_jpeg", "cmyk.jpg", True, shape=(20, 30)), "JPEG")
    write_exif_rotated_jpeg(add("exif_rotated", "rotated.jpg", True, shape=(40, 24)), w=40, h=24)
    pal = Image.fromarray((_gradient(20, 30, 1) % 4).astype(np.uint8), "L").convert("P")
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    pal.info["transparency"] = 0
    pal.save(add("palette_alpha", "palette.png", True, shape=(20, 30)), transparency=0)
    tifffile.imwrite(add("tiff_float_nan", "nan.tif", True, shape=(16, 16)),
                     np.where(np.eye(16, dtype=bool), np.nan, 1.5).astype(np.float32))
    frames = [Image.fromarray(_gradient(16, 16, 1) + k * 40) for k in range(3)]
    gif = add("animated_gif", "anim.gif", True, shape=(16, 16))
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    nonascii = root / "images" / "non_ascii" / "données_数据_🔬"
    nonascii.mkdir(parents=True)
    Image.fromarray(good).save(add("non_ascii", "zellen_ä_细胞_🔬.png", True, shape=(24, 32),
                                   sub=nonascii))
    # A very long path: four folders of 120 characters and a 200-character name (> 700).
    deep = root / "images" / "very_long_path"
    for k in range(4):
        deep = deep / (f"level{k}_" + "x" * 113)
    deep.mkdir(parents=True)
    long_name = "long_" + "é" * 60 + "y" * 120 + ".png"   # 249 bytes in UTF-8
    Image.fromarray(good).save(add("very_long_path", long_name, True, shape=(24, 32), sub=deep))
    assert len(str(deep / long_name)) > 700
    return cases


# ----------------------------------------------------------------------------------- masks
def _project_json(images: list[dict], schema: int = 1, classes=None) -> dict:
    return {"app": "segstudio", "schema": schema, "name": "hostile",
            "classes": CLASSES if classes is None else classes, "images": images,
            "settings": {}}


def _good_project(folder: Path, **json_kw) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_gradient(24, 32)).save(folder / "img.png")
    (folder / "segstudio.json").write_text(json.dumps(_project_json(
        [{"id": "img", "path": "img.png", "split": "auto", "labelled": 0.5}], **json_kw)),
        encoding="utf-8")


def _masks(root: Path) -> list[Case]:
    from PIL import Image

    cases = []

    def add(name: str, expect: str, write) -> None:
        folder = root / "masks" / name
        _good_project(folder)
        (folder / "masks").mkdir()
        write(folder / "masks" / "img.png")
        cases.append(Case(name, MASK, folder, False, expect))

    def index_png(a: np.ndarray):
        return lambda p: Image.fromarray(a.astype(np.uint8), "L").convert("P").save(p)

    add("mask_wrong_size", r"img\.png: mask is 10 x 12 but the image is 32 x 24",
        index_png(np.zeros((12, 10))))
    beyond = np.full((24, 32), 255, np.uint8)
    beyond[3:6, 3:6] = 7
    add("mask_values_beyond_classes", r"values \[7\] but the project has only 2 classes",
        index_png(beyond))
    add("mask_rgb", r"single-channel index image, found mode RGB",
        lambda p: Image.fromarray(_gradient(24, 32)).save(p))
    noisy = np.random.default_rng(0).integers(0, 2, (24, 32)).astype(np.uint8)
    add("mask_truncated", r"img\.png: not a readable mask",
        lambda p: p.write_bytes(_png_bytes(noisy)[:len(_png_bytes(noisy)) // 2]))
    add("mask_zero_bytes", r"img\.png: not a readable mask", lambda p: p.write_bytes(b""))
    add("mask_16bit_values", r"img\.png: mask values beyond 255",
        lambda p: Image.fromarray(np.full((24, 32), 4000, np.uint16)).save(p))
    return cases


# -------------------------------------------------------------------------------- projects
def _projects(root: Path) -> list[Case]:
    cases = []

    def add(name: str, expect: str, content: bytes | dict | list, with_image=True) -> Path:
        folder = root / "projects" / name
        if with_image:
            _good_project(folder)
        else:
            folder.mkdir(parents=True)
        data = content if isinstance(content, bytes) else json.dumps(content).encode()
        (folder / "segstudio.json").write_bytes(data)
        cases.append(Case(name, PROJECT, folder, False, expect))
        return folder

    good = json.dumps(_project_json([{"id": "img", "path": "img.png"}]), indent=1).encode()
    add("json_truncated", r"segstudio\.json is corrupt \(line \d+", good[: len(good) // 2])
    add("json_zero_bytes", r"segstudio\.json is corrupt", b"")
    add("json_not_utf8", r"segstudio\.json cannot be read", b"\xff\xfe\x00garbage\x80\x81")
    add("json_deeply_nested", r"segstudio\.json is corrupt", b"[" * 100_000 + b"]" * 100_000)
    add("json_a_list", r"not a valid project file", [1, 2, 3])
    add("schema_newer", r"saved by a newer segstudio \(schema 99\)",
        _project_json([{"id": "img", "path": "img.png"}], schema=99))
    add("path_dotdot", r"points outside the project \('\.\./\.\./etc/passwd'\)",
        _project_json([{"id": "img", "path": "../../etc/passwd"}]))
    add("path_dotdot_windows", r"points outside the project",
        _project_json([{"id": "img", "path": "..\\..\\secrets.png"}]))
    add("id_traversal", r"invalid image id '\.\./\.\./evil'",
        _project_json([{"id": "../../evil", "path": "img.png"}]))
    add("duplicate_ids", r"image id 'img' appears twice",
        _project_json([{"id": "img", "path": "img.png"}, {"id": "img", "path": "img.png"}]))
    add("classes_not_a_list", r"not a valid project file", {**_project_json([]), "classes": 5})
    add("bad_class_colour", r"Class colour 'red; rm -rf /' is not of the form",
        _project_json([], classes=[{"name": "a", "color": "red; rm -rf /"}]))
    add("no_classes", r"defines no classes", _project_json([], classes=[]))
    add("image_entry_a_string", r"not a valid project file",
        {**_project_json([]), "images": ["img.png"]})
    add("unknown_split", r"unknown split 'holdout'",
        _project_json([{"id": "img", "path": "img.png", "split": "holdout"}]))
    add("labelled_not_a_number", r"not a valid project file",
        _project_json([{"id": "img", "path": "img.png", "labelled": "lots"}]))
    folder = root / "projects" / "project_file_is_a_folder"
    (folder / "segstudio.json").mkdir(parents=True)
    cases.append(Case("project_file_is_a_folder", PROJECT, folder, False,
                      r"segstudio\.json cannot be read"))
    return cases


# ---------------------------------------------------------------------------------- models
def good_model(folder: Path, stem: str = "model") -> Path:
    """A tiny real segstudio model (3-channel U-Net, 2 classes); returns the weights path."""
    import torch

    from segstudio.inference.checkpoints import save_checkpoint
    from segstudio.models import create_model

    torch.manual_seed(0)
    model = create_model("unet", in_channels=3, num_classes=1, base_width=4, levels=2)
    meta = {"classes": CLASSES, "channels": 3,
            "normalisation": {"mean": [128.0] * 3, "std": [64.0] * 3}, "epoch": 1,
            "best_miou": 0.5}
    folder.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(folder / stem, model, meta)


def _models(root: Path, markers: Path) -> list[Case]:
    from safetensors.numpy import save as save_np

    cases = []
    good = good_model(root / "models" / "_good")
    sidecar = json.loads(good.with_suffix(".json").read_text())

    def add(name: str, filename: str, expect: str, weights: bytes | None,
            side: dict | bytes | None = None) -> Path:
        folder = root / "models" / name
        folder.mkdir(parents=True)
        p = folder / filename
        if weights is not None:
            p.write_bytes(weights)
        if side is not None:
            data = side if isinstance(side, bytes) else json.dumps(side).encode()
            p.with_suffix(".json").write_bytes(data)
        cases.append(Case(name, MODEL, p, False, expect))
        return p

    def marker(name: str) -> Path:
        return markers / f"{name}.pwned"

    refuse = r"loads only \.safetensors models; pickled PyTorch files can run code"
    add("pickle_pt", "model.pt", refuse, evil_pickle(marker("pickle_pt")), sidecar)
    add("pickle_pth", "model.pth", refuse, evil_pickle(marker("pickle_pth")))
    add("pickle_ckpt", "model.ckpt", refuse, evil_pickle(marker("pickle_ckpt")))
    not_st = r"model\.safetensors is not a readable safetensors file"
    add("pickle_as_safetensors", "model.safetensors", not_st,
        evil_pickle(marker("pickle_as_safetensors")), sidecar)
    add("pickle_as_safetensors_no_sidecar", "model.safetensors", r"model\.json is missing",
        evil_pickle(marker("pickle_as_safetensors_no_sidecar")))
    add("torch_zip_pickle_pt", "weights.pt", refuse, _torch_zip_pickle(marker("torch_zip")))
    wrong = {k: np.zeros((3, 3), np.float32) for k in _state_names(good)}
    add("safetensors_wrong_shapes", "model.safetensors",
        r"does not match its description: .*of the wrong shape", save_np(wrong), sidecar)
    add("safetensors_missing_tensors", "model.safetensors",
        r"does not match its description: .*missing",
        save_np({"head.weight": np.zeros((1, 4, 1, 1), np.float32)}), sidecar)
    add("safetensors_huge_header", "model.safetensors", not_st,
        struct.pack("<Q", 1 << 62) + b"{}" * 8, sidecar)
    add("safetensors_zero_bytes", "model.safetensors", not_st, b"", sidecar)
    gw = good.read_bytes()
    add("sidecar_corrupt", "model.safetensors", r"model\.json is not a readable model description",
        gw, b'{"format": "segstudio-checkpoint", "version": 1, "archi')
    add("sidecar_not_segstudio", "model.safetensors", r"not a segstudio model description",
        gw, {"format": "something-else"})
    add("sidecar_newer_version", "model.safetensors", r"written by a newer segstudio",
        gw, {**sidecar, "version": 7})
    add("sidecar_version_not_a_number", "model.safetensors",
        r"model\.json: 'version' is not a number",
        gw, {**sidecar, "version": "one"})
    add("sidecar_unknown_architecture", "model.safetensors", r"Unknown model 'resnet9000'",
        gw, {**sidecar, "architecture": "resnet9000"})
    add("sidecar_config_not_a_dict", "model.safetensors", r"model\.json: 'config' must be",
        gw, {**sidecar, "config": "base_width=4"})
    # A sidecar asking for a model of ~1e9 parameters (4096 filters a level, the most
    # validate_model_options allows): building it before comparing would take several GB.
    add("sidecar_memory_bomb", "model.safetensors", r"does not match its description",
        gw, {**sidecar, "config": {**sidecar["config"], "filters": [4096, 4096, 4096]}})
    # ~4e12 parameters: refused by the options check before any model is built.
    add("sidecar_filters_out_of_range", "model.safetensors", r"filters must be",
        gw, {**sidecar, "config": {**sidecar["config"], "filters": [100000, 200000, 300000]}})
    add("sidecar_classes_not_dicts", "model.safetensors", r"model\.json: 'classes' must be",
        gw, {**sidecar, "classes": ["background", "cell"]})
    add("sidecar_bad_normalisation", "model.safetensors", r"model\.json: 'normalisation' must",
        gw, {**sidecar, "normalisation": {"mean": "zero"}})
    add("sidecar_channels_mismatch", "model.safetensors",
        r"model\.json says the model takes 1 input channel\(s\), but its weights take 3",
        gw, {**sidecar, "channels": 1, "normalisation": {"mean": [0.0], "std": [1.0]}})
    return cases


def _state_names(weights: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(weights), "np") as f:
        return list(f.keys())


def _torch_zip_pickle(marker: Path) -> bytes:
    """A file in PyTorch's own zip format whose data.pkl creates ``marker`` when loaded."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", evil_pickle(marker))
        z.writestr("archive/version", "3\n")
    return buf.getvalue()


# ----------------------------------------------------------------------------------- corpus
def build_corpus(root: Path) -> list[Case]:
    """Write every case under ``root``; returns them (images, masks, projects, models)."""
    root = Path(root)
    markers = root / "markers"
    markers.mkdir(parents=True, exist_ok=True)
    cases = _images(root) + _masks(root) + _projects(root) + _models(root, markers)
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases


def markers_dir(root: Path) -> Path:
    return Path(root) / "markers"


def tree_digest(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
    """{relative path: (size, sha1)} of every file under ``folder`` (symlinks by target text),
    to prove that nothing was touched."""
    import hashlib

    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for fn in sorted(filenames + [d for d in dirnames if os.path.islink(
                os.path.join(dirpath, d))]):
            p = Path(dirpath) / fn
            rel = p.relative_to(folder).as_posix()
            if any(rel == s or rel.startswith(s.rstrip("/") + "/") for s in skip):
                continue
            if p.is_symlink():
                out[rel] = (-1, os.readlink(p))
                continue
            data = p.read_bytes()
            out[rel] = (len(data), hashlib.sha1(data).hexdigest())
    return out
