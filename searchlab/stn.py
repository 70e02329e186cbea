"""Self-Tuning Networks as a library: what a user's own STN model and data are written with.

    from searchlab.stn import StnModel, StnConv2d, StnLinear, Split, augment

- :class:`StnModel`: the base class (its docstring and docs/stn.md, "On your own problem", give
  the protocol: ``HYPERS``, ``forward(x, values, e)``, optionally ``train_forward``).
- :class:`StnLinear`, :class:`StnConv2d`, :class:`StnLSTMCell`: layers whose units respond to
  the hyperparameters through the embedding ``e`` (:class:`HyperEmbedding`, built by
  ``StnModel``); ``hyper=False`` gives the plain layer.
- :func:`example_dropout` (and ``StnModel.drop``): dropout at one rate per example.
- :mod:`augment`: batched augmentations with one strength per example (noise, shift, cutout,
  CutMix).
- :class:`Split`: what a data function returns.
- :func:`hypertrain` / :func:`train_fixed`: run STN, or the plain network, in this process.

A study names the model class and the data function (``method: {name: stn, model:
"mymodel:Net", data: "mydata:load", path: .}``); ``searchlab run`` does the rest.
"""

from searchlab.methods.stn import augment
from searchlab.methods.stn.hyper import HyperSpec
from searchlab.methods.stn.layers import (
    HyperEmbedding,
    StnConv2d,
    StnLinear,
    StnLSTMCell,
    example_dropout,
)
from searchlab.methods.stn.models import LossFn, StnModel
from searchlab.methods.stn.problem import Split
from searchlab.methods.stn.settings import STNSettings
from searchlab.methods.stn.train import hypertrain, train_fixed

__all__ = ["HyperEmbedding", "HyperSpec", "LossFn", "STNSettings", "Split", "StnConv2d",
           "StnLSTMCell", "StnLinear", "StnModel", "augment", "example_dropout", "hypertrain",
           "train_fixed"]
