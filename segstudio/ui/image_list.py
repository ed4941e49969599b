"""The image list: thumbnails (decoded lazily in a worker), names, split and label progress
(in instance projects with the number of objects: "12 objects · 35 % labelled").

Thumbnails are requested only when the view asks to paint a row, so a project of thousands of
images opens at once. Images that cannot be read get an error badge and their message as
tool tip; the rest of the project works as usual.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from segstudio.project.project import ImageEntry, Project
from segstudio.ui.loaders import ThumbnailLoader

THUMB = 56
ImageIdRole = Qt.ItemDataRole.UserRole + 1
LabelledRole = Qt.ItemDataRole.UserRole + 2
ErrorRole = Qt.ItemDataRole.UserRole + 3
SplitRole = Qt.ItemDataRole.UserRole + 4
SubtitleRole = Qt.ItemDataRole.UserRole + 5  # the line under the name


def subtitle(labelled: float, split: str, objects: int | None = None) -> str:
    """"35 % labelled · val", or in an instance project "12 objects · 35 % labelled"."""
    text = f"{_pct(labelled)} labelled" + ("" if split == "auto" else f" · {split}")
    if objects is None:
        return text
    return f"{objects} object{'' if objects == 1 else 's'} · {text}"


class ImageListModel(QAbstractListModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.order: list[int] | None = None       # row -> index in project.images
        self.uncertainty: dict[str, float] = {}   # image id -> the model's uncertainty
        self._thumbs: dict[str, QPixmap] = {}
        self.errors: dict[str, str] = {}
        from segstudio.ui.preferences import max_image_pixels

        self.loader = ThumbnailLoader(THUMB, max_pixels=max_image_pixels(), parent=self)
        self.loader.thumbnail_ready.connect(self._on_thumb)
        self.loader.thumbnail_failed.connect(self._on_thumb_failed)

    def set_project(self, project: Project | None) -> None:
        self.beginResetModel()
        self.loader.cancel_all()
        self.project = project
        self.order = None
        self.uncertainty = {}
        self._thumbs.clear()
        self.errors.clear()
        self.endResetModel()

    def refresh(self) -> None:
        """Rows were added or removed in the project."""
        self.beginResetModel()
        self.order = None
        self.endResetModel()

    def set_uncertainty(self, scores: dict[str, float], order: list[str] | None) -> None:
        """Show each image's uncertainty under its name; ``order``: these ids first, in this
        order (the rest after them as in the project), None: the project's order."""
        self.uncertainty = dict(scores)
        rows: list[int] | None = None
        if order is not None and self.project is not None:
            index = {e.id: i for i, e in enumerate(self.project.images)}
            first = [index[i] for i in order if i in index]
            seen = set(first)
            rows = first + [i for i in range(len(self.project.images)) if i not in seen]
        if rows != self.order:
            self.layoutAboutToBeChanged.emit()
            old = self.persistentIndexList()
            entries = [self._entry(ix.row()) for ix in old]
            ids = [e.id if e is not None else None for e in entries]
            self.order = rows
            self.changePersistentIndexList(old, [self.index(self.row_of(i)) if i else ix
                                                 for ix, i in zip(old, ids, strict=True)])
            self.layoutChanged.emit()
        elif self.rowCount():
            self.dataChanged.emit(self.index(0), self.index(self.rowCount() - 1))

    def _entry(self, row: int) -> ImageEntry | None:
        if self.project is None or not 0 <= row < len(self.project.images):
            return None
        if self.order is not None and len(self.order) == len(self.project.images):
            return self.project.images[self.order[row]]
        return self.project.images[row]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()  # noqa: B008
                 ) -> int:
        return 0 if parent.isValid() or self.project is None else len(self.project.images)

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        e = self._entry(index.row()) if index.isValid() else None
        if e is None or self.project is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return e.id
        if role == ImageIdRole:
            return e.id
        if role == LabelledRole:
            return e.labelled
        if role == SplitRole:
            return e.split
        if role == SubtitleRole:
            text = subtitle(e.labelled, e.split,
                            e.objects if self.project.is_instances else None)
            u = self.uncertainty.get(e.id)
            # first while the list is ordered by it (a narrow list elides the line's end)
            return text if u is None or self.order is None else f"unsure {u:.0%} · {text}"
        if role == ErrorRole:
            return self.errors.get(e.id)
        if role == Qt.ItemDataRole.ToolTipRole:
            err = self.errors.get(e.id)
            path = self.project.image_path(e)
            u = self.uncertainty.get(e.id)
            unsure = "" if u is None else f"\nthe model's uncertainty over its unlabelled " \
                                          f"pixels: {u:.0%}"
            return f"{path}\n{err}" if err else f"{path}\n" + subtitle(
                e.labelled, e.split, e.objects if self.project.is_instances else None) + unsure
        if role == Qt.ItemDataRole.DecorationRole:
            pm = self._thumbs.get(e.id)
            if pm is None and e.id not in self.errors:
                self.loader.request(e.id, self.project.image_path(e))
            return pm
        return None

    def row_of(self, image_id: str) -> int:
        if self.project is None:
            return -1
        try:
            i = self.project.index_of(image_id)
        except KeyError:
            return -1
        if self.order is not None and len(self.order) == len(self.project.images):
            return self.order.index(i)
        return i

    def mark_error(self, image_id: str, message: str) -> None:
        self.errors[image_id] = message
        self._changed(image_id)

    def image_changed(self, image_id: str) -> None:
        self._changed(image_id)

    def _changed(self, image_id: str) -> None:
        row = self.row_of(image_id)
        if row >= 0:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx)

    def _on_thumb(self, image_id: str, qimg: QImage) -> None:
        self._thumbs[image_id] = QPixmap.fromImage(qimg)
        self.errors.pop(image_id, None)
        self._changed(image_id)

    def _on_thumb_failed(self, image_id: str, message: str) -> None:
        self.mark_error(image_id, message)


class ImageItemDelegate(QStyledItemDelegate):
    """Thumbnail, name, split and a thin label-progress bar; a red badge on unreadable files."""

    def sizeHint(self, option: QStyleOptionViewItem,
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(200, THUMB + 8)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        painter.save()
        r = option.rect
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(r, option.palette.highlight())
            text_color = option.palette.highlightedText().color()
        else:
            text_color = option.palette.text().color()
        thumb_rect = QRect(r.left() + 4, r.top() + 4, THUMB, THUMB)
        pm = index.data(Qt.ItemDataRole.DecorationRole)
        error = index.data(ErrorRole)
        painter.fillRect(thumb_rect, QColor(40, 40, 40))
        if pm is not None:
            s = pm.size().scaled(thumb_rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, s.width(), s.height())
            target.moveCenter(thumb_rect.center())
            painter.drawPixmap(target, pm)
        if error:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(200, 40, 40))
            badge = QRect(thumb_rect.right() - 20, thumb_rect.top() + 2, 18, 18)
            painter.drawEllipse(badge)
            painter.setPen(QColor("white"))
            f = painter.font()
            f.setBold(True)
            painter.setFont(f)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "!")
        x = thumb_rect.right() + 8
        text_rect = QRect(x, r.top() + 4, r.right() - x - 4, 20)
        f = option.font
        painter.setFont(f)
        painter.setPen(text_color)
        name = option.fontMetrics.elidedText(
            str(index.data(Qt.ItemDataRole.DisplayRole)),
            Qt.TextElideMode.ElideMiddle,
            text_rect.width(),
        )
        painter.drawText(
            text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name
        )
        sub = QRect(x, r.top() + 24, text_rect.width(), 16)
        small = QColor(text_color)
        small.setAlpha(170)
        painter.setPen(small)
        if error:
            painter.setPen(
                QColor(200, 40, 40)
                if not option.state & QStyle.StateFlag.State_Selected
                else text_color
            )
            painter.drawText(
                sub, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "cannot be read"
            )
        else:
            frac = float(index.data(LabelledRole) or 0.0)
            text = str(index.data(SubtitleRole))
            fm = option.fontMetrics
            if fm.horizontalAdvance(text) > sub.width():  # narrow list: "5 objects · 4.7 %"
                text = text.replace(" labelled", "")
            painter.drawText(sub, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             fm.elidedText(text, Qt.TextElideMode.ElideRight, sub.width()))
            bar = QRect(x, r.top() + 44, min(120, text_rect.width()), 5)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(128, 128, 128, 80))
            painter.drawRect(bar)
            if frac > 0:
                painter.setBrush(QColor(0, 158, 115))
                painter.drawRect(
                    QRect(
                        bar.left(), bar.top(), max(1, int(bar.width() * min(frac, 1))), bar.height()
                    )
                )
        painter.restore()


def _pct(frac: float) -> str:
    if frac <= 0:
        return "0 %"
    if frac < 0.001:
        return "<0.1 %"
    return f"{frac * 100:.1f} %" if frac < 0.1 else f"{frac * 100:.0f} %"


class ImageListView(QListView):
    image_selected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list_model = ImageListModel(self)
        self.setModel(self.list_model)
        self.setItemDelegate(ImageItemDelegate(self))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setUniformItemSizes(True)
        self.setMinimumWidth(200)
        self.selectionModel().currentChanged.connect(self._on_current)

    def set_project(self, project: Project | None) -> None:
        self.list_model.set_project(project)

    def set_uncertainty(self, scores: dict[str, float], order: list[str] | None) -> None:
        """Label here next: scores under the names, and the list in ``order`` (None: the
        project's). The current image stays current."""
        self.list_model.set_uncertainty(scores, order)

    def select_image(self, image_id: str) -> None:
        row = self.list_model.row_of(image_id)
        if row >= 0:
            self.setCurrentIndex(self.list_model.index(row))

    def current_image_id(self) -> str | None:
        idx = self.currentIndex()
        return idx.data(ImageIdRole) if idx.isValid() else None

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.image_selected.emit(current.data(ImageIdRole))
