"""PyTorch peer for `graft bench`: the same work on torchvision's definitions with random weights.

Usage: python3 torch_bench.py <train-step|input-grad|forward> <model> <batch> <threads> <warmup> <iterations>
Prints one JSON object with msPerImage and the timed steps. Run with Debian's /usr/bin/python3 (python3-torch).
  train-step: model.train(), cross-entropy on one-hot labels, backward w.r.t. every weight, SGD momentum 0.9.
  input-grad: model.eval(), torch.autograd.grad of one logit per image w.r.t. the input.
"""
import json
import statistics
import sys
import time

import torch
import torchvision

what, name, batch, threads, warmup, iterations = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = getattr(torchvision.models, name)(weights=None)
x = torch.rand(batch, 3, 224, 224) * 2 - 1
labels = torch.arange(batch) % 1000

if what == 'train-step':
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), labels).backward()
        opt.step()
elif what == 'input-grad':
    model.eval()

    def step():
        xi = x.clone().requires_grad_(True)
        logit = model(xi).gather(1, labels[:, None]).sum()
        torch.autograd.grad(logit, xi)
elif what == 'forward':
    model.eval()

    def step():
        with torch.no_grad():
            model(x)
else:
    raise SystemExit(f'unknown kind {what}')

for _ in range(warmup):
    step()
times = []
for _ in range(iterations):
    t = time.perf_counter()
    step()
    times.append((time.perf_counter() - t) * 1000)
median = statistics.median(times)
print(json.dumps({'what': what, 'model': name, 'batch': batch, 'threads': threads, 'peer': f'pytorch {torch.__version__}',
                  'medianMs': median, 'msPerImage': median / batch, 'imagesPerSecond': 1000 * batch / median, 'timesMs': times}))
