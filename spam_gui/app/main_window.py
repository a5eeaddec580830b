"""The main window: docks, actions and shortcuts, and the wiring between them.

The window owns a :class:`FolderSession` (the images and their editable state), two
:class:`JobThread` workers (interactive and background) over one :class:`Pipeline`, and an LRU
of computed :class:`Outcome` objects. It decides *which* job to run and *whether* a result may be
drawn; the work itself lives in :mod:`spam_gui.app.worker` and the core.

Drawing rule: a result is drawn only when its request id is the latest one asked for the view,
its image is the current one and its key (parameters, ratios, prompts, engine settings) is the
current doc's. Anything else is kept in the cache (it may be shown later) and never drawn.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path


from spam_gui.app.annotating import AnnotationController
from spam_gui.app.canvas import LAYER_NAMES, Canvas
from spam_gui.app import help as help_
from spam_gui.app.actions import ActionSpec, WindowActions
from spam_gui.app.display import DisplayController
from spam_gui.app.editing import Editing
from spam_gui.app.engine_settings import EngineSettings
from spam_gui.app.export_as import ExportAsFlow
from spam_gui.app.export_flow import ExportFlow
from spam_gui.app.model.selection import ObjectSelection
from spam_gui.app.document import (DocState, FolderSession)
from spam_gui.app.overlays import OverlayStyle, build_layers
from spam_gui.app.panels import ControlsPanel, FilePanel, ObjectsPanel
from spam_gui.app.qt import QtCore, QtGui, QtWidgets
from spam_gui.app.settings import Settings
from spam_gui.app.pipeline import (EngineConfig, Outcome, Pipeline, next_request_id,
                                   outcome_key)
from spam_gui.app.tools import TOOLS, Tool, ToolContext
from spam_gui.app.sam_folder import SamFolderPrecompute
from spam_gui.app.tools.edit_objects import ObjectEditor
from spam_gui.app.widgets import escape_leaves_fields
from spam_gui.app.worker import (JobThread, WarmupJob)
from spam_gui.core.io.images import IMAGE_EXTENSIONS, list_folder

log = logging.getLogger(__name__)
Qt = QtCore.Qt
Key = QtGui.QKeySequence

APP_NAME = "SPAM Studio"
LAYER_DEFAULTS = {"image": True, "meanfill": False, "objects": True, "heatmap": False,
                  "boundaries": True, "classes": True}


class MainWindow(QtWidgets.QMainWindow):
    """SPAM Studio's main window."""

    displayed_changed = QtCore.Signal()

    def __init__(self, settings: Settings | None = None, pipeline: Pipeline | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        self.pipeline = pipeline or Pipeline()
        if self.pipeline.layer_builder is None:
            # the mean-colour layer only while it is shown (DisplayController.ensure_meanfill)
            self.pipeline.layer_builder = lambda image, res, style, sal=None: build_layers(
                image, res, style, sal, meanfill=self.canvas.meanfill_shown)
        self.config: EngineConfig = self.settings.engine_config()
        self.style_: OverlayStyle = self.settings.style

        self.session: FolderSession | None = None
        self.canvas = Canvas(self)               # the collaborators below are given it
        self.view = DisplayController(           # what is drawn when, job results
            self.canvas, self.pipeline, self.settings, session=lambda: self.session,
            row=lambda: self.row, doc=lambda: self.doc, current_key=lambda: self.current_key(),
            config=lambda: self.config, style=lambda: self.style_, nav_step=lambda: self.nav_step,
            mode=lambda: self.mode, tool=lambda: self.tool,
            displayed_changed=self.displayed_changed, set_engine_name=self.use_engine_name,
            refresh_row=self.refresh_row, hover_again=self.hover_again,
            set_status=self.set_status, report_error=self.report_error,
            hide_error=self.hide_error)
        self.menus = WindowActions(self)       # actions, menus, toolbar, status bar
        self.edits = Editing(                  # ratio / parameter edits, undoable
            self.view, self.settings, self.pipeline, session=lambda: self.session,
            row=lambda: self.row, doc=lambda: self.doc, current_key=lambda: self.current_key(),
            hover_pos=lambda: self.hover_pos, refresh_row=self.refresh_row,
            set_status=self.set_status, report_error=self.report_error)
        self.annotations = AnnotationController(   # classes, painted maps, their export
            self, self.canvas, self.settings, session=lambda: self.session, row=lambda: self.row,
            doc=lambda: self.doc, displayed=lambda: self.view.displayed, mode=lambda: self.mode,
            set_mode=self.set_mode, report_error=self.report_error, set_status=self.set_status,
            clear_objects=lambda: self.objects_edit.clear_selection(),
            hover_again=self.hover_again)
        self.row = -1
        self.nav_step = 1
        self.selection = ObjectSelection()       # what is selected on this image, for what
        self.objects_edit = ObjectEditor(        # object merge / split / draw / erase
            self.view, self.canvas, self.selection, session=lambda: self.session,
            row=lambda: self.row, doc=lambda: self.doc, current_key=lambda: self.current_key(),
            config=lambda: self.config, style=lambda: self.style_,
            object_at=self.edits.object_at,
            clear_instances=self.annotations.clear_instance_selection,
            set_status=self.set_status, report_error=self.report_error)
        self.hover_pos: tuple[int, int] = (-1, -1)
        self._told_space_pans = False
        self.last_error_details = ""
        self.state_notice: QtWidgets.QMessageBox | None = None
        self.engine_name = ""

        # -- workers ----------------------------------------------------------------------
        self.fg = JobThread(self.pipeline, "spam-interactive", self)
        self.bg = JobThread(self.pipeline, "spam-background", self)
        for t in (self.fg, self.bg):
            t.started_job.connect(self.view.on_job_started)
            t.partial.connect(self.view.on_partial)
            t.progress.connect(self.view.on_progress)
            t.finished_job.connect(self.view.on_finished)
            t.failed.connect(self.view.on_failed)
            t.cancelled_job.connect(self.view.on_cancelled)
            t.idle.connect(self.view.update_busy)
            t.start()
        tools = ToolContext(
            self.canvas, self.view, self.edits, self.objects_edit, self.annotations, self.fg,
            session=lambda: self.session, row=lambda: self.row, doc=lambda: self.doc,
            config=lambda: self.config, mode=lambda: self.mode, sam_available=self.sam_available,
            show_classes=self.show_classes, set_status=self.set_status,
            report_error=self.report_error)
        self.tools: dict[str, Tool] = {t.name: t(tools) for t in TOOLS}
        self.tool: Tool = self.tools["scale"]
        self.engine = EngineSettings(
            self, self.settings, self.view, self.pipeline, self.canvas,
            session=lambda: self.session, config=lambda: self.config,
            set_config=self.use_config, style=lambda: self.style_, set_style=self.use_style,
            engine_name=lambda: self.engine_name, set_engine_name=self.use_engine_name,
            update_actions=self.update_actions, report_error=self.report_error)
        self.exports = ExportFlow(
            self, self.view, self.settings, self.pipeline, self.annotations,
            session=lambda: self.session, row=lambda: self.row, config=lambda: self.config,
            flush_controls=lambda: self.controls.flush(),
            objects_source=self.objects_edit.objects_source, fg=self.fg, bg=self.bg,
            set_status=self.set_status, report_error=self.report_error)

        # -- widgets ----------------------------------------------------------------------
        self.setCentralWidget(self.canvas)
        self.canvas.clicked.connect(self._on_canvas_click)
        self.canvas.stroke_started.connect(lambda x, y, b, m: self.tool.press(x, y, b, m))
        self.canvas.stroke_moved.connect(lambda x, y: self.tool.drag(x, y))
        self.canvas.stroke_finished.connect(lambda x, y, moved: self.tool.release(x, y, moved))
        self.canvas.hovered.connect(self.show_hover)
        self.canvas.brush_wheel.connect(
            lambda steps: [self.nudge_brush(1 if steps > 0 else -1) for _ in range(abs(steps))])
        self.canvas.files_dropped.connect(self._on_dropped)

        self.file_panel = FilePanel()
        self.file_panel.activated.connect(self.show_row)
        self.controls = ControlsPanel()
        self.controls.params_edited.connect(self.edits.on_params_edited)
        self.controls.engine_edited.connect(self.engine.on_edited)
        self.controls.layer_toggled.connect(self.set_layer_visible)
        self.controls.opacity_changed.connect(self._on_opacity)
        self.controls.recompute_requested.connect(self.edits.recompute)
        self.controls.browse_encoder.connect(self.engine.choose_encoder_file)
        self.controls.browse_prior_folder.connect(self.engine.choose_prior_folder)
        self.controls.use_as_default.connect(self.edits.use_as_default)
        self.objects_panel = ObjectsPanel()
        self.objects_panel.ratio_edited.connect(self.edits.set_ratio)
        self.displayed_changed.connect(self.edits.drop_stale_ratios)
        self.objects_panel.reset_all.connect(self.edits.reset_all_ratios)

        self.file_dock = self._dock("Images", "filesDock", self.file_panel,
                                    Qt.DockWidgetArea.LeftDockWidgetArea)
        self.controls_dock = self._dock("Controls", "controlsDock", self._scroll(self.controls),
                                        Qt.DockWidgetArea.RightDockWidgetArea)
        self.objects_dock = self._dock("Objects", "objectsDock", self.objects_panel,
                                       Qt.DockWidgetArea.RightDockWidgetArea)
        self.classes_dock = self._dock("Classes", "classesDock", self.annotations.panel,
                                       Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.objects_dock, self.classes_dock)   # the paint tool raises it
        self.instances_dock = self._dock("Instances", "instancesDock",
                                         self.annotations.instances_panel,
                                         Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.classes_dock, self.instances_dock)
        self.instances_dock.visibilityChanged.connect(
            lambda v: self.annotations.refresh_instances() if v else None)
        self.objects_dock.raise_()
        self.undo_group = QtGui.QUndoGroup(self)

        self.export_as = ExportAsFlow(            # File -> Export As…
            self, self.annotations, session=lambda: self.session, row=lambda: self.row,
            set_status=self.set_status, report_error=self.report_error)
        self.menus.build_status_bar()
        self.view.attach(self.fg, self.bg, self.objects_edit, self.tools["prompt"], self.exports,
                         self.engine, self.objects_panel, self.controls, self.progress,
                         self.cancel_button)
        self.actions_: dict[str, QtGui.QAction] = {}
        self.action_specs: list[ActionSpec] = []
        self.menus.build()
        self.menus.build_menus()
        self.edits.attach(self.controls, self.file_panel, self.objects_panel, self.actions_["va"])
        self.engine.attach(self.controls, self.file_panel, self.models_label, self.fg, self.bg)
        self.actions_["export_on_leave"].blockSignals(True)
        self.actions_["export_on_leave"].setChecked(self.settings.export_on_leave)
        self.actions_["export_on_leave"].blockSignals(False)

        # -- restore ----------------------------------------------------------------------
        vis = {n: self.settings.layer_visible(n, LAYER_DEFAULTS[n]) for n in LAYER_NAMES}
        for n, v in vis.items():
            self.canvas.set_layer_visible(n, v)
            self.actions_[f"layer_{n}"].setChecked(v)
        self.canvas.set_object_opacity(self.settings.object_opacity)
        self.controls.set_layers(vis, self.settings.object_opacity)
        self.controls.set_params(self.settings.default_params)
        self.engine.show()
        self.annotations.attach(self.displayed_changed, self.controls)
        self.objects_edit.attach(self.displayed_changed, self.objects_panel, self.controls,
                                 self.fg)
        self.sam_folder = SamFolderPrecompute(   # the folder's SAM priors, in the background
            self.view, self.settings, self.fg, self.bg, session=lambda: self.session,
            row=lambda: self.row, config=lambda: self.config, refresh_row=self.refresh_row,
            set_status=self.set_status)
        self.sam_folder.attach(self.statusBar(), self.displayed_changed)
        self.set_mode("scale")
        geo, state = self.settings.window_layout()
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            screen = QtGui.QGuiApplication.primaryScreen()
            avail = screen.availableGeometry() if screen is not None else QtCore.QRect(0, 0, 1400, 900)
            self.resize(min(1600, int(avail.width() * 0.92)), min(1000, int(avail.height() * 0.92)))
        if state is not None:
            self.restoreState(state)
        self.menus.update_recent_menu()
        self.engine.update_models_label()
        self.canvas.set_message("Open a folder of images: Ctrl+O, File → Open Recent, "
                                "or drop a folder here.")
        self.update_actions()
        escape_leaves_fields(self, self.canvas)   # Esc in a text field: back to the image
        self.canvas.setFocus()
        self.bg.submit(WarmupJob(next_request_id(), priority=3, group="warmup", config=self.config,
                                 yield_to=lambda: self.fg.busy))

    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if QtWidgets.QApplication.focusWidget() is None:
            self.canvas.setFocus()   # keyboard first: keys go to the canvas from the start

    # ================================================================== construction helpers
    def _dock(self, title: str, name: str, widget: QtWidgets.QWidget,
              area: Qt.DockWidgetArea) -> QtWidgets.QDockWidget:
        d = QtWidgets.QDockWidget(title, self)
        d.setObjectName(name)
        d.setWidget(widget)
        self.addDockWidget(area, d)
        return d

    @staticmethod
    def _scroll(w: QtWidgets.QWidget) -> QtWidgets.QScrollArea:
        s = QtWidgets.QScrollArea()
        s.setWidget(w)
        s.setWidgetResizable(True)
        s.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        s.setMinimumWidth(w.sizeHint().width() + 20)
        return s

    def open_path(self, path: str | Path) -> bool:
        """Open a folder, or an image (its folder, with the image selected)."""
        p = Path(path).expanduser()
        if p.is_dir():
            return self.open_folder(p)
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
            return self.open_folder(p.parent, select=p)
        self.report_error(f"{p}: not a folder or an image file")
        return False

    def open_folder(self, folder: str | Path, select: Path | None = None) -> bool:
        folder = Path(folder).expanduser().resolve()
        try:
            paths = list_folder(folder)
        except OSError as exc:
            self.report_error(str(exc))
            return False
        self._close_session()
        out = self.settings.output_dir_for(folder)
        self.session = FolderSession(folder, paths, out, self.settings.default_params, self)
        self.session.doc_changed.connect(self.edits.on_doc_changed)
        self.session.save_failed.connect(lambda m: self.report_error(m))
        self.session.raster_problem.connect(self._report_raster_problem)
        self.annotations.open_folder(self.session)
        self.file_panel.model.set_files(paths, self.view.row_state)
        self.file_panel.summary.setText(f"{len(paths)} image(s) in {folder.name}")
        self.settings.add_recent_folder(str(folder))
        self.menus.update_recent_menu()
        self.view.errors.clear()
        self.view.prior_ready_rows = set()
        if not paths:
            self._report_state_problems()
            self.canvas.set_image(None)
            self.canvas.set_message(f"No images in {folder}.\nSupported: "
                                    + ", ".join(IMAGE_EXTENSIONS))
            self.update_actions()
            self.update_title()
            return True
        row = 0
        if select is not None:
            row = max(0, self.session.row_of(Path(select).resolve()))
        elif self.session.current_name:
            for i, p in enumerate(paths):
                if p.name == self.session.current_name:
                    row = i
                    break
        self.show_row(row)
        restored = self.session.state_path is not None
        self.set_status(f"Opened {folder} ({len(paths)} images"
                        + (", work restored from " + self.session.state_path.name if restored else "")
                        + ")")
        self._report_state_problems()
        return True

    def _report_state_problems(self) -> None:
        """Say on screen what of the saved state could not be used, and where it was kept."""
        s = self.session
        if s is None or not s.load_problems:
            return
        n = len(s.load_problems)
        kept = f"; the original was kept as {s.load_backup.name}" if s.load_backup else ""
        head = (s.load_problems[0] if n == 1 else
                f"saved work: {n} problems in the state file, the rest was restored")
        details = "\n".join(s.load_problems) + (
            f"\n\nOriginal file kept as {s.load_backup}" if s.load_backup else "")
        log.warning("%s%s", head, kept)
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, APP_NAME,
                                    f"{head}{kept}.", QtWidgets.QMessageBox.StandardButton.Ok,
                                    self)
        box.setObjectName("stateProblems")
        box.setInformativeText("What could be read was restored; nothing else was changed.")
        box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.last_error_message, self.last_error_details = head, details
        self.state_notice = box
        box.open()   # window-modal, does not block the event loop

    def _report_raster_problem(self, message: str) -> None:
        """A saved map of this folder's work (an edited object map, class or instance map in
        ``.spam_state.json.d/``) could not be used: said on screen, with where the file was
        kept; the rest of the image's work is restored."""
        head = f"saved work not restored: {message}"
        self.report_error(head)
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, APP_NAME, head + ".",
                                    QtWidgets.QMessageBox.StandardButton.Ok, self)
        box.setObjectName("rasterProblem")
        box.setInformativeText("What could be read was restored; the damaged file was kept "
                               "aside, nothing was deleted.")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.state_notice = box
        box.open()   # window-modal, does not block the event loop

    def _close_session(self) -> None:
        self.controls.flush()
        self.fg.cancel()
        self.bg.cancel()
        if self.session is not None:
            self.session.save_now()
            self.undo_group.setActiveStack(None)
            self.session.deleteLater()
        self.session = None
        self.row = -1
        self.view.displayed = None
        self.view.outcomes.clear()
        self.pipeline.clear()
        self.tools["prompt"].clear()
        self.annotations.close_folder()
        self.objects_panel.clear()
        self.clear_selections()

    def open_folder_dialog(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a folder of images",
                                                       self.settings.last_dialog_dir)
        if d:
            self.settings.last_dialog_dir = str(Path(d).parent)
            self.open_folder(d)

    def open_image_dialog(self) -> None:
        exts = " ".join(f"*{e}" for e in IMAGE_EXTENSIONS)
        f, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open an image",
                                                     self.settings.last_dialog_dir,
                                                     f"Images ({exts});;All files (*)")
        if f:
            self.settings.last_dialog_dir = str(Path(f).parent)
            self.open_path(f)

    def _on_dropped(self, paths: list[str]) -> None:
        if paths:
            self.open_path(paths[0])

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        self._on_dropped(paths)



    # ================================================================== navigation / display
    @property
    def doc(self):
        if self.session is None or self.row < 0:
            return None
        return self.session.doc(self.row)

    def current_key(self) -> str | None:
        d = self.doc
        return None if d is None else outcome_key(d.key(), self.config)

    def step(self, delta: int) -> None:
        if self.session is None or not len(self.session):
            return
        self.nav_step = 1 if delta >= 0 else -1
        row = min(max(self.row + delta, 0), len(self.session) - 1)
        if row != self.row:
            self.show_row(row)

    def next_unexported(self) -> None:
        if self.session is None:
            return
        n = len(self.session)
        for i in range(1, n + 1):
            r = (self.row + i) % n
            if self.view.row_state(r)[0] != DocState.EXPORTED:
                self.nav_step = 1
                self.show_row(r)
                return
        self.set_status("Every image is exported.")

    def show_row(self, row: int) -> None:
        """Make ``row`` the current image; draw it from the cache or ask the worker."""
        if self.session is None or not (0 <= row < len(self.session)):
            return
        self.controls.flush()          # an edit in progress belongs to the old image
        self.view.t_switch = time.perf_counter()
        if row != self.row:
            self.tools["prompt"].clear()
            self.exports.leaving(self.row)     # File → Export Each Image on Leaving It
        self.row = row
        if self.selection.row != row:
            self.clear_selections()   # a selection belongs to its image
        self.session.set_current(row)
        self.file_panel.select_row(row)
        doc = self.session.doc(row)
        self.undo_group.setActiveStack(doc.undo_stack)
        self.controls.set_params(doc.params)
        self.actions_["va"].blockSignals(True)
        self.actions_["va"].setChecked(doc.params.va)
        self.actions_["va"].blockSignals(False)
        self.update_title()
        self.update_actions()
        self.view.refresh()












    # ================================================================== worker signals















    # ================================================================== editing
    def _on_canvas_click(self, x: int, y: int, button: Qt.MouseButton, mods: Qt.KeyboardModifier) -> None:
        self.tool.click(x, y, button, mods)









    def sam_available(self) -> bool:
        return bool(self.config.sam_checkpoint)

    def show_classes(self) -> None:
        """Show the Classes panel and bring it to the front (the paint tool's panel)."""
        self.classes_dock.show()
        self.classes_dock.raise_()

    # ================================================================== hover / view
    def use_config(self, config: EngineConfig) -> None:
        """The engine configuration every new job uses (the engine settings changed)."""
        self.config = config

    def use_style(self, style: OverlayStyle) -> None:
        """The overlay style new layers are drawn with."""
        self.style_ = style

    def use_engine_name(self, name: str) -> None:
        """The name of the encoder loaded ("" until a job says it)."""
        self.engine_name = name

    def hover_again(self) -> None:
        """Say again what is under the pointer (when it is on the image): it changed."""
        x, y = self.hover_pos
        if x >= 0:
            self.show_hover(x, y)

    def show_hover(self, x: int, y: int) -> None:
        self.hover_pos = (x, y)
        o = self.view.displayed
        if x < 0 or o is None or y >= o.result.labels.shape[0] or x >= o.result.labels.shape[1]:
            self.hover_label.setText("")
            self.canvas.viewport().setToolTip("")
            return
        res = o.result
        sp = int(res.labels[y, x])
        oid = int(res.objects[y, x])
        owner = int(res.superpixel_object[sp]) if sp < res.superpixel_object.shape[0] else 0
        info = res.objects_info.get(oid or owner)
        if info is not None:
            what = f"object {info.id}" + (" (uncertain pixel)" if oid == 0 else "")
            text = f"{what} · ratio {info.ratio:g} · K_o {info.k} · superpixel {sp}"
        else:
            text = f"superpixel {sp}"
        text += self.annotations.hover_text(x, y)
        self.hover_label.setText(f"({x}, {y}) {text}")
        self.canvas.viewport().setToolTip(text)

    def set_layer_visible(self, name: str, visible: bool) -> None:
        self.canvas.set_layer_visible(name, visible)
        a = self.actions_.get(f"layer_{name}")
        if a is not None and a.isChecked() != visible:
            a.blockSignals(True)
            a.setChecked(visible)
            a.blockSignals(False)
        cb = self.controls.layer_boxes.get(name)
        if cb is not None and cb.isChecked() != visible:
            cb.blockSignals(True)
            cb.setChecked(visible)
            cb.blockSignals(False)
        self.settings.set_layer_visible(name, visible)
        if name == "heatmap" and visible:
            self.view.request_heatmap()
        if name == "meanfill" and visible:
            self.view.ensure_meanfill()


    def _on_opacity(self, v: float) -> None:
        self.canvas.set_object_opacity(v)
        self.settings.object_opacity = v

    def nudge_opacity(self, dv: float) -> None:
        v = min(max(self.canvas.object_opacity() + dv, 0.0), 1.0)
        self._on_opacity(v)
        self.controls.set_layers({n: self.canvas.layer_visible(n) for n in LAYER_NAMES}, v)

    @property
    def displayed(self) -> "Outcome | None":
        """The outcome drawn now (see :class:`~spam_gui.app.display.DisplayController`)."""
        return self.view.displayed

    @property
    def mode(self) -> str:
        """The name of the active canvas tool (scale, prompt, inspect)."""
        return self.tool.name

    def set_mode(self, mode: str) -> None:
        """Choose a canvas tool; one that cannot be used now says why and scale stays."""
        new = self.tools[mode]
        refused = new.unavailable()
        if refused:
            new = self.tools["scale"]
        if new is not self.tool:
            self.tool.deactivate()
            self.tool = new
            new.activate()
            self.clear_selections()   # a selection serves the tool it was made in
        for n in ("commit_prompt", "undo_point"):
            self.actions_[n].setEnabled(new.name == "prompt")
        self.canvas.set_mode(new.name)
        self.canvas.set_stroke_mode(new.strokes)
        # Ctrl+wheel sizes the brush of the tools that have one (elsewhere it zooms)
        self.canvas.brush_wheel_enabled = new.name in ("paint", "draw_object", "erase_object")
        self.actions_[f"mode_{new.name}"].setChecked(True)
        if refused:
            self.report_error(refused)
        elif new.strokes and not self._told_space_pans:
            self._told_space_pans = True      # said once: drags draw here, Space+drag pans
            self.set_status(new.hint + " · Space+drag pans (in every tool)")
        else:
            self.set_status(new.hint)

    def nudge_brush(self, direction: int) -> None:
        """[ and ]: the brush of the tool in use 25 % smaller / larger (the Draw and Erase
        tools' object brush; else the paint brush)."""
        if self.mode in ("draw_object", "erase_object"):
            self.objects_edit.nudge_brush(direction)
        else:
            self.annotations.nudge_radius(direction)

    def clear_selections(self) -> bool:
        """No object and no instance selected; True when something was."""
        a = self.objects_edit.clear_selection()
        b = self.annotations.clear_instance_selection()
        return a or b

    def escape(self) -> None:
        """Esc: the tool drops what it holds; else the selection is cleared; else the running
        computation is cancelled."""
        if self.tool.cancel():
            return
        if self.clear_selections():
            self.set_status("Selection cleared")
            return
        self.view.cancel_work()

    # ================================================================== engine settings







    # ================================================================== export




    # ================================================================== state / status

    def refresh_row(self, row: int) -> None:
        self.file_panel.model.refresh_row(row)

    def set_status(self, text: str) -> None:
        self.status_label.setStyleSheet("")
        self.status_label.setText(text)

    def report_error(self, message: str, details: str | None = None) -> None:
        """Show an error in the status bar; Details… opens the full text."""
        log.warning("%s", message)
        first = message.strip().splitlines()[0] if message.strip() else "error"
        self.status_label.setStyleSheet("color: #d03030;")
        self.status_label.setText(f"⚠ {first}")
        self.last_error_message = message
        self.last_error_details = details or message
        self.details_button.show()

    def hide_error(self) -> None:
        self.details_button.hide()

    _last_error_message = ""

    def show_error_details(self) -> None:
        box = QtWidgets.QMessageBox(self)
        box.setObjectName("errorDialog")
        box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
        box.setWindowTitle("Error")
        box.setText(self.last_error_message or "Error")
        if self.last_error_details and self.last_error_details != self.last_error_message:
            box.setDetailedText(self.last_error_details)
        box.open()
        self._error_box = box

    def update_title(self) -> None:
        if self.session is None or self.row < 0:
            self.setWindowTitle(APP_NAME)
            return
        self.setWindowTitle(f"{self.session.paths[self.row].name} ({self.row + 1}/{len(self.session)})"
                            f" — {self.session.folder.name} — {APP_NAME}")

    def update_actions(self) -> None:
        has = self.session is not None and len(self.session) > 0
        for n in ("export", "export_all", "next", "prev", "next_todo", "first", "last", "recompute",
                  "reset_all", "output_dir", "open_output"):
            self.actions_[n].setEnabled(has)
        sam = self.sam_available()
        self.actions_["mode_prompt"].setToolTip(
            "SAM prompt mode (P)" if sam else "SAM prompt mode (P): needs a SAM checkpoint, "
            "set it in Preferences → Models")
        self.controls.set_sam_available(bool(self.settings.sam_checkpoint))
        for n in ("commit_prompt", "undo_point"):   # Enter / Backspace only mean this in SAM mode
            self.actions_[n].setEnabled(self.mode == "prompt")

    # ================================================================== help
    def show_help(self) -> None:
        self._help_dialog = help_.show_help(self, self.action_specs)

    def show_about(self) -> None:
        help_.show_about(self, self.models_label.text())

    # ================================================================== closing
    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        self.controls.flush()
        if self.session is not None:
            self.session.save_now()
        self.settings.save_window_layout(self.saveGeometry(), self.saveState())
        self.settings.sync()
        self.fg.stop()
        self.bg.stop()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the worker threads (tests call this when they do not close the window)."""
        self.fg.stop()
        self.bg.stop()
