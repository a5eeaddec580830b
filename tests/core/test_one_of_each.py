"""Issue 21 item 4, "one of each", counted from the code with :mod:`ast`: one function hashes
files, one writes 16-bit PNGs, one stages multi-file writes, one verifies an output set, one model
cache, one dataset loader, one error family and one exit-code map, every default in
``core/params.py``."""

from __future__ import annotations

import ast
from pathlib import Path

import spam_gui

PKG = Path(spam_gui.__file__).resolve().parent


def _modules(*subdirs: str):
    for sub in subdirs:
        for path in sorted((PKG / sub).rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _rel(path: Path) -> str:
    return path.relative_to(PKG.parent).as_posix()


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _own_nodes(func: ast.AST):
    """The nodes of a function, not those of the functions nested in it."""
    todo = list(ast.iter_child_nodes(func))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def _call_name(node: ast.Call) -> str:
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f"hashlib.{f.attr}" if isinstance(f.value, ast.Name) and f.value.id == "hashlib" \
            else f".{f.attr}"
    return ""


def test_one_function_hashes_files():
    """A file is hashed in cache.hash_file only (hash_file_cached memoises it): no other
    function opens a file and feeds it to hashlib, or hashes ``x.read_bytes()``."""
    found = []
    for path, tree in _modules("."):
        for func in _functions(tree):
            calls = [n for n in _own_nodes(func) if isinstance(n, ast.Call)]
            names = {_call_name(c) for c in calls}
            hashes = any(n.startswith("hashlib.") for n in names)
            chunked = hashes and "open" in names and ".update" in names
            whole = any(_call_name(c).startswith("hashlib.")
                        and any(isinstance(a, ast.Call) and _call_name(a) in (".read_bytes", ".read")
                                for a in c.args) for c in calls)
            if chunked or whole:
                found.append(f"{_rel(path)}:{func.name}")
    assert found == ["spam_gui/core/io/cache.py:hash_file"]


def test_one_16bit_png_encoder():
    """image_io.encode_png16 is the only code that builds a 16-bit PNG (``Image.fromarray`` of a
    uint16 map); no OpenCV writer; the label maps, annotations and app rasters are its bytes."""
    import numpy as np

    from spam_gui.app.model.raster_store import encode_raster
    from spam_gui.core.annotation import Annotation, ClassList
    from spam_gui.core.annotation.files import encode_annotation
    from spam_gui.core.io.images import encode_png, encode_png16, write_label_png

    found = []
    for path, tree in _modules("."):
        for func in _functions(tree):
            for node in _own_nodes(func):
                if isinstance(node, ast.Call) and _call_name(node) == ".fromarray" \
                        and "uint16" in ast.unparse(node):
                    found.append(f"{_rel(path)}:{func.name}")
                if isinstance(node, ast.Call) and _call_name(node) in (".imwrite", ".imencode"):
                    found.append(f"{_rel(path)}:{func.name} (OpenCV)")
    assert found == ["spam_gui/core/io/images.py:encode_png16"]

    labels = (np.arange(12 * 9, dtype=np.int32).reshape(12, 9) * 601) % 65536
    assert encode_png(labels) == encode_png16(labels)
    assert encode_raster(labels) == encode_png16(labels, compress_level=1)
    cls = (labels % 3).astype(np.uint16)
    ann = Annotation(cls, cls * 1000)       # instance 1000 i has class i
    assert encode_annotation(ann, ClassList.from_names(["a", "b"]), "a")["instances"] \
        == encode_png16(ann.instance_map)
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        assert write_label_png(Path(d) / "a.png", labels).read_bytes() == encode_png16(labels)


def _sha256_compares(func: ast.AST) -> bool:
    """Whether a function compares something with a recorded ``"sha256"`` entry."""
    for node in _own_nodes(func):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                if "'sha256'" in ast.unparse(side) and not isinstance(side, ast.Constant):
                    return True
    return False


def test_one_staged_write_and_one_set_verifier():
    """Files are renamed into place by image_io only (StagedFiles for several files,
    atomic_write_bytes for one), and one function checks files against a sidecar's hashes."""
    renames, verifiers = [], []
    for path, tree in _modules("."):
        for func in _functions(tree):
            calls = {_call_name(n) for n in _own_nodes(func) if isinstance(n, ast.Call)}
            if {"commit_staged", ".commit_staged"} & calls:
                renames.append(f"{_rel(path)}:{func.name}")
            if _sha256_compares(func):
                verifiers.append(f"{_rel(path)}:{func.name}")
    assert sorted(renames) == ["spam_gui/core/io/images.py:__exit__",
                               "spam_gui/core/io/images.py:atomic_write_bytes"]
    assert verifiers == ["spam_gui/core/io/file_sets.py:verify_file_set"]


def test_the_output_set_is_the_file_set_with_its_expectations(tmp_path):
    """save_result writes through write_file_set: its sidecar records the same "files"."""
    import json

    import numpy as np

    from spam_gui.core.io.file_sets import verify_file_set
    from spam_gui.core.formats.export import OutputSetError, save_result, verify_output_set
    from spam_gui.core.engine.spam import Spam

    img = (np.random.default_rng(0).random((16, 20, 3)) * 255).astype(np.uint8)
    res = Spam(encoder=None, device="cpu").segment(img, n_segments=8)
    paths = save_result(tmp_path, "a", res, image=img)
    assert verify_output_set(tmp_path, "a") == verify_file_set(tmp_path, "a.json") \
        == json.loads(paths["sidecar"].read_text())
    paths["objects"].unlink()
    try:
        verify_output_set(tmp_path, "a")
    except OutputSetError as exc:
        assert "a_objects.png: missing" in str(exc) and "export again" in str(exc)
    else:
        raise AssertionError("a missing file passed")


def test_every_public_error_is_a_spam_error():
    """Every public class named ``...Error`` in core/, commands/ and samples.py derives from
    SpamError; the builtin bases callers catch are kept."""
    import importlib

    from spam_gui.core.errors import SpamError

    checked, outside = [], []
    trees = list(_modules("core", "commands"))
    trees.append((PKG / "samples.py", ast.parse((PKG / "samples.py").read_text())))
    for path, tree in trees:
        names = [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)
                 and n.name.endswith("Error") and not n.name.startswith("_")]
        if not names:
            continue
        mod = ".".join(path.relative_to(PKG.parent).with_suffix("").parts)
        module = importlib.import_module(mod.removesuffix(".__init__"))
        for name in names:
            cls = getattr(module, name)
            checked.append(name)
            if not issubclass(cls, SpamError):
                outside.append(f"{mod}.{name}")
    assert outside == [] and len(checked) >= 25

    from spam_gui.core.evaluation.evaluate import EvaluationError
    from spam_gui.core.formats.export import OutputFolderError
    from spam_gui.core.io.images import FileWriteError
    from spam_gui.core.io.locking import FolderLockedError
    from spam_gui.samples import SampleError

    for cls, base in ((FileWriteError, OSError), (OutputFolderError, OSError),
                      (SampleError, OSError), (FolderLockedError, RuntimeError),
                      (EvaluationError, RuntimeError)):
        assert issubclass(cls, base), cls
    err = FileWriteError(28, "No space left on device", "/x")   # still OSError's constructor
    assert (err.errno, err.filename, str(err)) == (28, "/x", "[Errno 28] No space left on device: '/x'")


def test_commands_return_the_exit_names_defined_once():
    """No command returns an integer literal (0, 1, 2, 130): they return EXIT_OK,
    EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED, assigned in core/errors.py only."""
    literal = []
    for path, tree in _modules("commands"):
        for node in ast.walk(tree):
            if isinstance(node, ast.Return) and node.value is not None:
                values = [node.value.body, node.value.orelse] \
                    if isinstance(node.value, ast.IfExp) else [node.value]
                if any(isinstance(v, ast.Constant) and type(v.value) is int for v in values):
                    literal.append(f"{_rel(path)}:{node.lineno}")
            if isinstance(node, ast.Compare) and "exit_code" in ast.unparse(node) \
                    and any(isinstance(c, ast.Constant) for c in node.comparators):
                literal.append(f"{_rel(path)}:{node.lineno}")
    assert literal == []
    assigned = []
    for path, tree in _modules("."):
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                assigned += [f"{_rel(path)}:{t.id}" for t in targets
                             if isinstance(t, ast.Name) and t.id.startswith("EXIT_")]
    assert sorted(assigned) == sorted(f"spam_gui/core/errors.py:{n}" for n in
                                      ("EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_INTERRUPTED"))


def _numeric(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    if isinstance(node, ast.BinOp):
        return _numeric(node.left) and _numeric(node.right)
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def test_control_ranges_and_cli_defaults_come_from_params():
    """The parameter controls' ranges and the clamping of a state file's parameters read
    core.params.RANGES (no numeric setRange / min(max(...)) left there); no command has a
    numeric default of its own (they read core.params)."""
    app = PKG / "app"
    found = []
    for rel in ("panels/controls.py", "panels/objects.py", "model/doc_data.py"):
        tree = ast.parse((app / rel).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _call_name(node)
            if name == ".setRange" and all(_numeric(a) for a in node.args) \
                    and not ast.unparse(node.func).endswith(("opacity.setRange",
                                                             "class_opacity.setRange")):
                found.append(f"{rel}:{node.lineno} {ast.unparse(node)}")
            if name == "min" and any(isinstance(a, ast.Call) and _call_name(a) == "max"
                                     and any(_numeric(b) for b in a.args) for a in node.args):
                found.append(f"{rel}:{node.lineno} {ast.unparse(node)}")
    for path, tree in _modules("commands"):
        rel = _rel(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _call_name(node) == ".add_argument" \
                    and ast.literal_eval(node.args[0]) != "--threads":   # 0: torch's own
                for kw in node.keywords:
                    if kw.arg == "default" and _numeric(kw.value):
                        found.append(f"{rel}:{node.lineno} {ast.unparse(node)[:60]}")
    assert found == []


def test_the_app_clamps_parameters_to_the_ranges():
    from spam_gui.app.model.doc_data import Params, normalise_ratio
    from spam_gui.core.params import RANGES, SAM_DEFAULTS
    from spam_gui.core.prior.sam.proposals import AmgParams

    names = ("n_segments", "lambda_s", "lambda_c", "n_iter", "smoothing", "attention_ratio",
             "coarseness")
    low = Params.from_dict({n: -1e9 for n in names})
    high = Params.from_dict({n: 1e9 for n in names})
    for n in names:
        assert (getattr(low, n), getattr(high, n)) == (RANGES[n].lo, RANGES[n].hi), n
    assert (normalise_ratio(0), normalise_ratio(1e9)) == (RANGES["object_ratio"].lo,
                                                          RANGES["object_ratio"].hi)
    amg = AmgParams()
    assert all(getattr(amg, f) == getattr(SAM_DEFAULTS, f) for f in amg.result_params())
    import inspect

    from spam_gui.core.evaluation import metrics
    from spam_gui.core.params import EVAL_DEFAULTS, TRAIN_DEFAULTS
    from spam_gui.core.training import TrainConfig

    assert inspect.signature(metrics.boundary_recall).parameters["r"].default \
        == EVAL_DEFAULTS.boundary_r

    cfg = TrainConfig()
    assert all(getattr(cfg, f) == getattr(TRAIN_DEFAULTS, f) for f in vars(cfg)
               if hasattr(TRAIN_DEFAULTS, f))


def test_one_model_cache():
    """Loaded models are kept by cache.ModelCache only: no module-level dict of the core or
    the commands holds models or engines, no function there is an lru_cache."""
    found = []
    for path, tree in _modules("core", "commands"):
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
                value = node.value
                if value is not None and any(k in n.lower() for n in names
                                             for k in ("model", "engine", "dino", "sam")) \
                        and (isinstance(value, ast.Dict) or (isinstance(value, ast.Call) and
                             _call_name(value) in ("dict", "OrderedDict"))):
                    found.append(f"{_rel(path)}:{names}")
        for func in _functions(tree):
            for dec in func.decorator_list:
                if any(w in ast.unparse(dec) for w in ("lru_cache", "functools.cache")):
                    found.append(f"{_rel(path)}:{func.name} {ast.unparse(dec)}")
    assert found == []


def test_model_cache_keeps_the_last_ones():
    from spam_gui.core.io.cache import ModelCache

    made = []
    c = ModelCache(2, room_first=True)
    for k in ("a", "b", "a", "c", "a"):
        c.get("m", (k,), lambda k=k: made.append(k) or k.upper())
    assert made == ["a", "b", "c"] and len(c) == 2 and c.loads() == {"m": 3}


def test_one_sample_class_one_dataset_loader_one_list_images():
    """One ``Sample`` class (core.datasets), training reads its splits through load_dataset,
    and ``list_images`` names image_io.list_images only (no alias of another function)."""
    samples, lists, aliases, globs = [], [], [], []
    for path, tree in _modules("."):
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == "Sample":
                samples.append(_rel(path))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                    and node.name == "list_images":
                lists.append(_rel(path))
            if isinstance(node, ast.alias) and node.asname == "list_images":
                aliases.append(_rel(path))
            if isinstance(node, ast.Call) and _call_name(node) == ".glob" and node.args \
                    and "_*" in ast.unparse(node.args[0]):
                globs.append(_rel(path))        # a ground-truth scan of its own
    assert samples == ["spam_gui/core/evaluation/datasets.py"]
    assert lists == ["spam_gui/core/io/images.py"] and aliases == [] and globs == []


def test_training_samples_are_dataset_samples(tmp_path):
    import numpy as np
    from PIL import Image

    from spam_gui.core.evaluation.datasets import Sample
    from spam_gui.core.training import load_split

    for sub in ("images", "gt"):
        (tmp_path / "val" / sub).mkdir(parents=True)
    img = np.full((6, 8, 3), 90, np.uint8)
    Image.fromarray(img).save(tmp_path / "val" / "images" / "a.png")
    for k in (0, 1):
        Image.fromarray(np.full((6, 8), k, np.uint8)).save(tmp_path / "val" / "gt" / f"a_{k}.png")
    (s,) = load_split(tmp_path, "val")
    assert isinstance(s, Sample) and s.id == "a" and np.array_equal(s.image, img)
    assert [int(g.max()) for g in s.gts] == [0, 1] and s.n_annotators == 2
    mem = Sample.from_arrays(img, [np.zeros((6, 8), np.int64)])
    assert mem.image is img and len(mem.gts) == 1
