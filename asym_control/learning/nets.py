"""
Small MLPs in NumPy with hand-written backward passes, and Adam on a flat parameter vector.

Why NumPy and not torch: at the paper's sizes (2 x 8 to 2 x 256 units, batch 256) the wall time
of a SAC update is set by per-operation overhead, not arithmetic (about 1 us per NumPy op
against 5-10 us per eager torch op on this class of CPU). Every parameter of a network lives in
one contiguous float32 vector, so the optimiser and the Polyak update are a handful of vector
operations. The gradients are checked against torch autograd in test/test_nets.py.

An `MLP` can hold an ensemble of K identical-shape networks evaluated in one batched matmul
per layer: SAC's twin critics are one MLP with K=2.
"""

from __future__ import annotations

import mmap

import numpy as np

ACTIVATIONS = ("relu", "tanh")
DTYPE = np.float32


class MLP:
    """K parallel MLPs with layer sizes `sizes` (input, hidden..., output)."""

    def __init__(self, sizes: list[int], activation: str = "relu", ensemble: int = 1,
                 rng: np.random.Generator | None = None):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.sizes = [int(s) for s in sizes]
        self.activation = activation
        self.ensemble = int(ensemble)
        k = self.ensemble
        shapes = []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
            shapes.append((k, n_in, n_out))
            shapes.append((k, 1, n_out))
        self.shapes = shapes
        total = sum(int(np.prod(s)) for s in shapes)
        self.theta = np.zeros(total, dtype=DTYPE)
        self.grad = np.zeros(total, dtype=DTYPE)
        self.params = self._views(self.theta)
        self.grads = self._views(self.grad)
        if rng is not None:
            self.init(rng)

    def _views(self, flat: np.ndarray) -> list[np.ndarray]:
        views, offset = [], 0
        for shape in self.shapes:
            n = int(np.prod(shape))
            views.append(flat[offset:offset + n].reshape(shape))
            offset += n
        return views

    def init(self, rng: np.random.Generator) -> None:
        """Initialise as PyTorch's nn.Linear does: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases."""
        for i, (n_in, _) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            bound = 1.0 / np.sqrt(n_in)
            for p in (self.params[2 * i], self.params[2 * i + 1]):
                p[...] = rng.uniform(-bound, bound, size=p.shape).astype(DTYPE)

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def forward(self, x: np.ndarray, keep: bool = False):
        """
        x: (B, in) shared by all K members, or (K, B, in).

        Returns (K, B, out) [and a cache].
        """
        cache = [x]
        h = x
        last = self.n_layers - 1
        for i in range(self.n_layers):
            w, b = self.params[2 * i], self.params[2 * i + 1]
            z = np.matmul(h, w)
            z += b
            if i < last:
                if self.activation == "relu":
                    relu_(z)
                else:
                    np.tanh(z, out=z)
            h = z
            if keep:
                cache.append(h)
        return (h, cache) if keep else h

    def backward(self, cache: list[np.ndarray], dout: np.ndarray, need_input_grad: bool = False,
                 accumulate: bool = False):
        """
        Back-propagate dout (K, B, out) through the cached forward pass.

        Writes parameter gradients into self.grad (added to it if `accumulate`) and returns the
        gradient with respect to the input, (K, B, in), when asked for.
        """
        if not accumulate:
            self.grad.fill(0.0)
        delta = dout
        for i in range(self.n_layers - 1, -1, -1):
            h_in = cache[i]
            gw, gb = self.grads[2 * i], self.grads[2 * i + 1]
            h_in_t = np.swapaxes(h_in, -1, -2)
            gw += np.matmul(h_in_t, delta) if h_in.ndim == 3 else np.matmul(h_in_t[None], delta)
            gb += delta.sum(axis=1, keepdims=True)
            if i == 0 and not need_input_grad:
                return None
            delta = _times_transpose(delta, self.params[2 * i])
            if i > 0:
                h = cache[i]  # activation output of layer i-1
                if self.activation == "relu":
                    delta *= h > 0
                else:
                    delta *= 1.0 - h * h
        return delta

    def input_grad(self, cache: list[np.ndarray], dout: np.ndarray) -> np.ndarray:
        """Gradient with respect to the input only (no parameter gradients written)."""
        delta = dout
        for i in range(self.n_layers - 1, -1, -1):
            delta = _times_transpose(delta, self.params[2 * i])
            if i > 0:
                h = cache[i]
                if self.activation == "relu":
                    delta *= h > 0
                else:
                    delta *= 1.0 - h * h
        return delta

    def share(self) -> None:
        """
        Move the parameters into anonymous shared memory.

        A forked learner process and this process then see the same weights (the learner
        writes, the actor here reads).
        """
        self.theta = shared_array(self.theta)
        self.params = self._views(self.theta)

    def copy_from(self, other: "MLP") -> None:
        self.theta[...] = other.theta

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.theta": self.theta}

    def load_state(self, tensors: dict[str, np.ndarray], prefix: str) -> None:
        value = tensors[f"{prefix}.theta"]
        if value.shape != self.theta.shape:
            raise ValueError(f"{prefix}: expected {self.theta.shape[0]} parameters, "
                             f"checkpoint has {value.shape[0]}")
        self.theta[...] = value


def relu_(z: np.ndarray) -> None:
    """max(z, 0) in place, bit for bit np.maximum(z, 0.0)."""
    # NumPy's maximum against a scalar runs a loop several times slower than against an array of
    # the same shape (measured: 71 us against 15 us on a 2 x 256 x 128 float32 batch, zeros
    # included); tiny inference batches keep the scalar, where the zeros would cost more
    np.maximum(z, np.zeros(z.shape, DTYPE) if z.size >= 4096 else 0.0, out=z)


def _times_transpose(delta: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Return delta @ w^T for each ensemble member: (K, B, out) x (K, in, out) -> (K, B, in)."""
    if w.shape[-1] == 1:   # a one-unit output layer: the product is an outer one, exact as a broadcast
        return delta * np.swapaxes(w, -1, -2)   # (matmul's k=1 loop is 3-7x slower here)
    return np.matmul(delta, np.swapaxes(w, -1, -2))


class Adam:
    """torch.optim.Adam (defaults betas=(0.9, 0.999), eps=1e-8) on one flat float32 vector."""

    def __init__(self, theta: np.ndarray, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.theta = theta
        self.lr = float(lr)
        self.b1, self.b2 = betas
        self.eps = eps
        self.m = np.zeros_like(theta)
        self.v = np.zeros_like(theta)
        self.t = 0
        self._tmp = np.empty_like(theta)

    def step(self, grad: np.ndarray) -> None:
        self.t += 1
        b1, b2, tmp = self.b1, self.b2, self._tmp
        self.m *= b1
        self.m += (1.0 - b1) * grad
        self.v *= b2
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - b2
        self.v += tmp
        bc1 = 1.0 - b1 ** self.t
        bc2 = 1.0 - b2 ** self.t
        np.sqrt(self.v, out=tmp)
        tmp *= 1.0 / np.sqrt(bc2)
        tmp += self.eps
        np.divide(self.m, tmp, out=tmp)
        tmp *= self.lr / bc1
        self.theta -= tmp

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.m": self.m, f"{prefix}.v": self.v,
                f"{prefix}.t": np.array([self.t], dtype=np.int64)}

    def load_state(self, tensors: dict[str, np.ndarray], prefix: str) -> None:
        self.m[...] = tensors[f"{prefix}.m"]
        self.v[...] = tensors[f"{prefix}.v"]
        self.t = int(tensors[f"{prefix}.t"][0])


def shared_array(like: np.ndarray, copy: bool = True) -> np.ndarray:
    """
    `like` in anonymous MAP_SHARED memory (zeros unless `copy`): visible to processes forked afterwards.

    Pages are only touched when written, so a large empty buffer costs nothing.
    """
    buf = mmap.mmap(-1, max(like.nbytes, 1))
    out = np.frombuffer(buf, dtype=like.dtype, count=like.size).reshape(like.shape)
    if copy:
        out[...] = like
    return out
