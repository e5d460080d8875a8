"""The type stubs describe exactly what the extension module has, so editors complete every call."""

import ast
from pathlib import Path

import hiercog
from hiercog import _hiercog

STUBS = ast.parse((Path(hiercog.__file__).parent / "_hiercog.pyi").read_text())
ALIASES = {"Path", "Progress", "Features", "Labels", "Concepts", "Measure", "Convention"}


def test_every_public_name_has_a_stub_and_every_stub_an_object():
    stubbed = {n.name for n in STUBS.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    stubbed |= {n.target.id for n in STUBS.body if isinstance(n, ast.AnnAssign)}
    public = {n for n in dir(_hiercog) if not n.startswith("_")} | {"__version__"}
    assert public == stubbed
    assert {n.targets[0].id for n in STUBS.body if isinstance(n, ast.Assign)} == ALIASES


def test_every_method_has_a_stub():
    for cls in STUBS.body:
        if isinstance(cls, ast.ClassDef) and not issubclass(getattr(_hiercog, cls.name), Exception):
            stubbed = {f.name for f in cls.body if isinstance(f, ast.FunctionDef)}
            public = {n for n in dir(getattr(_hiercog, cls.name)) if not n.startswith("_")}
            assert public == stubbed - {"__init__", "__len__", "__contains__"}, cls.name
