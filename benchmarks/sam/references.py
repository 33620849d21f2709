"""PyTorch references of the SAM suite (trusted side; called with the inputs and dims)."""

from __future__ import annotations

import torch


def spmv(A, x, **_):
    return A @ x


def matmul(A, B, **_):
    return A @ B


def sddmm(M, Q, K, **_):
    return M * (Q @ K.T)


def add(A, B, **_):
    return A + B


def mul(A, B, **_):
    return A * B


def mttkrp(B, C, D, **_):
    return torch.einsum("ikl,kj,lj->ij", B, C, D)


def ttv(B, c, **_):
    return torch.einsum("ijk,k->ij", B, c)


def gcn_layer(A, X, W1, b1, **_):
    return torch.relu(A @ X @ W1 + b1)


def gcn_two_layers(A, X, W1, b1, W2, b2, **_):
    h = torch.relu(A @ X @ W1 + b1)
    return torch.softmax(A @ h @ W2 + b2, dim=1)


def graphsage_layer(Am, X, Ws, Wn, b, **_):
    return torch.relu(X @ Ws + (Am @ X) @ Wn + b)


def sparse_autoencoder(X, W1, b1, W2, b2, **_):
    return torch.relu(X @ W1 + b1) @ W2 + b2


def _masked_scores(M, Q, K):
    scores = (Q @ K.T) * (1.0 / 8.0)
    return scores.masked_fill(M == 0, float("-inf"))


def bigbird_attention(M, Q, K, V, U, **_):
    """Block-sparse attention of one head: softmax over the mask's entries (scores scaled
    by 1/8), written as (E V) / (E U) with E = exp(masked scores); U is all ones, which
    makes the denominator the softmax's row sum."""
    e = torch.exp(_masked_scores(M, Q, K))
    return (e @ V) / (e @ U)


def bigbird_attention_rowsum(M, Q, K, V, **_):
    return torch.softmax(_masked_scores(M, Q, K), dim=1) @ V


def spmv_relu_bias(A, x, b, **_):
    return torch.relu(A @ x + b)


def graphsage_two_layers(Am, X, Ws1, Wn1, b1, Ws2, Wn2, b2, **_):
    h = torch.relu(X @ Ws1 + (Am @ X) @ Wn1 + b1)
    return h @ Ws2 + (Am @ h) @ Wn2 + b2
