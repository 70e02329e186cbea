"""Performance prediction with early stopping.

Reproduces the learning-curve early stopping of Baker, Gupta, Raskar & Naik, "Accelerating Neural
Architecture Search using Performance Prediction" (ICLR workshop 2018, arXiv:1705.10823):

* :mod:`~searchlab.predictive.features` turns a trial's partial curve and configuration into a
  feature vector (curve, first and second differences, hyperparameters, number of epochs seen);
* :mod:`~searchlab.predictive.predictor` fits one regressor per number of observed epochs on
  finished curves (nu-SVR with an RBF kernel by default) and estimates its spread from
  cross-validated residuals or a small ensemble;
* :mod:`~searchlab.predictive.rule` stops a trial when the Gaussian probability that its final
  value beats the best final value so far falls below a threshold;
* :mod:`~searchlab.predictive.core` keeps the decisions on every trial, free of Ray (tested on
  fake trials); :mod:`~searchlab.predictive.scheduler` is its Ray Tune adapter (alone, or inside
  Hyperband brackets, the paper's second setting) and :mod:`~searchlab.predictive.factory` its
  study-file settings and binding.

Beyond the paper, the predictor can be warm-started from curves of earlier studies
(:mod:`~searchlab.predictive.curves`), its probabilities calibrated on held-out residuals
(:mod:`~searchlab.predictive.calibration`), and a prior trained on other tasks' curves
(:mod:`~searchlab.predictive.prior`) can decide before the study has finished trials of its own
(docs/predictive.md). ``model: pfn`` replaces the regressor by a learning-curve PFN trained here
on synthetic curves (:mod:`~searchlab.predictive.curve_prior`, :mod:`~searchlab.predictive.pfn`,
:mod:`~searchlab.predictive.pfn_rule`; weights in ``searchlab/data/pfn_curves.pt``), one branch
of ``factory.build_rule`` on the same Ray adapter. Only the scheduler imports Ray; this
package's ``__init__`` imports nothing, so reading the settings needs neither Ray, scikit-learn
nor torch.
"""
