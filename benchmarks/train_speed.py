"""Training speed (issue 5): the trainer against a bare loop, the window against headless,
our U-Net++ against segmentation_models_pytorch's, and U-Net++ inference time per depth.

    python benchmarks/train_speed.py --quick      # CI-sized, about a minute
    python benchmarks/train_speed.py              # the figures in docs/benchmarks.md
    python benchmarks/train_speed.py --parts smp,depth   # only some parts
    /tmp/smpvenv/bin/python benchmarks/train_speed.py --parts smp,depth   # with smp installed

Parts (all by default; a part whose packages are missing is skipped and says so):

trainer   images/s of the real ``train()`` generator (patches cut from a project, augmentation,
          loss with ignore, AdamW, LR schedule) over images/s of a bare loop on fixed in-memory
          tensors: ``model(x, return_all=True)`` -> ``model_loss`` -> backward -> AdamW step.
          Same model, batch, patch and thread count, in one process, *interleaved*: the trainer
          generator is suspended between its yields, so one trainer iteration alternates with
          one bare step and machine load hits both alike. Warm-up iterations and validation
          are excluded from the headline.
prefetch  the pipelined loop GPUs get (``TrainConfig.pipelined``: batches cut ahead in a thread,
          losses read in groups) against the plain one, forced on the CPU: how long the loop
          waits for a batch, and trainer/bare of each.
dashboard images/s of training from the real MainWindow (offscreen Qt, dashboard live, via
          ``MainWindow.coordinator.start`` -> TrainingController -> its niced worker thread)
          over images/s of the headless generator, same config and thread count, taking turns
          every 2 iterations;
          a 5 ms GUI heartbeat timer gives the longest freeze of the window (``max_stall_ms``).
smp       achieved GFLOP/s of a training step (forward + backward) of our U-Net++ and of
          segmentation_models_pytorch's UnetPlusPlus, both counted with
          ``segstudio.models.count_flops`` (multiply-adds of conv/linear layers):
          GFLOP/s = 2 x 3 x forward MACs / time (backward counted as 2 x forward).
depth     U-Net++ (paper config, filters 32..512) inference time per pruned depth L1..L4.

Ratios come from the fastest quarter of each side's iterations (``low_mean``): on a shared
machine other processes only ever slow an iteration down, while the overhead being measured is
paid on every iteration. Throughput and median ratios are printed beside them.

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

from segstudio.models import count_flops, count_parameters, create_model, paper_model  # noqa: E402

PARTS = ("trainer", "prefetch", "dashboard", "smp", "depth")


def log(*args) -> None:
    print(*args, flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def pick_device(choice: str) -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        sys.exit("train_speed: --device cuda but no CUDA GPU is usable here")
    return torch.device(choice)


def rounded(o):
    """Floats to 4 significant decimals, recursively, for a readable JSON line."""
    if isinstance(o, float):
        return o if o != o else round(o, 4)
    if isinstance(o, dict):
        return {str(k): rounded(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [rounded(v) for v in o]
    return o


def _f(v, width: int, prec: int) -> str:
    return f"{'-':>{width}s}" if v is None else f"{v:{width}.{prec}f}"


def low_mean(xs, frac: float = 0.25) -> float:
    """Mean of the fastest ``frac`` of the samples (at least one)."""
    xs = sorted(xs)
    k = max(1, int(round(len(xs) * frac)))
    return sum(xs[:k]) / k if xs else float("nan")


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# --------------------------------------------------------------------------- settings

@dataclass
class Setup:
    """One training configuration measured by the trainer and dashboard parts."""
    name: str
    arch: str
    model: dict
    patch: int
    batch: int
    warmup: int          # iterations excluded at the start of every run / generator
    per_round: int       # measured iterations per round
    rounds: int


def setups(quick: bool) -> list[Setup]:
    # Rounds are short (1-2 iterations) and many: trainer and bare alternate every second or
    # so, and the ratio of median round times ignores bursts of load from other processes.
    if quick:
        return [Setup("unet w8 L3 p96 b4", "unet", {"base_width": 8, "levels": 3}, 96, 4, 3, 2, 12)]
    # segstudio's default TrainConfig (U-Net, base width 16, 4 levels, patch 192, batch 8) and a
    # U-Net++ with deep supervision at the same size.
    return [Setup("unet (defaults) w16 L4 p192 b8", "unet", {"base_width": 16, "levels": 4},
                  192, 8, 3, 1, 30),
            Setup("unetpp w16 L4 p192 b8", "unetpp", {"base_width": 16, "levels": 4},
                  192, 8, 2, 1, 16)]


def make_project(root: Path, quick: bool):
    from segstudio.project.demo import generate_demo

    # The demo: synthetic cells, sparse strokes on some images (so the loss ignores most pixels).
    return generate_demo(root / "demo", n_images=5 if quick else 6, size=256 if quick else 512,
                         labelled=4)


def train_config(s: Setup, iterations: int, threads: int | None, device: str,
                 pipelined: bool | None = None):
    from segstudio.training.config import TrainConfig

    return TrainConfig(architecture=s.arch, model=dict(s.model), loss={"name": "ce"},
                       patch=s.patch, batch=s.batch, epochs=1, iterations_per_epoch=iterations,
                       device=device, cpu_threads=threads, patience=None, seed=0,
                       pipelined=pipelined)


# --------------------------------------------------------------------------- trainer vs bare

class SamplerClock:
    """Times ``batch()`` of what the loop takes its batches from (the PatchSampler, or the
    BatchPrefetcher of a pipelined run), i.e. the time the training loop's thread spends
    getting a batch (wrapped at class level, for measurement only)."""

    def __init__(self, pipelined: bool = False) -> None:
        from segstudio.training.augment import PatchSampler
        from segstudio.training.prefetch import BatchPrefetcher

        self.cls = BatchPrefetcher if pipelined else PatchSampler
        self.orig = self.cls.__dict__["batch"]
        self.seconds = 0.0
        self.calls = 0
        clock = self

        def timed(sampler, n):
            t = time.perf_counter()
            try:
                return clock.orig(sampler, n)
            finally:
                clock.seconds += time.perf_counter() - t
                clock.calls += 1

        self.cls.batch = timed

    def reset(self) -> None:
        self.seconds, self.calls = 0.0, 0

    def close(self) -> None:
        self.cls.batch = self.orig


class BareLoop:
    """The same model and loss as the trainer on one fixed batch of tensors, nothing else."""

    def __init__(self, project, cfg, device: torch.device) -> None:
        from segstudio.training.augment import PatchSampler
        from segstudio.training.class_stats import count_labelled_pixels
        from segstudio.training.data import load_training_data
        from segstudio.training.loop import model_num_classes
        from segstudio.training.losses import build_loss, model_loss

        data = load_training_data(project, cfg.val_fraction, cfg.seed)
        n_out = model_num_classes(len(project.classes))
        counts = count_labelled_pixels((s.mask for s in data.train), len(project.classes))
        torch.manual_seed(cfg.seed)
        self.model = create_model(cfg.architecture, in_channels=data.channels,
                                  num_classes=n_out, **cfg.model).to(device)
        self.loss_fn = build_loss(cfg.loss, n_out, counts).to(device)
        self.model_loss = model_loss
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr,
                                     weight_decay=cfg.weight_decay)
        # One real batch (same sparse labels, same share of ignored pixels), kept on the device.
        xb, yb = PatchSampler(data.train, data.norm, cfg.patch, cfg.augment, 99).batch(cfg.batch)
        self.x = torch.from_numpy(xb).to(device)
        self.y = torch.from_numpy(yb).to(device)
        # Mirror the trainer's device settings (AMP and channels_last only matter on CUDA).
        self.amp = cfg.amp and device.type == "cuda"
        bf16 = self.amp and torch.cuda.is_bf16_supported()
        self.dtype = torch.bfloat16 if bf16 else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.dtype == torch.float16)
        if cfg.channels_last and device.type == "cuda":
            self.model.to(memory_format=torch.channels_last)
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.device = device
        self.model.train()

    def step(self) -> None:
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.amp):
            loss = self.model_loss(self.model, self.model(self.x, return_all=True), self.y,
                                   self.loss_fn)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()


def trainer_vs_bare(project, s: Setup, device: torch.device, threads: int,
                    pipelined: bool | None = None) -> dict:
    from segstudio.training.events import IterationReport, RunStarted
    from segstudio.training.loop import TrainControl, is_pipelined, train

    iters = s.warmup + s.rounds * s.per_round + 1
    cfg = train_config(s, iters, threads, device.type, pipelined)
    clock = SamplerClock(is_pipelined(cfg, device))
    control = TrainControl()
    gen = train(project, cfg, control)
    t = time.perf_counter()
    first = next(gen)
    startup_s = time.perf_counter() - t
    if not isinstance(first, RunStarted):
        raise RuntimeError(f"trainer did not start: {first}")
    bare = BareLoop(project, cfg, device)

    def trainer_iters(n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            ev = next(gen)
            if not isinstance(ev, IterationReport):
                raise RuntimeError(f"unexpected event {ev}")
        sync(device)
        return time.perf_counter() - t0

    def bare_iters(n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            bare.step()
        sync(device)
        return time.perf_counter() - t0

    warm_tr = trainer_iters(s.warmup)
    warm_bare = bare_iters(s.warmup)
    clock.reset()
    tr, br = [], []
    for _ in range(s.rounds):  # alternate: one trainer iteration, one bare step, ...
        tr.append(trainer_iters(s.per_round))
        br.append(bare_iters(s.per_round))
    sampler_s = clock.seconds / max(clock.calls, 1)
    clock.close()
    # The rest of the run (its last iteration and validation) is not measured.
    gen.close()
    n = s.rounds * s.per_round * s.batch
    trainer_ips, bare_ips = n / sum(tr), n / sum(br)
    nw = s.warmup * s.batch
    return {
        "setup": s.name, "threads": threads,
        "trainer_images_per_s": trainer_ips, "bare_images_per_s": bare_ips,
        # Throughput over all measured rounds (sensitive to load bursts from other processes).
        "trainer_over_bare_total": trainer_ips / bare_ips,
        # The headline: ratio of the fastest quarter of the iterations of each side. Other
        # processes on a shared machine only ever slow an iteration down (by up to 3x here),
        # while the trainer's own overhead is paid on every iteration, so the lower envelope
        # measures that overhead and not the load. Median and best beside it.
        "trainer_over_bare": low_mean(br) / low_mean(tr),
        "trainer_over_bare_median": median(br) / median(tr),
        "trainer_over_bare_best": min(br) / min(tr),
        "round_ratios": [b / t for t, b in zip(tr, br, strict=False)],
        "incl_warmup_trainer_over_bare": ((n + nw) / (sum(tr) + warm_tr))
                                         / ((n + nw) / (sum(br) + warm_bare)),
        "sampler_ms_per_batch": 1000 * sampler_s,
        "sampler_share": sampler_s * s.rounds * s.per_round / sum(tr),
        "ms_per_iteration_trainer": 1000 * sum(tr) / (s.rounds * s.per_round),
        "ms_per_iteration_bare": 1000 * sum(br) / (s.rounds * s.per_round),
        "startup_s": startup_s,
    }


# --------------------------------------------------------------------------- window vs headless

class Heartbeat:
    """A 5 ms GUI timer; the largest gap between its ticks is how long the window froze
    (as in tests/ui/test_training_ui.py)."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self.at: list[float] = []
        self.last = 0.0
        self.timer = QTimer(interval=5)
        self.timer.timeout.connect(self.tick)

    def start(self) -> None:
        self.last = time.perf_counter()
        self.timer.start()

    def tick(self) -> None:
        t = time.perf_counter()
        self.gaps.append(t - self.last)
        self.at.append(t)
        self.last = t

    def stop(self) -> None:
        self.timer.stop()

    def max_ms(self, since: float = 0.0, until: float = float("inf")) -> float:
        g = [g for g, t in zip(self.gaps, self.at, strict=False) if since <= t <= until]
        return 1000 * max(g) if g else 0.0


def steady_rate(times: list[float], batch: int, warmup: int) -> float:
    """Images/s between the end of iteration ``warmup`` and the last iteration."""
    if len(times) < warmup + 2:
        return float("nan")
    return batch * (len(times) - 1 - warmup) / (times[-1] - times[warmup])


def low_rate(times: list[float], batch: int, warmup: int) -> float:
    """batch / the mean of the fastest quarter of the intervals between iterations after
    ``warmup`` (the lower envelope: robust to load from other processes, see trainer_vs_bare)."""
    gaps = [b - a for a, b in zip(times[warmup:], times[warmup + 1:], strict=False)]
    return batch / low_mean(gaps) if gaps else float("nan")


def headless_run(project, cfg, warmup: int) -> dict:
    from segstudio.training.events import IterationReport, RunFinished
    from segstudio.training.loop import train

    times, fin = [], None
    for ev in train(project, cfg):
        if isinstance(ev, IterationReport):
            times.append(time.perf_counter())
        elif isinstance(ev, RunFinished):
            fin = ev
    if fin is None or fin.reason != "completed":
        raise RuntimeError(f"headless run did not complete: {fin}")
    return {"images_per_s": steady_rate(times, cfg.batch, warmup),
            "images_per_s_low": low_rate(times, cfg.batch, warmup),
            "iterations": len(times)}


class Window:
    def __init__(self, project) -> None:
        from PySide6.QtCore import QStandardPaths

        QStandardPaths.setTestModeEnabled(True)  # leave the user's settings alone
        from segstudio.ui.app import create_app
        from segstudio.ui.main_window import MainWindow
        from segstudio.ui.preload import wait_preloaded

        self.app = create_app()
        self.w = MainWindow()
        self.w.resize(1300, 900)
        self.w.show()
        self.w.set_project(project)
        if not wait_preloaded(180):
            raise RuntimeError("torch preload did not finish")
        self.spin(0.5)  # first paint of every dock happens before any measurement

    def spin(self, seconds: float) -> None:
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    def run(self, cfg, warmup: int, timeout_s: float = 1800) -> dict:
        from PySide6.QtCore import QEventLoop, QTimer

        tr = self.w.training
        times: list[float] = []
        finished = []
        loop = QEventLoop()

        def on_iteration(ev) -> None:
            times.append(time.perf_counter())

        def on_finished(ev) -> None:
            finished.append(ev)

        def on_running(running: bool) -> None:
            if not running:
                loop.quit()

        tr.iteration.connect(on_iteration)
        tr.run_finished.connect(on_finished)
        tr.running_changed.connect(on_running)
        beat = Heartbeat()
        beat.start()
        t0 = time.perf_counter()
        cpu0 = time.thread_time()  # CPU time of this (the GUI) thread
        try:
            if not self.w.coordinator.start(cfg):
                raise RuntimeError("the window did not start training")
            QTimer.singleShot(int(timeout_s * 1000), loop.quit)
            loop.exec()
        finally:
            gui_cpu = time.thread_time() - cpu0
            wall = time.perf_counter() - t0
            beat.stop()
            tr.iteration.disconnect(on_iteration)
            tr.run_finished.disconnect(on_finished)
            tr.running_changed.disconnect(on_running)
        if not finished or finished[0].reason != "completed":
            raise RuntimeError(f"window run did not complete: {finished}")
        self.spin(0.3)
        steady_from = times[warmup] if len(times) > warmup else t0

        def phase(t: float) -> str:
            if not times or t <= times[0]:
                return "start"  # start_training, data + model, first iteration
            return "iterations" if t <= times[-1] else "end"  # validation, checkpoints

        worst = sorted(zip(beat.gaps, beat.at, strict=False), reverse=True)[:3]
        return {"images_per_s": steady_rate(times, cfg.batch, warmup),
                "images_per_s_low": low_rate(times, cfg.batch, warmup),
                "iterations": len(times),
                "max_stall_ms": beat.max_ms(),
                "max_stall_ms_steady": beat.max_ms(steady_from, times[-1] if times else t0),
                "gui_thread_cpu_share": gui_cpu / wall,
                "worst_stalls": [(round(1000 * g), phase(t), round(t - t0, 2)) for g, t in worst],
                "ticks": len(beat.gaps)}

    def interleaved(self, project, s: Setup, threads: int, device: torch.device, phases: int,
                    per_phase: int, switch_interval: float | None = None) -> dict:
        """One window run and one headless generator, same config and thread count, taking
        turns: the window trains ``per_phase`` (+1) iterations with its dashboard live, is
        paused (TrainControl, between batches), then the headless generator runs as many on
        this thread, and so on. A change of machine load then hits both sides alike; sequential
        runs on this shared machine differed by up to 4x within minutes.

        The window's worker is parked through the controller's ``fault_hook`` (called in the
        worker before each forward pass): a closed gate makes it wait there, so exactly the
        iterations of a window phase run and none spills into a headless phase."""
        import threading

        from PySide6.QtCore import QEventLoop, QTimer

        from segstudio.training.events import IterationReport, RunStarted
        from segstudio.training.loop import train

        tr = self.w.training
        arrivals: list[float] = []
        wait = {"n": None, "loop": None}
        gate, parked = threading.Event(), threading.Event()
        gate.set()

        def hook(step: int) -> None:  # in the worker thread, before each forward pass
            if not gate.is_set():
                parked.set()
                gate.wait()

        def on_iteration(ev) -> None:
            arrivals.append(time.perf_counter())
            if wait["n"] is not None and len(arrivals) >= wait["n"]:
                gate.clear()
                wait["loop"].quit()

        def wait_for(n: int, timeout_s: float) -> bool:
            if len(arrivals) >= n:
                return True
            loop = QEventLoop()
            wait.update(n=n, loop=loop)
            QTimer.singleShot(int(timeout_s * 1000), loop.quit)
            loop.exec()
            wait["n"] = None
            return len(arrivals) >= n

        huge = 10 ** 6
        cfg_g = train_config(s, huge, threads, device.type)
        cfg_h = train_config(s, huge, threads, device.type)
        tr.iteration.connect(on_iteration)
        beat = Heartbeat()
        w_int: list[float] = []
        h_int: list[float] = []
        stall = 0.0
        cpu = wall = 0.0
        gen = None
        tr.fault_hook = hook
        try:
            if not self.w.coordinator.start(cfg_g):
                raise RuntimeError("the window did not start training")
            if switch_interval is not None:  # override the controller's 1 ms (prototype)
                sys.setswitchinterval(switch_interval)
            if not wait_for(s.warmup, 600) or not parked.wait(600):
                raise RuntimeError("the window run did not iterate")
            gen = train(project, cfg_h)
            if not isinstance(next(gen), RunStarted):
                raise RuntimeError("headless run did not start")
            for _ in range(s.warmup):
                next(gen)
            for _ in range(phases):
                base = len(arrivals)
                beat.start()
                t0, c0 = time.perf_counter(), time.thread_time()
                parked.clear()
                gate.set()
                ok = wait_for(base + per_phase + 1, 600) and parked.wait(600)
                wall += time.perf_counter() - t0
                cpu += time.thread_time() - c0
                beat.stop()
                stall = max(stall, beat.max_ms())
                beat.gaps.clear()
                beat.at.clear()
                if not ok:
                    raise RuntimeError("the window run stalled")
                # Intervals between this phase's arrivals: the first iteration after the gate
                # opened (its batch was cut before parking) only starts the clock.
                seg = arrivals[base:]
                w_int += [b - a for a, b in zip(seg, seg[1:], strict=False)]
                for _ in range(per_phase):
                    t = time.perf_counter()
                    if not isinstance(next(gen), IterationReport):
                        raise RuntimeError("headless run ended early")
                    h_int.append(time.perf_counter() - t)
        finally:
            tr.iteration.disconnect(on_iteration)
            if gen is not None:
                gen.close()
            tr.stop()
            gate.set()
            tr.fault_hook = None
            if tr.running:
                done = QEventLoop()
                tr.running_changed.connect(done.quit)
                QTimer.singleShot(120000, done.quit)
                if tr.running:
                    done.exec()
                tr.running_changed.disconnect(done.quit)
            self.spin(0.3)
        b = s.batch
        return {"threads_headless": threads, "threads_window": threads,
                "headless_images_per_s": b / low_mean(h_int),
                "window_images_per_s": b / low_mean(w_int),
                "ratio": low_mean(h_int) / low_mean(w_int),
                "ratio_throughput": sum(h_int) / len(h_int) / (sum(w_int) / len(w_int)),
                "ratio_median": median(h_int) / median(w_int),
                "intervals": min(len(h_int), len(w_int)),
                "max_stall_ms": stall, "gui_thread_cpu_share": cpu / max(wall, 1e-9)}

    def idle(self, seconds: float) -> float:
        """Longest heartbeat gap with the window idle: the floor set by the machine's load."""
        beat = Heartbeat()
        beat.start()
        self.spin(seconds)
        beat.stop()
        return beat.max_ms()

    def close(self) -> None:
        self.w.training.stop()
        self.w.training.wait()
        self.w.close()
        self.spin(0.2)


def dashboard_vs_headless(project, s: Setup, device: torch.device, quick: bool) -> dict:
    """Window and headless alternate every few iterations in one process (see
    Window.interleaved), at equal thread counts; then one whole window run (start, iterations,
    validation, checkpoints) for the longest freeze, and the idle window as the floor."""
    from segstudio.inference.devices import cpu_threads_for_training

    # The window trains on all cores at a lower OS priority (the default); one core left to
    # the GUI was the default before (issue 16: choose by these figures).
    gui_default = cpu_threads_for_training()
    one_left = cpu_threads_for_training(True)
    phases, per_phase = (4, 3) if quick else (12, 2)
    win = Window(project)
    pairs = [("equal, window's default (all cores, niced)", gui_default, None)]
    if one_left != gui_default:
        pairs.append(("equal, one core left to the window", one_left, None))
    if not quick:
        # Prototype: the GIL switch interval Python has by default (5 ms) instead of the 1 ms
        # the controller sets while training, to see what the shorter interval costs.
        pairs.append(("equal, window's default, 5 ms GIL switch interval", gui_default, 0.005))
    rows: dict[str, dict] = {}
    idle = [win.idle(3 if quick else 10)]  # the same heartbeat, nothing training
    try:
        for label, th, si in pairs:
            r = win.interleaved(project, s, th, device, phases, per_phase, si)
            rows[label] = r
            log(f"  [{label}, {th} thread(s)] headless {r['headless_images_per_s']:.2f} img/s, "
                f"window {r['window_images_per_s']:.2f} img/s (fastest quarter of "
                f"{r['intervals']} iterations each); ratio {r['ratio']:.3f}, of throughput "
                f"{r['ratio_throughput']:.3f}, of medians {r['ratio_median']:.3f}; max stall "
                f"{r['max_stall_ms']:.0f} ms; GUI thread CPU {r['gui_thread_cpu_share']:.1%}")
        whole = win.run(train_config(s, s.warmup + (10 if quick else 8), gui_default,
                                     device.type), s.warmup)
        log(f"  whole window run ({gui_default} thread(s), start to finish incl. validation and "
            f"checkpoints): max stall {whole['max_stall_ms']:.0f} ms; worst (ms, phase, s after "
            f"start): {whole['worst_stalls']}")
        idle.append(win.idle(3 if quick else 10))
    finally:
        win.close()
    log("  window idle (no training), longest heartbeat gap: "
        + ", ".join(f"{v:.0f}" for v in idle) + " ms")
    out = {"setup": s.name, "rows": rows, "whole_run": whole, "idle_max_stall_ms": max(idle)}
    if len(pairs) > 1:
        # The old default against the new: the window on all-but-one core against the window
        # on all cores, niced (the same measurements as the two rows above, paired).
        new, old = rows[pairs[0][0]], rows[pairs[1][0]]
        rows["window: one core left (before) vs all cores niced (now)"] = {
            "threads_before": one_left, "threads_now": gui_default,
            "window_images_per_s_before": old["window_images_per_s"],
            "window_images_per_s": new["window_images_per_s"],
            "ratio": new["window_images_per_s"] / old["window_images_per_s"],
            "ratio_throughput": None, "ratio_median": None,
            "max_stall_ms": new["max_stall_ms"], "max_stall_ms_before": old["max_stall_ms"],
            "gui_thread_cpu_share": new["gui_thread_cpu_share"]}
    return out


# --------------------------------------------------------------------------- U-Net++ vs smp

def train_step_seconds(model: torch.nn.Module, x: torch.Tensor, ours: bool, reps: int,
                       device: torch.device) -> float:
    model.train()

    def step() -> None:
        out = model(x, return_all=True).heads if ours else [model(x)]
        loss = sum(o.float().mean() for o in out)
        model.zero_grad(set_to_none=True)
        loss.backward()

    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        step()
        sync(device)
        ts.append(time.perf_counter() - t)
    return low_mean(ts)


@torch.no_grad()
def forward_seconds(model, x, reps: int, device: torch.device, **kw) -> float:
    model.eval()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        model(x, **kw)
        sync(device)
        ts.append(time.perf_counter() - t)
    return low_mean(ts)


def unetpp_vs_smp(device: torch.device, quick: bool) -> dict:
    try:
        import segmentation_models_pytorch as smp
    except Exception as exc:  # noqa: BLE001 - torchvision missing or broken is the usual cause
        return {"skipped": f"segmentation_models_pytorch does not import here "
                           f"({type(exc).__name__}: {str(exc)[:120]})"}
    B, S = (1, 128) if quick else (1, 256)
    reps = 3 if quick else 8
    shape = (B, 1, S, S)
    ours = create_model("unetpp", in_channels=1, num_classes=1,
                        filters=[32, 64, 128, 256, 512], deep_supervision=True)
    candidates = {
        # Plain 3x3 conv stacks with a full-resolution first stage, as ours: the closest match.
        "smp vgg11_bn": dict(encoder_name="vgg11_bn", encoder_depth=4,
                             decoder_channels=(256, 128, 64, 32)),
        # The usual smp choice: a ResNet stem (stride-2 7x7 + pool), fewer full-res pixels.
        "smp resnet18": dict(encoder_name="resnet18", encoder_depth=4,
                             decoder_channels=(256, 128, 64, 32)),
    }
    models = {"ours (filters 32..512, BN, bilinear, 4 DS heads)": (ours, True)}
    notes = []
    for label, kw in candidates.items():
        try:
            m = smp.UnetPlusPlus(encoder_weights=None, in_channels=1, classes=1, **kw)
            models[label] = (m, False)
        except Exception as exc:  # noqa: BLE001 - an encoder this smp version lacks
            notes.append(f"{label}: {type(exc).__name__}: {str(exc)[:100]}")
    rows = {}
    x = torch.randn(shape, device=device)
    for label, (m, is_ours) in models.items():
        m.to(device)
        rows[label] = {"params_m": count_parameters(m) / 1e6,
                       "gmacs_forward": count_flops(m, shape) / 1e9, "train_s": [], "fwd_s": []}
        train_step_seconds(m, x, is_ours, 1, device)  # warm-up
        forward_seconds(m, x, 1, device)
    # Interleaved: one step of each model in turn, so load from other processes hits all; each
    # model's figure is the mean of its fastest quarter of steps (see low_mean).
    for _ in range(reps):
        for label, (m, is_ours) in models.items():
            rows[label]["train_s"].append(train_step_seconds(m, x, is_ours, 1, device))
            rows[label]["fwd_s"].append(forward_seconds(m, x, 1, device))
    for r in rows.values():
        r["train_ms"] = 1000 * low_mean(r.pop("train_s"))
        r["forward_ms"] = 1000 * low_mean(r.pop("fwd_s"))
        r["train_gflops_per_s"] = 2 * 3 * r["gmacs_forward"] / (r["train_ms"] / 1000)
        r["forward_gflops_per_s"] = 2 * r["gmacs_forward"] / (r["forward_ms"] / 1000)
    our_key = next(iter(rows))
    smp_keys = [k for k in rows if k != our_key]
    ref = smp_keys[0] if smp_keys else None
    return {"input": list(shape), "torch": torch.__version__, "smp": smp.__version__,
            "rows": rows, "notes": notes, "reference": ref,
            "unetpp_gflops_over_smp": (rows[our_key]["train_gflops_per_s"]
                                       / rows[ref]["train_gflops_per_s"]) if ref else None}


# --------------------------------------------------------------------------- depth

def unetpp_depths(device: torch.device, quick: bool) -> dict:
    model = paper_model("unetpp").to(device).eval()
    S = 256 if quick else 512
    reps = 3 if quick else 8
    x = torch.randn(1, 1, S, S, device=device)
    rows = {}
    times = {d: [] for d in model.depths}
    for d in model.depths:
        forward_seconds(model, x, 1, device, depth=d)  # warm-up
    for _ in range(reps):  # interleave the depths, so load affects all alike
        for d in model.depths:
            times[d].append(forward_seconds(model, x, 1, device, depth=d))
    for d in model.depths:
        rows[d] = {"ms": 1000 * low_mean(times[d]), "ms_median": 1000 * median(times[d]),
                   "gmacs": count_flops(model, (1, 1, S, S), depth=d) / 1e9,
                   "params_m": count_parameters(model, depth=d) / 1e6}
    lo, hi = min(rows), max(rows)
    return {"input": [1, 1, S, S], "rows": rows,
            "l4_over_l1_time": rows[hi]["ms"] / rows[lo]["ms"],
            "l4_over_l1_macs": rows[hi]["gmacs"] / rows[lo]["gmacs"]}


# --------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI-sized run (about a minute)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--parts", default=",".join(PARTS),
                    help=f"comma-separated subset of {','.join(PARTS)}")
    args = ap.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown part(s) {', '.join(sorted(unknown))}")
    device = pick_device(args.device)
    threads = os.cpu_count() or 1
    dev_name = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"CPU ({threads} cores: {platform.processor() or platform.machine()})")
    log(f"train_speed: {'quick' if args.quick else 'full'} mode on {dev_name}, "
        f"torch {torch.__version__}, python {platform.python_version()}")
    result: dict = {"mode": "quick" if args.quick else "full", "device": dev_name,
                    "torch": torch.__version__, "loadavg_start": round(os.getloadavg()[0], 2)}
    t_start = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="train_speed_") as tmp:
        project = None
        if {"trainer", "prefetch", "dashboard"} & set(parts):
            project = make_project(Path(tmp), args.quick)

        if "trainer" in parts:
            log("\n== trainer vs bare loop (same model/batch/patch/threads, interleaved) ==")
            log("ratio: of the fastest quarter of iteration times (headline); thru: of total "
                "throughput; med/best: of the median/fastest iteration; incl.w-u: throughput "
                "with the warm-up iterations")
            log(f"{'setup':32s} {'thr':>3s} {'trainer img/s':>13s} {'bare img/s':>10s} "
                f"{'ratio':>6s} {'thru':>6s} {'med':>6s} {'best':>6s} {'incl.w-u':>8s} "
                f"{'sampler ms/batch':>16s} {'share':>6s}")
            res = []
            for s in setups(args.quick):
                r = trainer_vs_bare(project, s, device, threads)
                res.append(r)
                log(f"{s.name:32s} {threads:3d} {r['trainer_images_per_s']:13.2f} "
                    f"{r['bare_images_per_s']:10.2f} {r['trainer_over_bare']:6.3f} "
                    f"{r['trainer_over_bare_total']:6.3f} {r['trainer_over_bare_median']:6.3f} "
                    f"{r['trainer_over_bare_best']:6.3f} "
                    f"{r['incl_warmup_trainer_over_bare']:8.3f} "
                    f"{r['sampler_ms_per_batch']:16.1f} {r['sampler_share']:6.1%}")
                log(f"{'':32s} paired-round ratios "
                    + " ".join(f"{v:.2f}" for v in r["round_ratios"])
                    + f"; startup (data + model) {r['startup_s']:.1f} s")
            result["trainer"] = res
            result["trainer_over_bare"] = min(r["trainer_over_bare"] for r in res)

        if "prefetch" in parts:
            log("\n== pipelined loop (batches cut ahead in a thread, losses read in groups; "
                "what GPUs get) against the plain loop, forced on this device ==")
            base = setups(args.quick)[0]
            s = Setup(base.name, base.arch, base.model, base.patch, base.batch, 2, 1,
                      6 if args.quick else 10)
            runs: dict[str, list] = {"plain": [], "pipelined": []}
            for _ in range(2):  # A B A B
                runs["plain"].append(trainer_vs_bare(project, s, device, 1, False))
                runs["pipelined"].append(trainer_vs_bare(project, s, device, 1, True))
            log(f"setup {s.name}, 1 torch thread (the other core is free for the producer)")
            # Throughput over all rounds: a pipelined run reports its steps in bursts (losses
            # are read ~10 times a second), so one round's time is not its own steps' time.
            log(f"{'loop':28s} {'loop waits for a batch, ms':>26s} {'trainer/bare (thru)':>19s}")
            pf = {}
            for label, rs in runs.items():
                wait = sum(r["sampler_ms_per_batch"] for r in rs) / len(rs)
                ratio = sum(r["trainer_over_bare_total"] for r in rs) / len(rs)
                pf[label] = {"wait_ms_per_batch": wait, "trainer_over_bare": ratio}
                log(f"{label:28s} {wait:26.2f} {ratio:19.3f}")
            result["pipelined"] = {"setup": s.name, "threads": 1, "rows": pf}

        if "dashboard" in parts:
            log("\n== window with live dashboard vs headless (same config, alternating runs) ==")
            try:
                import PySide6  # noqa: F401
                s = setups(args.quick)[0]
                d = dashboard_vs_headless(project, s, device, args.quick)
            except ImportError as exc:
                d = {"skipped": f"PySide6 missing: {exc}"}
            if "skipped" in d:
                log(f"skipped: {d['skipped']}")
                result["dashboard_over_headless"] = None
                result["max_stall_ms"] = None
            else:
                log(f"setup: {d['setup']}")
                log("img/s: batch / mean of the fastest quarter of the iteration times; thru: "
                    "ratio of mean iteration times; med: of medians; stall: longest GUI "
                    "heartbeat gap while the window trained")
                log(f"{'threads (headless/window)':60s} {'headless':>9s} {'window':>8s} "
                    f"{'ratio':>6s} {'thru':>6s} {'med':>6s} {'stall ms':>8s}")
                for label, r in d["rows"].items():
                    if "threads_headless" not in r:  # the before / now comparison
                        log(f"{label}: window {r['window_images_per_s_before']:.2f} -> "
                            f"{r['window_images_per_s']:.2f} img/s ({r['ratio']:.3f}x); max "
                            f"stall {r['max_stall_ms_before']:.0f} -> {r['max_stall_ms']:.0f} ms")
                        continue
                    th = f"{label} {r['threads_headless']}/{r['threads_window']}"
                    log(f"{th:60s} {r['headless_images_per_s']:9.2f} "
                        f"{r['window_images_per_s']:8.2f} {r['ratio']:6.3f} "
                        f"{_f(r['ratio_throughput'], 6, 3)} {_f(r['ratio_median'], 6, 3)} "
                        f"{r['max_stall_ms']:8.0f}")
                log(f"whole window run: max stall {d['whole_run']['max_stall_ms']:.0f} ms; idle "
                    f"window: {d['idle_max_stall_ms']:.0f} ms")
                rows = list(d["rows"].values())
                result["dashboard"] = d
                # Headline: equal threads, at the count the window trains with by default.
                result["dashboard_over_headless"] = rows[0]["ratio"]
                # The longest freeze of a whole window run (start, iterations, validation,
                # checkpoints) and of the interleaved iterations at the window's thread count.
                result["max_stall_ms"] = max(rows[0]["max_stall_ms"],
                                             d["whole_run"]["max_stall_ms"])
                result["idle_max_stall_ms"] = d["idle_max_stall_ms"]
                if len(rows) > 1:
                    result["dashboard_over_headless_one_core_left"] = rows[1]["ratio"]
                    result["max_stall_ms_one_core_left"] = rows[1]["max_stall_ms"]
                    result["window_all_cores_over_one_left"] = d["rows"][
                        "window: one core left (before) vs all cores niced (now)"]["ratio"]

        if "smp" in parts:
            log("\n== U-Net++: ours vs segmentation_models_pytorch (achieved GFLOP/s) ==")
            sm = unetpp_vs_smp(device, args.quick)
            if "skipped" in sm:
                log(f"skipped: {sm['skipped']}.\n  To run it: python3 -m venv /tmp/smpvenv && "
                    "/tmp/smpvenv/bin/pip install torch torchvision segmentation-models-pytorch "
                    "numpy safetensors && /tmp/smpvenv/bin/pip install --no-deps -e . && "
                    "/tmp/smpvenv/bin/python benchmarks/train_speed.py --parts smp,depth")
                result["unetpp_gflops_over_smp"] = None
            else:
                log(f"input {sm['input']}, torch {sm['torch']}, smp {sm['smp']}; "
                    "GFLOP/s = 2 x MACs x (3 for a training step | 1 for inference) / time")
                log(f"{'model':50s} {'M params':>8s} {'GMACs fwd':>9s} {'train ms':>9s} "
                    f"{'train GFLOP/s':>13s} {'fwd ms':>8s} {'fwd GFLOP/s':>11s}")
                for label, r in sm["rows"].items():
                    log(f"{label:50s} {r['params_m']:8.2f} {r['gmacs_forward']:9.2f} "
                        f"{r['train_ms']:9.1f} {r['train_gflops_per_s']:13.1f} "
                        f"{r['forward_ms']:8.1f} {r['forward_gflops_per_s']:11.1f}")
                for n in sm["notes"]:
                    log(f"note: {n}")
                result["smp"] = sm
                result["unetpp_gflops_over_smp"] = sm["unetpp_gflops_over_smp"]
                log(f"ours / {sm['reference']}: {sm['unetpp_gflops_over_smp']:.3f}")

        if "depth" in parts:
            log("\n== U-Net++ (paper config) inference per pruned depth, batch 1, 1 channel ==")
            dp = unetpp_depths(device, args.quick)
            log(f"input {dp['input']}")
            log("ms: mean of the fastest quarter of the runs (depths interleaved); median beside")
            log(f"{'depth':>5s} {'M params':>8s} {'GMACs':>7s} {'ms':>8s} {'median':>8s} "
                f"{'GMAC/s':>7s}")
            for d, r in dp["rows"].items():
                log(f"{'L' + str(d):>5s} {r['params_m']:8.2f} {r['gmacs']:7.2f} {r['ms']:8.1f} "
                    f"{r['ms_median']:8.1f} {r['gmacs'] / r['ms'] * 1000:7.1f}")
            log(f"L4/L1 time {dp['l4_over_l1_time']:.2f} (MACs {dp['l4_over_l1_macs']:.2f})")
            result["depths"] = {str(k): v for k, v in dp["rows"].items()}
            result["l4_over_l1_time"] = dp["l4_over_l1_time"]
            result["l4_over_l1_macs"] = dp["l4_over_l1_macs"]

    for key in ("trainer_over_bare", "dashboard_over_headless", "unetpp_gflops_over_smp",
                "l4_over_l1_time", "max_stall_ms"):
        result.setdefault(key, None)
    result["seconds"] = time.perf_counter() - t_start
    result["loadavg_end"] = round(os.getloadavg()[0], 2)
    log(f"\ntotal {result['seconds']:.0f} s")
    print(json.dumps(rounded(result), default=str))


if __name__ == "__main__":
    main()
