"""Image transforms for re-ID training and testing.

The CSALR paper (000_6bea8c3e96cdf0f5.txt, Sec. 4.2) resizes to 384x128 and uses "random
horizontal flipping with 0.5 and normalization". The public CSA/CSALR code also applies
RandomErasing (p=0.5, area 0.02-0.2, aspect ratio >= 0.3, random Gaussian fill;
implementation-facts.md §1), offered here as an option that is off by default.
"""

from __future__ import annotations

from torchvision import transforms as T

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_transforms(height: int, width: int, train: bool, random_erasing: bool = False) -> T.Compose:
    """PIL image -> normalised ``(3, height, width)`` tensor.

    Training adds a random horizontal flip (p=0.5) and, if ``random_erasing``, RandomErasing after
    normalisation (so its Gaussian fill matches the normalised pixel statistics). Erasing is
    never applied at test time.
    """
    steps: list = [T.Resize((height, width), interpolation=T.InterpolationMode.BILINEAR)]
    if train:
        steps.append(T.RandomHorizontalFlip(p=0.5))
    steps += [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    if train and random_erasing:
        # Aspect ratio 0.3..1/0.3, as in Zhong et al.'s RandomErasing used by open-reid/CSA.
        steps.append(T.RandomErasing(p=0.5, scale=(0.02, 0.2), ratio=(0.3, 1 / 0.3), value="random"))
    return T.Compose(steps)
