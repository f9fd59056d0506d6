"""FedImpro (Tang et al., ICLR 2024): measuring and improving client update in federated learning.

Modules: ``data`` (images shipped in packages; CIFAR-10 / FMNIST / SVHN through manifests),
``partition`` (Dirichlet "LDA" split), ``model`` (split models), ``features`` (per-class feature
estimator, sampler and distribution aggregation), ``methods`` (FedAvg, FedProx, SCAFFOLD, FedImpro
client objectives and server steps), ``federation`` (the deterministic in-process loop),
``lightning`` (the local objective as a LightningModule), ``metrics`` (gradient dissimilarity,
weight divergence, conditional Wasserstein distance), ``flower`` (Flower Strategy + ClientApp),
``experiments`` and ``plots`` (what the notebooks call).
"""
