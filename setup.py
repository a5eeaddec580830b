"""Build configuration that pyproject.toml cannot express: the top-level ``resources/`` folder
(the shipped encoder, the built-in prior's edge model, the sample set, the icons) goes into the
wheel and the sdist as the package ``spam_gui._resources``, found at run time by
:mod:`spam_gui.core.io.resources`. Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent
RESOURCES = "resources"
RES_PKG = "spam_gui._resources"


def _resource_packages() -> list[str]:
    """``spam_gui._resources`` and one package per subfolder (``…_resources.samples.priors``):
    data in folders setuptools treats as packages, so it warns about none of them."""
    src = ROOT / RESOURCES
    if not src.is_dir():
        raise SystemExit(f"setup.py: {src} is missing: the package would ship without its models")
    subdirs = sorted(p.relative_to(src) for p in src.rglob("*")
                     if p.is_dir() and not p.name.startswith((".", "__")))
    return [RES_PKG] + [".".join((RES_PKG, *d.parts)) for d in subdirs]


res_packages = _resource_packages()
setup(
    packages=find_packages(include=["spam_gui", "spam_gui.*"]) + res_packages,
    package_dir={RES_PKG: RESOURCES},
    package_data={pkg: ["*"] for pkg in res_packages},
)
