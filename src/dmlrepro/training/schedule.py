"""What happens in each epoch of a cell: PCB, or PCB-RPP's two-stage schedule.

PCB-RPP (000_6bea8c3e96cdf0f5.txt Sec. 4.2): "we first train PCB for 40 epochs, and then train RPP
for another 60 epochs with weights initialized from PCB".  Within the RPP stage we follow Sun et al.
(2018)'s induced training: the first `rpp_classifier_epochs` train only the part classifier with
everything else fixed, then all layers are fine-tuned.  (The public RPP code freezes nothing.)
"""

from __future__ import annotations

from enum import Enum


class Phase(str, Enum):
    PCB = "pcb"
    RPP_CLASSIFIER = "rpp_classifier"
    RPP_FINETUNE = "rpp_finetune"


def phase_of(epoch: int, model: str, training: dict) -> Phase:
    if model != "pcb_rpp":
        return Phase.PCB
    rpp = training["pcb_rpp"]
    if epoch < rpp["pcb_epochs"]:
        return Phase.PCB
    if epoch < rpp["pcb_epochs"] + rpp["rpp_classifier_epochs"]:
        return Phase.RPP_CLASSIFIER
    return Phase.RPP_FINETUNE


def validate_schedule(model: str, training: dict) -> None:
    if model == "pcb_rpp":
        rpp = training["pcb_rpp"]
        if rpp["pcb_epochs"] + rpp["rpp_classifier_epochs"] >= training["epochs"]:
            raise ValueError(
                f"pcb_rpp: pcb_epochs ({rpp['pcb_epochs']}) + rpp_classifier_epochs "
                f"({rpp['rpp_classifier_epochs']}) must be fewer than epochs ({training['epochs']})"
            )
