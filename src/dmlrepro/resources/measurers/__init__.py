"""Per-model resource measurers, one file per model family; importing this package imports every
module in it, and each registers itself with ``dmlrepro.resources.registry.register_measurer``.
A new model family adds a file here, nothing else.

* ``pcb``    — PCB / PCB-RPP with SA, CSA or CSALR (CSALR Table 5, CSA Table 6);
* ``aianet`` — AiA-Net (AiA-Net Tables 2, 3, 4, 8).
"""

from __future__ import annotations

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
