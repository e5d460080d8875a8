"""A hierarchy-aware PyTorch loss built from hiercog's tensors (docs/python.md, part 2).

Run: pip install torch; python python/examples/torch_loss.py   (after `pip install ./python`)

HXE and soft-label losses written in PyTorch from LabelTree's numpy arrays (torch.from_numpy
shares their memory), checked against hiercog's own loss values, then used to train a linear
classifier for a few steps.
"""

import numpy as np
import torch
import torch.nn.functional as F

from hiercog.losses import LabelTree

# dog, house cat, tiger, lion, sports car, convertible, pizza, espresso
labels = ["n02084071", "n02121808", "n02129604", "n02129165", "n04285008", "n03100240",
          "n07873807", "n07920052"]
tree = LabelTree(labels)
M = torch.from_numpy(tree.leaf_ancestor_matrix())          # (C, N): softmax @ M = node probabilities
K = torch.from_numpy(tree.hxe_path_coefficients(0.1))      # (C, N): HXE = sum_n K[t, n] log P(n)
Y = torch.from_numpy(tree.soft_labels(10.0))               # (C, C): soft targets, row t for class t


def hxe(logits, targets):
    p_nodes = (logits.softmax(dim=1) @ M).clamp_min(torch.finfo(logits.dtype).tiny)
    return (K[targets] * p_nodes.log()).sum(dim=1).mean()


def soft_labels(logits, targets):
    return F.kl_div(logits.log_softmax(dim=1), Y[targets], reduction="batchmean")


g = torch.Generator().manual_seed(0)
logits = torch.randn(32, len(labels), generator=g)
targets = torch.randint(len(labels), (32,), generator=g)
for name, loss, recipe in [("HXE", hxe, "hxe:0.1"), ("soft labels", soft_labels, "soft:10")]:
    ours = loss(logits, targets).item()
    theirs = tree.loss(recipe, logits.numpy(), targets.numpy())
    print(f"{name}: torch {ours:.7f}  hiercog {theirs:.7f}  |difference| {abs(ours - theirs):.1e}")
    assert abs(ours - theirs) <= 1e-6 * max(1.0, abs(theirs))

# Training with it: a linear classifier on random features, HXE as the loss.
x = torch.randn(256, 16, generator=g)
y = torch.randint(len(labels), (256,), generator=g)
model = torch.nn.Linear(16, len(labels))
opt = torch.optim.Adam(model.parameters(), lr=0.05)
for step in range(50):
    opt.zero_grad()
    value = hxe(model(x), y)
    value.backward()
    opt.step()
print(f"HXE after 50 Adam steps: {value.item():.5f} (hiercog: "
      f"{tree.loss('hxe:0.1', model(x).detach().numpy(), y.numpy()):.5f} at the final weights)")
