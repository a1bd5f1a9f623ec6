"""Where a dataset lives under a data root and what it must hold, with one-line layout errors that
name the path, the expected layout and the fix: shared by the retrieval loaders
(``dmlrepro.data.retrieval``) and AiA-Net's additional re-ID loaders (``dmlrepro.data.reid_extra``);
each subclass names its generator module and its error type."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NoReturn

from dmlrepro.data.reid_dataset import DatasetLayoutError


@dataclass(frozen=True)
class FolderLayout:
    """``subdirs`` are the places, relative to the data root and preferred first, where the dataset
    folder may be (``"."``: the root is the dataset folder); ``subdirs[0]`` is the canonical one,
    which the generator writes. ``required`` are the files and folders (relative to the dataset
    folder; a trailing ``/`` marks a folder) that identify it: the first candidate holding any
    of them is the dataset folder, and it must then hold all of them. ``contents`` describes the
    expected layout in words for error messages.
    """

    #: the module whose `--variant <name> --out <root>` writes the embedded stand-in
    generator_module: ClassVar[str] = ""
    error_type: ClassVar[type[DatasetLayoutError]] = DatasetLayoutError

    name: str
    subdirs: tuple[str, ...]
    required: tuple[str, ...]
    contents: str

    @property
    def canonical_subdir(self) -> str:
        return self.subdirs[0]

    def expected(self) -> str:
        """The expected layout, in words, on one line."""
        text = f"<root>/{self.canonical_subdir}/ holding {self.contents}"
        others = [f"<root>/{d}" for d in self.subdirs[1:] if d != "."]
        if "." in self.subdirs[1:]:
            others.append("<root> itself")
        if others:
            text += " (or that folder at " + " or ".join(others) + ")"
        return text

    def generate_hint(self, root: Path) -> str:
        return (f"run `python -m {self.generator_module} --variant {self.name} --out {root}` to "
                "generate the embedded data")

    def fail(self, root: Path, path: Path | str, problem: str, fix: str | None = None) -> NoReturn:
        """Raise the one-line layout error (`error_type`) for ``path``."""
        fix = fix or f"re-extract the dataset archive or {self.generate_hint(root)}"
        message = f"{self.name}: {problem}: {path}; expected {self.expected()}; {fix}"
        raise self.error_type(" ".join(message.split("\n")))
