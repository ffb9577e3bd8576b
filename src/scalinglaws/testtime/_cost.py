r"""What one sample costs: compute, memory traffic, or money.

Following Kinetics (Sadhukhan et al. 2025, "Kinetics: Rethinking Test-Time Scaling Laws",
arXiv:2506.05333), a sample of $T$ generated tokens after a prompt of $P$ tokens, from a
dense transformer with $N$ (non-embedding) parameters, $L$ layers, attention width $d$
(query heads x head size) and key/value width $d_{kv}$ (KV heads x head size), costs

- compute: $2 N T$ for the matrix multiplications plus $4 L d\,\sum_{t=1}^{T}(P + t)$
  for attention scores and values over the growing context, i.e.
  $F = 2NT + 4Ld\,(PT + T(T+1)/2)$ FLOPs;
- memory traffic: every generated token reads the whole KV cache, $2 L d_{kv}(P + t)$
  values of `bytes_per_value` bytes, so $M = 2 L d_{kv} b\,(PT + T(T+1)/2)$ bytes, plus the
  weights, $N b / \text{batch}$ bytes per token, shared by a batch of sequences.

Kinetics measures both in *effective FLOPs*, $F + I \cdot M$, with $I$ the accelerator's
arithmetic intensity (peak FLOP/s over memory bandwidth, bytes): KV-cache reads make long
generations from small models far more expensive than $2NT$ suggests, which is why
Kinetics finds small models less efficient at test time than FLOP counts imply. The
default $I = 295$ FLOP/byte is an H100 SXM (989 dense BF16 TFLOP/s over 3.35 TB/s, from
NVIDIA's datasheet). A price per generated (and prompt) token is the alternative unit.

For $k$ trials of one query (Best-of-$k$), [`kinetics_cost`][] is Kinetics' published
cost, in which the prompt's KV cache is read once per generated position and shared by
all trials, and attention compute and KV reads grow quadratically with the generation
length (Sadhukhan et al. 2025, Section 3, eq. 2):

$$C = \underbrace{2kPL_\text{out}}_\text{linear layers}
    + \underbrace{2rkL_\text{in}DL_\text{out} + rkDL_\text{out}^2}_\text{attention compute}
    + \underbrace{I\,b\,(L_\text{in}DL_\text{out} + \tfrac12 kDL_\text{out}^2)}_\text{KV reads},$$

with $P$ the (active, non-embedding) parameters, $L_\text{in}$ the prompt and
$L_\text{out}$ the generated length, $D = 2\,n_\text{layers}d_{kv}$ the KV values per
token, $r = d/d_{kv}$ the GQA ratio and $b$ bytes per value. With $b = 2$ (16-bit KV) the
memory term is the paper's $2IL_\text{in}DL_\text{out} + IkDL_\text{out}^2$. Weight
reads are left out, as in the paper (amortised over a large batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Arithmetic intensity of an NVIDIA H100 SXM: 989e12 FLOP/s (dense BF16) / 3.35e12 B/s.
H100_INTENSITY = 989e12 / 3.35e12


def _positive(value, name: str, *, allow_zero: bool = False) -> float:
    value = float(value)
    ok = value >= 0 if allow_zero else value > 0
    if not (np.isfinite(value) and ok):
        raise ValueError(
            f"{name}={value!r}: must be {'non-negative' if allow_zero else 'positive'} and finite."
        )
    return value


@dataclass(frozen=True)
class ModelCost:
    r"""Architecture numbers that set the cost of a sample (Kinetics, Sadhukhan et al. 2025).

    **Fields:**

    - `N`: non-embedding parameters.
    - `n_layers`: $L$. `d_attn`: query width $d$ (heads x head size). `d_kv`: key/value
        width $d_{kv}$ (KV heads x head size; smaller than `d_attn` with grouped-query attention).
    - `bytes_per_value`: 2 for 16-bit weights and KV cache.
    - `batch`: sequences decoded together (shares the weight reads).
    - `price_per_token`, `price_per_prompt_token`: optional money per generated / prompt token.
    """

    N: float
    n_layers: int
    d_attn: int
    d_kv: int
    bytes_per_value: float = 2.0
    batch: int = 64
    price_per_token: float | None = None
    price_per_prompt_token: float = 0.0

    def __post_init__(self):
        _positive(self.N, "N")
        for name in ("n_layers", "d_attn", "d_kv", "batch"):
            _positive(getattr(self, name), name)
        _positive(self.bytes_per_value, "bytes_per_value")
        if self.price_per_token is not None:
            _positive(self.price_per_token, "price_per_token", allow_zero=True)
        _positive(self.price_per_prompt_token, "price_per_prompt_token", allow_zero=True)

    def flops(self, tokens, prompt=0.0):
        """Compute per sample: $2NT + 4Ld(PT + T(T+1)/2)$ FLOPs."""
        T, P = np.asarray(tokens, float), np.asarray(prompt, float)
        return 2.0 * self.N * T + 4.0 * self.n_layers * self.d_attn * (P * T + T * (T + 1) / 2)

    def memory_bytes(self, tokens, prompt=0.0):
        """Memory traffic per sample: KV-cache reads plus the sample's share of weight reads."""
        T, P = np.asarray(tokens, float), np.asarray(prompt, float)
        kv = 2.0 * self.n_layers * self.d_kv * self.bytes_per_value * (P * T + T * (T + 1) / 2)
        weights = self.N * self.bytes_per_value * T / self.batch
        return kv + weights

    def effective_flops(self, tokens, prompt=0.0, *, intensity: float = H100_INTENSITY):
        """Kinetics's effective FLOPs per sample: $F + I\\,M$."""
        intensity = _positive(intensity, "intensity", allow_zero=True)
        return self.flops(tokens, prompt) + intensity * self.memory_bytes(tokens, prompt)

    def price(self, tokens, prompt=0.0):
        """Money per sample: price per generated token x T + price per prompt token x P."""
        if self.price_per_token is None:
            raise ValueError(
                "price: this ModelCost has no price_per_token; set it to cost samples in money."
            )
        return self.price_per_token * np.asarray(
            tokens, float
        ) + self.price_per_prompt_token * np.asarray(prompt, float)


def kinetics_cost(
    model: ModelCost,
    trials,
    tokens,
    prompt=0.0,
    *,
    intensity: float = H100_INTENSITY,
):
    r"""Kinetics' cost of `trials` samples of `tokens` generated tokens after one shared
    prompt of `prompt` tokens, in effective FLOPs (Sadhukhan et al. 2025, arXiv:2506.05333,
    eq. 2; see the module docstring for the formula).

    Unlike `trials * sample_cost(...)`, the prompt's KV reads are paid once per query,
    not once per trial.

    **Arguments:** `model`, a [`ModelCost`][]; `trials` $k \ge 1$; `tokens`
    $L_\text{out} > 0$; `prompt` $L_\text{in} \ge 0$; `intensity` $I$ (FLOP/byte).

    **Returns:** effective FLOPs (float64 array broadcast over the arguments).
    """
    k = np.asarray(trials, float)
    T = np.asarray(tokens, float)
    P = np.asarray(prompt, float)
    if not np.all(np.isfinite(k)) or (k < 1).any():
        raise ValueError(f"trials={k.tolist()!r}: need at least one trial (finite).")
    if not np.all(np.isfinite(T)) or (T <= 0).any():
        raise ValueError(f"tokens={T.tolist()!r}: generation length must be positive and finite.")
    if not np.all(np.isfinite(P)) or (P < 0).any():
        raise ValueError(f"prompt={P.tolist()!r}: prompt length must be >= 0 and finite.")
    intensity = _positive(intensity, "intensity", allow_zero=True)
    D = 2.0 * model.n_layers * model.d_kv  # KV values per token
    r = model.d_attn / model.d_kv  # GQA ratio
    linear = 2.0 * k * model.N * T
    attention = 2.0 * r * k * P * D * T + r * k * D * T**2
    kv_reads = intensity * model.bytes_per_value * (P * D * T + 0.5 * k * D * T**2)
    return linear + attention + kv_reads


def sample_cost(
    model: ModelCost, tokens, prompt=0.0, *, unit: str = "eflops", intensity: float = H100_INTENSITY
):
    """Cost of one sample of `tokens` generated tokens after `prompt` tokens, in `unit`:
    `"flops"` (compute only), `"eflops"` (Kinetics's effective FLOPs, default), `"bytes"`
    (memory traffic) or `"price"`.
    """
    tokens = np.asarray(tokens, float)
    if not np.all(np.isfinite(tokens)) or (tokens <= 0).any():
        raise ValueError(f"tokens={tokens.tolist()!r}: generation length must be positive.")
    prompt = np.asarray(prompt, float)
    if not np.all(np.isfinite(prompt)) or (prompt < 0).any():
        raise ValueError(f"prompt={prompt.tolist()!r}: prompt length must be >= 0.")
    if unit == "flops":
        return model.flops(tokens, prompt)
    if unit == "eflops":
        return model.effective_flops(tokens, prompt, intensity=intensity)
    if unit == "bytes":
        return model.memory_bytes(tokens, prompt)
    if unit == "price":
        return model.price(tokens, prompt)
    raise ValueError(f"unit={unit!r}: expected 'flops', 'eflops', 'bytes' or 'price'.")
