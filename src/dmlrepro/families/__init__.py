"""Model families (``dmlrepro.tasks.family.ModelFamily``), one module each: importing this package
imports every module in it, and each registers its family.  A new paper's model is one new file
here."""

from __future__ import annotations

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
