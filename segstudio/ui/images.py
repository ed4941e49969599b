"""Images in the window: loading the chosen image and its mask into the canvas (in the
background, newest request wins), marking unreadable files, adding and removing images, and
showing masks again after they changed on disk."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from segstudio.project.labels import load_labels
from segstudio.ui import dialogs
from segstudio.ui.loaders import ImageLoader, LoadedDocument
from segstudio.ui.preferences import max_image_pixels

if TYPE_CHECKING:
    from segstudio.project.project import Project
    from segstudio.ui.main_window import MainWindow


class ImageController(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.loader = ImageLoader(max_pixels=max_image_pixels(), parent=self)
        self.loader.loaded.connect(self._on_image_loaded)
        self.loader.failed.connect(self._on_image_failed)
        # Loss weights shown in the panel follow the labels, a moment after the last save.
        self._weights_timer = QTimer(self, singleShot=True, interval=1500)
        self._weights_timer.timeout.connect(window.training_panel.refresh_weights)
        window.image_list.image_selected.connect(self.show_image)
        window.canvas.mask_saved.connect(self._on_mask_saved)

    def show_image(self, image_id: str) -> None:
        if self.window.session is None:
            return
        project = self.window.session.project
        try:
            entry = project.entry(image_id)
        except KeyError:
            return
        self.window.session.current_image_id = image_id
        self.window.statusBar().showMessage(f"Loading {image_id}…")
        self.loader.request(image_id, project.image_path(entry),
                            lambda shape: load_labels(project, entry, shape))

    def _on_image_loaded(self, doc: LoadedDocument) -> None:
        s = self.window.session
        if s is None or doc.image_id != s.current_image_id:
            return
        self.window.canvas.show_image(s.project.entry(doc.image_id), doc.image, doc.mask,
                                      next_object_id=doc.next_object_id)
        self.window.canvas.view.setFocus()  # number keys, B/E/F/P and [ ] act on the canvas at once
        s.show(doc.image_id, doc.image)
        self.window.predictions.show_layer()
        self.window.update_actions()
        h, w = doc.image.shape[:2]
        note = f" — {doc.note}" if doc.note else ""
        self.window.statusBar().showMessage(f"{doc.image_id}: {w} x {h}{note}", 5000)
        if self.window.message_bar.level == "error":
            self.window.message_bar.dismiss()
        if doc.note:
            self.window.message_bar.show_message(f"{doc.image_id}: {doc.note}.", "info")
        self.window.image_shown.emit(doc.image_id)

    def _on_image_failed(self, image_id: str, message: str) -> None:
        self.window.image_list.list_model.mark_error(image_id, message)
        if self.window.session is not None and image_id == self.window.session.current_image_id:
            self.window.canvas.clear()
            self.window.session.show(image_id, None)
            self.window.update_actions()
        self.window.show_error(message)

    def _on_mask_saved(self, image_id: str, _fraction: float) -> None:
        self.window.image_list.list_model.image_changed(image_id)
        self.window.schedule_project_save()
        self._weights_timer.start()

    def add_images(self, paths: list[Path]) -> int:
        if self.window.session is None:
            return 0
        added = self.window.session.project.add_images(dialogs.image_files(paths))
        if added:
            self.window.image_list.list_model.refresh()
            self.window.save_project_file()
            self.window.image_list.select_image(self.window.current_image_id or added[0].id)
            self.window.statusBar().showMessage(f"Added {len(added)} image(s).", 4000)
        else:
            self.window.statusBar().showMessage("No new images to add.", 4000)
        return len(added)

    def remove_current(self) -> bool:
        """Take the shown image out of the project (its file stays; its mask is kept on disk
        until the image is added again)."""
        s = self.window.session
        if s is None or s.current_image_id is None:
            return False
        image_id = s.current_image_id
        if not self.window.confirm("Remove image", f"Remove '{image_id}' from the project? "
                                   "The image file is not deleted; its mask stays in masks/."):
            return False
        self.window.canvas.flush_saves()
        index = s.project.index_of(image_id)
        s.project.remove_image(image_id)
        s.forget_image(image_id)
        self.window.canvas.clear()
        self.window.image_list.list_model.refresh()
        self.window.save_project_file()
        if s.project.images:
            images = s.project.images
            self.window.image_list.select_image(images[min(index, len(images) - 1)].id)
        self.window.update_actions()
        return True

    def reload_masks(self) -> None:
        """Masks changed on disk (import, class deletion): show them fresh."""
        self.window.class_panel.reload()
        self.window.canvas.set_project(self.window.project)
        self.window.image_list.list_model.refresh()
        self.window.training_panel.refresh_weights()
        if self.window.current_image_id:
            self.window.image_list.select_image(self.window.current_image_id)
            self.show_image(self.window.current_image_id)


def first_readable(project: Project) -> str:
    """The first image whose header reads (a new folder used to open on its unreadable image):
    headers only, stopping at the first good one; the first image if none reads."""
    from segstudio.io.images import read_image_size

    for entry in project.images:
        path = project.image_path(entry)
        if read_image_size(path) is not None:  # opens regular files only, never a FIFO
            return entry.id
    return project.images[0].id
