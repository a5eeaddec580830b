"""The window's actions (every command with its shortcuts and help text), menus, toolbar and
status bar.

Each action is declared once here, with its shortcut and its help line; F1's table
(:mod:`spam_gui.app.help`) and the README's are made from the same declarations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from spam_gui.app.canvas import LAYER_NAMES, LAYER_TITLES
from spam_gui.app.qt import QtCore, QtGui, QtWidgets
from spam_gui.app.widgets import ElidedLabel

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.main_window import MainWindow

Qt = QtCore.Qt
Key = QtGui.QKeySequence
LAYER_KEYS = {"image": "I", "meanfill": "M", "objects": "O", "heatmap": "H", "boundaries": "B",
              "classes": "C"}


@dataclass
class ActionSpec:
    name: str
    text: str
    shortcuts: tuple[str, ...]
    help: str
    group: str

class WindowActions:
    """Builds the window's actions, menus and toolbar, and keeps the recent-folders menu."""

    def __init__(self, window: "MainWindow") -> None:
        self.w = window

    def add(self, name: str, text: str, slot: Callable | None, shortcuts: tuple[str, ...] = (),
             help: str = "", group: str = "General", checkable: bool = False) -> QtGui.QAction:
        a = QtGui.QAction(text, self.w)
        a.setObjectName(f"action_{name}")
        if shortcuts:
            a.setShortcuts([Key(s) for s in shortcuts])
        a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        a.setCheckable(checkable)
        tip = help or text.replace("&", "")
        if shortcuts:
            tip += f" ({', '.join(shortcuts)})"
        a.setToolTip(tip)   # no status tip: it would hide the image's status while hovering
        if slot is not None:
            (a.toggled if checkable else a.triggered).connect(slot)
        self.w.addAction(a)
        self.w.actions_[name] = a
        self.w.action_specs.append(ActionSpec(name, text.replace("&", ""), shortcuts, help or text, group))
        return a

    def build(self) -> None:
        A = self.add
        A("open_folder", "&Open Folder…", self.w.open_folder_dialog, ("Ctrl+O",),
          "Open a folder of images", "Files")
        A("open_image", "Open &Image…", self.w.open_image_dialog, ("Ctrl+Shift+O",),
          "Open one image (and the folder it is in)", "Files")
        A("export", "&Export Current", self.w.exports.export_current, ("Ctrl+E", "Ctrl+S"),
          "Write the label PNG, object map and sidecar JSON of this image (and its painted "
          "classes); your work is autosaved anyway, this writes the files", "Files")
        A("export_all", "Export &Folder…", self.w.exports.export_folder, ("Ctrl+Shift+E",),
          "Export every image of the folder", "Files")
        A("export_as", "Export &As…", self.w.export_as.ask, (),
          "Export the painted annotations (the folder or this image) as COCO, Pascal VOC, "
          "YOLO-seg or labelme JSON", "Files")
        A("output_dir", "Set &Output Folder…", self.w.exports.choose_output_dir, ("Ctrl+Shift+S",),
          "Where exports go (default <folder>/spam_labels)", "Files")
        A("open_output", "Open Output &Folder", self.w.exports.open_output_folder, ("Ctrl+Shift+F",),
          "Show the folder where exports go in the file manager", "Files")
        A("export_on_leave", "Export Each Image on &Leaving It", self.w.exports.set_on_leave,
          (), "Write an image's files when you go to another image (as Ctrl+S would)", "Files",
          checkable=True)
        A("prefs", "&Preferences…", self.w.engine.open_preferences, ("Ctrl+,",),
          "Models (SAM, DINO checkpoints), appearance", "Files")
        A("quit", "&Quit", self.w.close, ("Ctrl+Q",), "Quit (everything is saved)", "Files")

        A("next", "&Next Image", lambda: self.w.step(1), ("D", "PgDown"), "Next image", "Navigate")
        A("prev", "&Previous Image", lambda: self.w.step(-1), ("A", "PgUp"), "Previous image",
          "Navigate")
        A("next_todo", "Next &Unexported", self.w.next_unexported, ("Shift+D",),
          "Next image that is not exported yet", "Navigate")
        A("first", "First Image", lambda: self.w.show_row(0), ("Home",), "First image", "Navigate")
        A("last", "Last Image", lambda: self.w.show_row(len(self.w.session) - 1 if self.w.session else -1),
          ("End",), "Last image", "Navigate")

        # Undo / redo act on the current image's own stack (a QUndoGroup switches stacks);
        # fixed texts keep the toolbar steady, the command shows in the tooltip.
        undo = A("undo", "&Undo", self.w.undo_group.undo, ("Ctrl+Z",),
                 "Undo the last change of this image (ratio, parameter, prompt, object edit, paint stroke)", "Edit")
        redo = A("redo", "&Redo", self.w.undo_group.redo, ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo",
                 "Edit")
        undo.setEnabled(False)
        redo.setEnabled(False)
        self.w.undo_group.canUndoChanged.connect(undo.setEnabled)
        self.w.undo_group.canRedoChanged.connect(redo.setEnabled)
        self.w.undo_group.undoTextChanged.connect(
            lambda t: undo.setToolTip(f"Undo {t} (Ctrl+Z)" if t else "Undo (Ctrl+Z)"))
        self.w.undo_group.redoTextChanged.connect(
            lambda t: redo.setToolTip(f"Redo {t} (Ctrl+Shift+Z)" if t else "Redo (Ctrl+Shift+Z)"))

        A("mode_scale", "&Scale Mode", lambda: self.w.set_mode("scale"), ("S",),
          "Scale mode: left click ×2 density, right click ×½, Shift+click resets", "Edit")
        A("mode_prompt", "SAM &Prompt Mode", lambda: self.w.set_mode("prompt"), ("P",),
          "SAM prompt mode: left click adds a positive point, right click a negative one "
          "(needs a SAM checkpoint)", "Edit")
        A("mode_inspect", "&Inspect Mode", lambda: self.w.set_mode("inspect"), ("V",),
          "Inspect mode: a click only selects the object", "Edit")
        # painting classes (spam_gui.app.tools.paint). One meaning per key in every tool
        # (tests/app/test_interaction_23.py checks the table): the class keys, E and X choose
        # the paint tool too; [ and ] size the brush of the tool in use.
        ann = self.w.annotations
        A("mode_paint", "Pain&t Classes", lambda: self.w.set_mode("paint"), ("L",),
          "Paint tool: click / drag paints superpixels with the current class, Shift+click fills "
          "the object, right button erases", "Edit")
        for i in range(1, 10):   # one help row for the nine keys
            act = QtGui.QAction(f"Class {i}", self.w)
            act.setObjectName(f"action_class_{i}")
            act.setShortcut(Key(str(i)))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(lambda _=False, i=i: ann.pick_key(i))
            self.w.addAction(act)
            self.w.actions_[f"class_{i}"] = act
        self.w.action_specs.append(ActionSpec(
            "class_keys", "Class 1 … 9", ("1 … 9",),
            "The n-th class of the Classes panel becomes current (and the paint tool)", "Paint"))
        A("new_instance", "&New Instance", ann.new_instance, ("N",),
          "The next stroke starts another instance of the current class", "Paint")
        A("eraser", "&Eraser", ann.toggle_eraser, ("E",),
          "Paint tool with the eraser: the left button unlabels too (the right button always "
          "does); E again paints", "Paint")
        A("pixel_brush", "Round &Brush", ann.toggle_pixel_brush, ("X",),
          "Paint tool: a round brush of pixels / whole superpixels", "Paint")
        A("brush_smaller", "Smaller Brush", lambda: self.w.nudge_brush(-1), ("[",),
          "The brush of the tool in use (paint, draw, erase) −25% (Ctrl+wheel: any size)",
          "Paint")
        A("brush_larger", "Larger Brush", lambda: self.w.nudge_brush(1), ("]",),
          "The brush of the tool in use (paint, draw, erase) +25%", "Paint")
        # editing objects (spam_gui.app.tools.edit_objects)
        A("mode_split", "Spli&t Objects", lambda: self.w.set_mode("split"), ("K",),
          "Split tool: a line drawn across an object cuts it into its parts", "Objects")
        A("mode_draw_object", "&Draw Object", lambda: self.w.set_mode("draw_object"), ("W",),
          "Draw tool: a lasso (Shift+drag: a brush) draws a new object; its pixels leave the "
          "objects they were in; the right button erases", "Objects")
        A("mode_erase_object", "Erase to &Uncertain", lambda: self.w.set_mode("erase_object"),
          ("U",), "Erase tool: a lasso (Shift+drag: a brush) makes pixels uncertain (0)",
          "Objects")
        A("merge_objects", "&Merge Objects", self.w.objects_edit.merge_selected, ("Shift+M",),
          "Merge the selected objects (Ctrl+click them on the image or in the Objects list)",
          "Objects")
        A("object_brush_larger", "Larger Object Brush", lambda: self.w.objects_edit.nudge_brush(1),
          (), "Draw / Erase tools: the brush (Shift+drag) radius +25% (] in those tools)",
          "Objects")
        A("object_brush_smaller", "Smaller Object Brush",
          lambda: self.w.objects_edit.nudge_brush(-1), (),
          "Draw / Erase tools: the brush (Shift+drag) radius −25% ([ in those tools)", "Objects")
        A("reset_objects", "&Reset Edited Objects", self.w.objects_edit.reset, (),
          "Drop this image's object edits: its objects come from the prior source again "
          "(undoable)", "Objects")
        for n, short in (("mode_split", "Split"), ("mode_draw_object", "Draw"),
                         ("mode_erase_object", "Erase"), ("merge_objects", "Merge")):
            self.w.actions_[n].setIconText(short)   # the toolbar's short names
        A("commit_prompt", "Add Prompt Object", self.w.tools["prompt"].commit, ("Return", "Enter"),
          "Add the SAM mask of the current clicks to the prior", "Edit")
        A("undo_point", "Remove Last Prompt Point", self.w.tools["prompt"].remove_point, ("Backspace",),
          "Remove the last SAM click", "Edit")
        A("reset_hovered", "Reset Object Under Cursor", self.w.edits.reset_hovered, ("R",),
          "Ratio 1 for the object under the pointer", "Edit")
        A("reset_all", "Reset All Ratios", self.w.edits.reset_all_ratios, ("Ctrl+R",),
          "Ratio 1 for every object of this image", "Edit")
        A("recompute", "Recompute", self.w.edits.recompute, ("F5",), "Segment this image again", "Edit")
        A("cancel", "Cancel", self.w.escape, ("Esc",),
          "Clear SAM clicks or the selection, or cancel the running computation", "Edit")
        A("va", "Visual &Attention", self.w.edits.toggle_va, ("T",), "Visual attention on / off", "Edit",
          checkable=True)

        for n in LAYER_NAMES:
            A(f"layer_{n}", f"Show {LAYER_TITLES[n]}", lambda v, n=n: self.w.set_layer_visible(n, v),
              (LAYER_KEYS[n],), f"Show / hide the {LAYER_TITLES[n].lower()} layer", "View",
              checkable=True)
        A("opacity_down", "Objects More Transparent", lambda: self.w.nudge_opacity(-0.1),
          ("Alt+[",), "Object fill opacity −10%", "View")
        A("opacity_up", "Objects More Opaque", lambda: self.w.nudge_opacity(0.1), ("Alt+]",),
          "Object fill opacity +10%", "View")
        A("fit", "&Fit to Window", self.w.canvas.fit, ("F",), "Fit the image to the window", "View")
        A("actual", "Actual Size (1:1)", self.w.canvas.actual_size, ("Ctrl+0",), "One image pixel "
          "per screen pixel", "View")
        A("zoom_in", "Zoom In", lambda: self.w.canvas.zoom_by(1.25), ("+", "="), "Zoom in", "View")
        A("zoom_out", "Zoom Out", lambda: self.w.canvas.zoom_by(0.8), ("-",), "Zoom out", "View")
        A("help", "&Keyboard Shortcuts", self.w.show_help, ("F1",), "This list", "Help")
        A("about", "&About", self.w.show_about, ("Ctrl+F1",), "Version and models in use", "Help")

    def build_menus(self) -> None:
        mb = self.w.menuBar()
        a = self.w.actions_
        m = mb.addMenu("&File")
        m.addAction(a["open_folder"])
        m.addAction(a["open_image"])
        self.w.recent_menu = m.addMenu("Open &Recent")
        m.addSeparator()
        for n in ("export", "export_all", "export_as", "output_dir", "open_output"):
            m.addAction(a[n])
        m.addAction(a["export_on_leave"])
        m.addSeparator()
        m.addAction(a["prefs"])
        m.addSeparator()
        m.addAction(a["quit"])
        m = mb.addMenu("&Edit")
        for n in ("undo", "redo"):
            m.addAction(a[n])
        m.addSeparator()
        self.w.mode_group = QtGui.QActionGroup(self.w)
        for n in ("mode_scale", "mode_prompt", "mode_inspect", "mode_paint"):
            a[n].setCheckable(True)
            self.w.mode_group.addAction(a[n])
            m.addAction(a[n])
        m.addSeparator()
        om = m.addMenu("&Objects")
        for n in ("mode_split", "mode_draw_object", "mode_erase_object"):
            a[n].setCheckable(True)
            self.w.mode_group.addAction(a[n])
            om.addAction(a[n])
        om.addAction(a["merge_objects"])
        om.addAction(a["object_brush_larger"])
        om.addAction(a["object_brush_smaller"])
        om.addAction(a["reset_objects"])
        m.addSeparator()
        for n in ("new_instance", "eraser", "pixel_brush", "brush_smaller", "brush_larger"):
            m.addAction(a[n])
        m.addSeparator()
        for n in ("commit_prompt", "undo_point", "reset_hovered", "reset_all", "recompute", "va",
                  "cancel"):
            m.addAction(a[n])
        m = mb.addMenu("&View")
        for n in LAYER_NAMES:
            m.addAction(a[f"layer_{n}"])
        m.addAction(a["opacity_down"])
        m.addAction(a["opacity_up"])
        m.addSeparator()
        for n in ("fit", "actual", "zoom_in", "zoom_out"):
            m.addAction(a[n])
        m.addSeparator()
        for d, key in ((self.w.file_dock, "F6"), (self.w.controls_dock, "F7"), (self.w.objects_dock, "F8"),
                       (self.w.classes_dock, "F9")):
            t = d.toggleViewAction()
            t.setShortcut(Key(key))
            t.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            m.addAction(t)
            self.w.action_specs.append(ActionSpec(f"dock_{d.objectName()}", t.text(), (key,),
                                                f"Show / hide the {d.windowTitle()} panel", "View"))
        m.addAction(self.w.instances_dock.toggleViewAction())   # what was painted, as items
        m = mb.addMenu("&Go")
        for n in ("next", "prev", "next_todo", "first", "last"):
            m.addAction(a[n])
        m = mb.addMenu("&Help")
        m.addAction(a["help"])
        m.addAction(a["about"])

        tb = self.w.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for n in ("open_folder", "prev", "next", None, "mode_scale", "mode_prompt", "mode_inspect",
                  "mode_paint", None, "merge_objects", "mode_split", "mode_draw_object",
                  "mode_erase_object", None, "undo", "redo", None, "fit", "actual", None, "export", "export_all"):
            if n is None:
                tb.addSeparator()
            else:
                tb.addAction(a[n])

    def update_recent_menu(self) -> None:
        m = self.w.recent_menu
        m.clear()
        recent = self.w.settings.recent_folders
        for i, f in enumerate(recent):
            a = m.addAction(f"&{i + 1} {f}" if i < 9 else f, lambda f=f: self.w.open_path(f))
            if i < 9:
                a.setShortcut(Key(f"Ctrl+{i + 1}"))
                a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if recent:
            m.addSeparator()
            m.addAction("Clear List", lambda: (self.w.settings.clear_recent(), self.update_recent_menu()))
        else:
            m.addAction("(none)").setEnabled(False)

    def build_status_bar(self) -> None:
        sb = self.w.statusBar()
        # elided where it does not fit: a long class name never widens the window
        self.w.hover_label = ElidedLabel(mode=Qt.TextElideMode.ElideRight)
        self.w.hover_label.setObjectName("hoverLabel")
        self.w.hover_label.setMinimumWidth(160)
        self.w.hover_label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred,
                                         QtWidgets.QSizePolicy.Policy.Preferred)
        self.w.models_label = ElidedLabel(mode=Qt.TextElideMode.ElideRight)
        self.w.models_label.setObjectName("modelsLabel")
        self.w.models_label.setMaximumWidth(420)
        self.w.models_label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred,
                                          QtWidgets.QSizePolicy.Policy.Preferred)
        self.w.models_label.setStyleSheet("color: palette(mid);")
        self.w.progress = QtWidgets.QProgressBar()
        self.w.progress.setMaximumWidth(160)
        self.w.progress.setMaximumHeight(16)
        self.w.progress.setTextVisible(False)
        self.w.progress.hide()
        self.w.cancel_button = QtWidgets.QToolButton()
        self.w.cancel_button.setText("Cancel")
        self.w.cancel_button.setToolTip("Cancel the running computation (Esc)")
        self.w.cancel_button.clicked.connect(self.w.view.cancel_work)
        self.w.cancel_button.hide()
        self.w.details_button = QtWidgets.QToolButton()
        self.w.details_button.setText("Details…")
        self.w.details_button.setObjectName("errorDetails")
        self.w.details_button.clicked.connect(self.w.show_error_details)
        self.w.details_button.hide()
        self.w.status_label = ElidedLabel()
        self.w.status_label.setObjectName("statusLabel")
        self.w.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        sb.addWidget(self.w.status_label, 1)
        sb.addWidget(self.w.details_button)
        sb.addPermanentWidget(self.w.hover_label)
        sb.addPermanentWidget(self.w.progress)
        sb.addPermanentWidget(self.w.cancel_button)
        sb.addPermanentWidget(self.w.models_label)




    # ================================================================== folders
