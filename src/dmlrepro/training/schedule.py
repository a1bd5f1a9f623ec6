"""What happens in each epoch of a cell: PCB, or PCB-RPP's two-stage schedule.

PCB-RPP (000_6bea8c3e96cdf0f5.txt Sec. 4.2): "we first train PCB for 40 epochs, and then train RPP
for another 60 epochs with weights initialized from PCB".  The CSALR paper says nothing more about
the RPP stage, so within it we follow Sun et al. (2018)'s induced training: the first
`rpp_classifier_epochs` train only the part classifier "with all the other layers fixed", then
"the whole net is fine-tuned".  We read "fixed" as a fixed function: the frozen layers' parameters
are not updated *and* they run in eval mode (BN normalises with its running statistics and does not
update them, dropout is off), and each phase starts with a fresh optimizer, so no momentum from the
PCB phase moves the classifier, and none from the classifier phase the fine-tuning.  (The public
RPP code freezes nothing.)
"""

from __future__ import annotations

from enum import Enum

from dmlrepro.errors import UserError


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
            raise UserError(
                f"pcb_rpp: pcb_epochs ({rpp['pcb_epochs']}) + rpp_classifier_epochs "
                f"({rpp['rpp_classifier_epochs']}) must be fewer than epochs ({training['epochs']}); "
                "change pcb_rpp or epochs in config/presets/<paper>.yaml"
            )
