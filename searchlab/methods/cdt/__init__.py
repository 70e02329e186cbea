"""CDT: online continuous hyperparameter tuning of contextual bandits.

Reference: Yue Kang, Cho-Jui Hsieh, Thomas C. M. Lee et al., "Online Continuous Hyperparameter
Optimization for (Generalized Linear) Contextual Bandits" (2023; CDT = Continuous Dynamic Tuning).

A double-layer bandit: every round the top layer, Zooming Thompson Sampling with restarts over the
(scaled) continuous hyperparameter space, picks the hyperparameters (e.g. the exploration rate) of
the bottom-layer contextual bandit, which then plays one arm; the observed reward feeds both layers.

Layout (the algorithm is numpy only and knows nothing of Ray):

- :mod:`.bandits` -- the bottom layer: LinUCB, LinTS, UCB-GLM, GLM-TS and a two-hyperparameter
  LinUCB (exploration rate and regularisation), with O(d^2) rank-1 (Sherman-Morrison) updates.
- :mod:`.environments` -- synthetic linear / logistic / non-stationary bandits and classification
  data sets turned into bandits.
- :mod:`.tuners` -- the top layer: Zooming TS with restarts (CDT), the theoretical rate, OP (TS over
  a finite set) and TL (EXP3 over the set), each as defined here and as the paper's authors'
  code defines it, fixed values (for the best-fixed-in-hindsight oracle).
- :mod:`.simulate` -- one run of (environment, bandit, tuner, seed) -> regret curve.
- :mod:`.settings` / :mod:`.adapter` -- the study-file settings and the method (its trials, their
  workload and the analysis; driven through Ray Tune by `searchlab.execution`).
"""
