"""Import PyTorch (and the assistants' scikit-image) in the background once the window is up.

Importing torch holds Python's GIL for a few hundred milliseconds (loading its C++ core), which
freezes the window once wherever it happens. Doing it shortly after start-up, while the user is
still looking around, keeps that pause out of painting and out of training.
"""

from __future__ import annotations

import threading

_done = threading.Event()
_started = False


def _import_all() -> None:
    try:
        import safetensors.torch  # noqa: F401
        import torch  # noqa: F401
        import torch.optim  # noqa: F401

        import segstudio.core.metrics  # noqa: F401
        import segstudio.inference.checkpoints  # noqa: F401
        import segstudio.models  # noqa: F401
        import segstudio.training.loop  # noqa: F401
        import segstudio.training.losses  # noqa: F401

        _warm_up_step()
        # The assistants' libraries (superpixels, GrabCut, uncertainty): importing
        # scikit-image's segmentation and scipy.ndimage holds the GIL for most of a second,
        # which the first superpixel brush would otherwise cost the painting.
        import scipy.ndimage  # noqa: F401
        import skimage.segmentation  # noqa: F401
    except Exception:
        pass  # a broken install shows itself, with a message, when training starts
    finally:
        _done.set()


def _warm_up_step() -> None:
    """One tiny optimisation step: the first AdamW step imports torch._dynamo and friends, and
    the first convolution initialises oneDNN; both hold the GIL for long."""
    import torch

    from segstudio.models import create_model
    from segstudio.training.losses import build_loss, model_loss

    threads = torch.get_num_threads()
    try:
        model = create_model("unet", in_channels=1, num_classes=3, base_width=2, levels=2)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        scaler = torch.amp.GradScaler("cuda", enabled=False)
        x = torch.zeros(1, 1, 16, 16)
        y = torch.zeros(1, 16, 16, dtype=torch.long)
        loss = model_loss(model, model(x, return_all=True), y, build_loss("ce", 3))
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    finally:
        torch.set_num_threads(threads)


def preload_torch() -> None:
    """Start the background import (once)."""
    global _started
    if not _started:
        _started = True
        # Not a daemon: a daemon thread inside torch's C++ code when the interpreter exits is
        # killed by pthread_exit, which aborts the process ("terminate called without an
        # active exception"). Python joins this one before it finalises.
        threading.Thread(target=_import_all, name="segstudio-preload", daemon=False).start()


def wait_preloaded(timeout: float | None = None) -> bool:
    preload_torch()
    return _done.wait(timeout)
