"""Deep GA: neuroevolution with a genetic algorithm, compact seed encoding and novelty search.

Reference: Felipe Petroski Such, Vashisht Madhavan, Edoardo Conti, Joel Lehman, Kenneth O. Stanley,
Jeff Clune, "Deep Neuroevolution: Genetic Algorithms Are a Competitive Alternative for Training
Deep Neural Networks for Reinforcement Learning" (2017, arXiv:1712.06567).

Layout (Ray-free; numpy, torch optional):

- :mod:`.algorithm` -- the GA: truncation selection, Gaussian mutation, re-evaluated elite.
- :mod:`.encoding` -- individuals as seed lists; rebuilding weights with a per-worker cache.
- :mod:`.evaluate` -- the worker function given to ``ctx.pool.map_batches``: batched rollouts.
- :mod:`.policies` -- MLP policies with stacked weights, one forward pass for many individuals.
- :mod:`.envs` / :mod:`.maze` -- classic control and MinAtar as batches; a deceptive maze.
- :mod:`.novelty` -- behaviour characterizations, archive, k-NN novelty (GA-NS).
- :mod:`.settings`, :mod:`.workload`, :mod:`.method` -- the study-file settings, the trial's
  workload and the :class:`~searchlab.methods.base.Method`.
- :mod:`.replay` -- rebuild an elite from its seed file and play it, with a frame strip.
"""
