"""The PyTorch side of benches/train_cost.rs: forward + backward of one 3x3 convolution and of a
torchvision-shaped ResNet-18 of width W, on the same shapes, CPU, printing the same JSON lines.

    python3 compare_pytorch.py [width 16] [size 64] [batch 64] [iters 5]

Needs `pip install torch` (CPU is enough). Threads: torch's default (all cores), as candle's.
"""
import json
import sys
import time

import torch
import torch.nn as nn


def basic_block(cin, cout, stride):
    down = None
    if stride != 1 or cin != cout:
        down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = down

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            y = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(y)) + idt)

    return Block()


def resnet18(width):
    layers = [nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = width
    for stage in range(4):
        cout = width << stage
        for b in range(2):
            layers.append(basic_block(cin, cout, 2 if stage > 0 and b == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


def timed(iters, f):
    f()
    t0 = time.perf_counter()
    for _ in range(iters):
        f()
    return (time.perf_counter() - t0) / iters


def main():
    a = sys.argv[1:]
    width = int(a[0]) if len(a) > 0 else 16
    size = int(a[1]) if len(a) > 1 else 64
    batch = int(a[2]) if len(a) > 2 else 64
    iters = int(a[3]) if len(a) > 3 else 5
    torch.manual_seed(0)
    hw = size // 4
    x = torch.randn(batch, width, hw, hw, requires_grad=True)
    w = (torch.randn(width, width, 3, 3) * 0.1).requires_grad_()

    def conv_fwd():
        with torch.no_grad():
            torch.nn.functional.conv2d(x, w, padding=1)

    def conv_fwd_bwd():
        torch.nn.functional.conv2d(x, w, padding=1).sum().backward()

    print(json.dumps({"what": "conv3x3", "shape": [batch, width, hw, hw], "forward_s": timed(iters, conv_fwd),
                      "forward_backward_s": timed(iters, conv_fwd_bwd)}))
    net = resnet18(width).train()
    images = torch.randn(batch, 3, size, size)

    def net_fwd():
        with torch.no_grad():
            net(images)

    def net_fwd_bwd():
        net(images).square().sum().backward()

    fb = timed(iters, net_fwd_bwd)
    print(json.dumps({"what": f"resnet18-w{width}", "size": size, "batch": batch, "forward_s": timed(iters, net_fwd),
                      "forward_backward_s": fb, "images_per_s": batch / fb}))


if __name__ == "__main__":
    main()
