"""What a new user hit in the first hour (issue 12, the app items), driven through the window."""

from __future__ import annotations

from spam_gui.app.qt import QtCore, QtGui, QtWidgets
from tests.app.conftest import OBJ2_CENTER, wait_displayed

Qt = QtCore.Qt


def _wheel(widget, dy=-120):
    pos = QtCore.QPointF(widget.width() / 2, widget.height() / 2)
    ev = QtGui.QWheelEvent(pos, widget.mapToGlobal(pos), QtCore.QPoint(0, 0),
                           QtCore.QPoint(0, dy), Qt.MouseButton.NoButton,
                           Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QtWidgets.QApplication.sendEvent(widget, ev)


def test_wheel_over_controls_changes_nothing_unless_focused(qtbot, make_window, image_folder):
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win)
    c = win.controls
    enc, k = c.encoder.currentIndex(), c.k.value()
    win.canvas.setFocus()
    for _ in range(3):
        _wheel(c.encoder)
        _wheel(c.k)
        _wheel(c.prior)
    assert c.encoder.currentIndex() == enc and c.k.value() == k
    c.k.setFocus()
    qtbot.waitUntil(c.k.hasFocus, timeout=2000)
    _wheel(c.k, dy=120)                                    # a focused field takes the wheel
    assert c.k.value() == k + c.k.singleStep()


def test_settings_stay_with_their_image_until_use_as_default(qtbot, make_window, image_folder):
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win, "img0.png")
    win.controls.k.setValue(90)
    win.controls.flush()
    qtbot.waitUntil(lambda: win.doc.params.n_segments == 90, timeout=5000)
    win.step(1)
    wait_displayed(qtbot, win, "img1.png")
    assert win.doc.params.n_segments == 60                 # not carried over
    win.edits.toggle_va(True)
    qtbot.waitUntil(lambda: win.doc.params.va, timeout=5000)
    assert win.settings.default_params.n_segments == 60 and not win.settings.default_params.va
    win.controls.default_btn.click()                       # the explicit action
    assert win.settings.default_params.va and win.settings.default_params.n_segments == 60
    win.step(1)
    wait_displayed(qtbot, win, "img2.png")
    assert win.doc.params.va


def test_enter_in_the_ratio_cell_commits_it(qtbot, make_window, image_folder):
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win)
    t = win.objects_panel.table
    row = win.objects_panel._rows[2]
    t.setCurrentCell(row, 2)
    t.editItem(t.item(row, 2))
    editor = QtWidgets.QApplication.focusWidget()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.focusWidget() is not None, timeout=2000)
    editor = QtWidgets.QApplication.focusWidget()
    editor.selectAll() if hasattr(editor, "selectAll") else None
    qtbot.keyClicks(editor, "3")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: win.doc.ratios == {2: 3.0}, timeout=10000)


def test_hover_readout_follows_a_click(qtbot, make_window, image_folder):
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win)
    win.show_hover(*OBJ2_CENTER)
    before = win.hover_label.text()
    assert "ratio 1 " in before
    qtbot.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, win.canvas.view_pos_of(*OBJ2_CENTER))
    qtbot.waitUntil(lambda: "ratio 2 " in win.hover_label.text(), timeout=20000)


def test_objects_table_sorts_by_number_and_shows_whole_numbers(qtbot, make_window,
                                                               image_folder):
    win = make_window(precompute=False, k=1500)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win)
    t = win.objects_panel.table
    t.sortByColumn(3, Qt.SortOrder.DescendingOrder)
    ks = [int(t.item(r, 3).text()) for r in range(t.rowCount())]
    assert ks == sorted(ks, reverse=True) and max(ks) >= 100
    fm = t.fontMetrics()
    for c in (3, 4):
        widest = max(fm.horizontalAdvance(t.item(r, c).text()) for r in range(t.rowCount()))
        assert t.columnWidth(c) > widest                  # no "3…"
    oid = int(t.item(0, 0).data(Qt.ItemDataRole.UserRole))
    assert win.objects_panel._rows[oid] == 0              # the id → row map follows the sort
    win.objects_panel.select_object(oid)
    assert win.objects_panel.selected_object() == oid


def test_sam_prior_needs_a_checkpoint_and_is_not_half_chosen(qtbot, make_window, image_folder):
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    first = wait_displayed(qtbot, win)
    c = win.controls
    item = c.prior.model().item(c.prior.findData("sam"))
    assert not item.isEnabled()
    c.prior.setCurrentIndex(c.prior.findData("sam"))      # even if chosen some other way
    c.prior.activated.emit(c.prior.currentIndex())
    assert win.settings.prior_source == "maps"
    assert c.prior.currentData() == "maps"
    assert "needs a SAM checkpoint" in win.status_label.text()
    assert win.displayed is first                         # nothing recomputed, nothing lost


def test_status_bar_elides_and_action_tips_do_not_replace_it(qtbot, make_window, image_folder):
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win)
    long = "/a/very/long/path/" * 30 + "photo.jpg"
    win.set_status(long)
    assert win.status_label.text() == long                # the whole text is kept
    shown = QtWidgets.QLabel.text(win.status_label)
    assert "…" in shown and shown.endswith("photo.jpg")  # elided in the middle, ends readable
    assert all(not a.statusTip() for a in win.actions_.values())


def test_export_says_where_and_open_output_folder(qtbot, make_window, image_folder, monkeypatch):
    opened = []
    monkeypatch.setattr(QtGui.QDesktopServices, "openUrl",
                        staticmethod(lambda url: opened.append(url.toLocalFile()) or True))
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win)
    win.exports.export_current()
    out = image_folder / "spam_labels"
    qtbot.waitUntil(lambda: (out / "img0.json").exists() and win.exports.last_export is not None,
                    timeout=30000)
    assert "img0.png" in win.status_label.text() and str(out) in win.status_label.text()
    win.actions_["open_output"].trigger()
    assert opened == [str(out)]


def test_objects_panel_says_when_attention_is_capped(qtbot, make_window):
    import types

    from spam_gui.app.panels import ObjectsPanel

    panel = ObjectsPanel()
    qtbot.addWidget(panel)

    def info(oid, salient, capped):
        return types.SimpleNamespace(id=oid, ratio=1.0, k=10, salient=salient, area=100,
                                     attention_capped=capped)

    res = types.SimpleNamespace(objects_info={1: info(1, False, True), 2: info(2, True, True)},
                                n_superpixels=20, superpixel_counts=lambda: {1: 10, 2: 10})
    panel.set_objects(res, 200, True)
    assert "attention capped" in panel.summary.text()
    res.objects_info = {1: info(1, False, False), 2: info(2, True, False)}
    panel.set_objects(res, 200, True)
    assert "capped" not in panel.summary.text()
