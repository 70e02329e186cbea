"""Self-Tuning Networks (MacKay et al., ICLR 2019) and Delta-STN (Bae & Grosse, NeurIPS 2020).

Ray-free modules: :mod:`.layers` (STN layers), :mod:`.hyper` (hyperparameters, perturbations,
REINFORCE), :mod:`.augment` (batched augmentations), :mod:`.models`, :mod:`.train`
(hypertraining and fixed-value training), :mod:`.settings`; :mod:`.method` is the searchlab method.
"""
