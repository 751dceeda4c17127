#!/usr/bin/python3
"""Trains the sample model of the squant demo and writes it as safetensors.

A small CNN on scikit-learn's 8x8 handwritten digits (1797 images, 10
classes): conv 1->16 3x3, conv 16->32 3x3, 2x2 max-pool, fc 512->64,
fc 64->10, ReLU between, with biases. Seeded and single-threaded, so a rerun
gives the same weights on the same torch build.

Needs Debian's python3-torch and python3-sklearn (scripts/packages-sample.txt):
    scripts/install-deps.sh sample
    /usr/bin/python3 samples/train_sample.py
Writes samples/digits_cnn.safetensors (F32 weights) and
samples/digits_test.safetensors (the held-out images "images" F32
[n,1,8,8], scaled to [0,1], and their "labels" I32 [n]).
samples/digits_eval (built as squant-digits-eval) runs the same network in
C++ for the demo, with no torch.
"""

import json
import os
import struct

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0
EPOCHS = 40


class DigitsCnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = torch.nn.Linear(32 * 4 * 4, 64)
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


def write_safetensors(path, tensors, metadata):
    """The safetensors layout: u64 header length, JSON header, raw bytes."""
    dtypes = {np.float32: "F32", np.int32: "I32"}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        data = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtypes[array.dtype.type],
                        "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for blob in blobs:
            out.write(blob)


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.25, random_state=SEED, stratify=labels)

    model = DigitsCnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = torch.from_numpy(x_train), torch.from_numpy(y_train)
    generator = torch.Generator().manual_seed(SEED)
    for epoch in range(EPOCHS):
        model.train()
        for batch in torch.randperm(len(x), generator=generator).split(64):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(x_test)).argmax(1).numpy()
    accuracy = float((predicted == y_test).mean())
    print(f"float accuracy on {len(y_test)} held-out digits: {accuracy:.4f}")

    provenance = {
        "source": "samples/train_sample.py",
        "dataset": "sklearn.datasets.load_digits (8x8, scaled to [0,1])",
        "torch": torch.__version__,
        "seed": str(SEED),
        "epochs": str(EPOCHS),
        "float_accuracy": f"{accuracy:.4f}",
    }
    weights = {name: value.detach().numpy()
               for name, value in model.state_dict().items()}
    write_safetensors(os.path.join(HERE, "digits_cnn.safetensors"), weights,
                      provenance)
    write_safetensors(os.path.join(HERE, "digits_test.safetensors"),
                      {"images": x_test,
                       "labels": y_test.astype(np.int32)}, provenance)


if __name__ == "__main__":
    main()
