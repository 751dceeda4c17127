"""Weights for the tests: seeded, shaped like a small CNN's state_dict."""

import numpy as np


def small_cnn(seed=0):
    """A state_dict-like mapping with conv, depthwise and linear weights (F32
    and F16, odd kernel sizes for packing), and tensors squant-cli copies
    unchanged (biases, batch-norm statistics, an int64 counter)."""
    rng = np.random.default_rng(seed)
    return {
        "conv1.weight": rng.normal(0, 0.2, (16, 3, 3, 3)).astype(np.float32),
        "conv1.bias": rng.normal(0, 0.1, 16).astype(np.float32),
        "bn1.running_var": rng.uniform(0.5, 2, 16).astype(np.float32),
        "bn1.num_batches_tracked": np.array(1200, dtype=np.int64),
        "conv2.weight": rng.laplace(0, 0.05, (32, 16, 3, 3)).astype(np.float16),
        "depthwise.weight": rng.uniform(-1, 1, (32, 1, 5, 5)).astype(np.float32),
        "fc.weight": rng.normal(0, 0.02, (10, 289)).astype(np.float32),
        "fc.bias": np.zeros(10, dtype=np.float32),
    }


def many_layers(count, shape=(64, 64, 3, 3), seed=1):
    rng = np.random.default_rng(seed)
    return {f"layer{i}.weight": rng.normal(0, 0.1, shape).astype(np.float32) for i in range(count)}


def lazy_layers(count, shape=(1024, 1024), seed=2):
    """`count` layers of `shape` F32 that take memory only when streamed:
    read-only broadcasts of one random row, made contiguous (copied) by the
    client one layer at a time."""
    rng = np.random.default_rng(seed)
    row = rng.normal(0, 0.1, shape[1:]).astype(np.float32)
    return {f"big{i}.weight": np.broadcast_to(row * (i + 1), shape) for i in range(count)}
