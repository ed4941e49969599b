"""A main window on a project with a training form small enough to train in seconds here."""

from __future__ import annotations

from segstudio.ui.main_window import MainWindow


def open_window(qtbot, project=None) -> MainWindow:
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1300, 900)
    w.show()
    if project is not None:
        w.set_project(project)
    return w


def tiny_form(window: MainWindow, *, levels: int = 3, batch: int = 4, epochs: int = 3) -> None:
    p = window.training_panel
    p.base_width.setValue(4)
    p.levels.setValue(levels)
    p.patch.setValue(64)
    p.batch.setValue(batch)
    p.epochs.setValue(epochs)


def train_tiny_demo(root, n_images: int = 3, size: int = 96, labelled: int = 2,
                    task: str = "semantic", levels: int = 3):
    """A demo project with a model trained in about a second: (project root, best
    checkpoint)."""
    from segstudio.project.demo import generate_demo
    from segstudio.training.config import TrainConfig
    from segstudio.training.loop import train

    project = generate_demo(root, n_images=n_images, size=size, labelled=labelled, task=task)
    cfg = TrainConfig(model={"base_width": 4, "levels": levels}, patch=64, batch=4, epochs=2,
                      iterations_per_epoch=4)
    events = list(train(project, cfg))
    assert events[-1].reason == "completed", events[-1].message
    return project.root, events[-1].best_checkpoint


def open_project_window(qtbot, root) -> MainWindow:
    """A shown main window with the project at ``root`` open and its first image shown."""
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.image_shown, timeout=10000):
        assert w.open_path(root)
    return w
