"""Private torch and skorch helpers shared by ``models`` and ``translation``.

The two siblings never import each other; what both need lives here, below
them: the Gaussian distance expansion (used by the pure ``torch.nn.Module``
nets, which import nothing from the estimators), and the training policy of the
skorch-backed estimators (seeding, the composition-grouped validation split,
early stopping and the learning-rate schedule, shared parameter constraints and
net settings).
"""
