"""FedImpro (Tang et al., ICLR 2024): measuring and improving client update in federated learning.

Modules: ``data`` (images shipped in packages; CIFAR-10 / FMNIST / SVHN through manifests and
torchvision's readers), ``partition`` (Dirichlet "LDA" split), ``model`` (split models),
``features`` (per-class feature estimator, sampler and distribution aggregation), ``methods``
(FedAvg, FedProx, SCAFFOLD, FedNova and FedImpro client objectives and server rules),
``federation`` (the deterministic in-process loop), ``lightning`` (the local objective as a
LightningModule), ``metrics`` (gradient dissimilarity, weight divergence, conditional Wasserstein
distance), ``flower`` (Flower Strategy + ClientApp), ``experiments`` (cached grids of runs),
``plan`` (a grid's estimated time), ``paper`` (the paper's numbers), ``claims``, ``plots`` and
``gpu_smoke`` (the chapter's GPU check).
"""
