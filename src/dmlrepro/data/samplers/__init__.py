"""Batch samplers for training (002_e585b7ac4801a221.txt, Sec. 4.3-4.4): the P x K identity
sampler that triplet mining within a mini-batch needs."""

from dmlrepro.data.samplers.identity_sampler import (
    DEFAULT_NUM_IDENTITIES,
    DEFAULT_NUM_INSTANCES,
    SAMPLER_MODES,
    SMALL_IDENTITY_RULES,
    PKIdentitySampler,
)

__all__ = [
    "DEFAULT_NUM_IDENTITIES",
    "DEFAULT_NUM_INSTANCES",
    "SAMPLER_MODES",
    "SMALL_IDENTITY_RULES",
    "PKIdentitySampler",
]
