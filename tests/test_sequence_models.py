"""Every sequence model: parallel = step by step, resets = fresh starts, gradients, jit."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import memorax.testing
from memorax.networks import MLP, RNN, SequenceModelWrapper, heads, init
from memorax.networks.blocks import FFN, GatedResidual, PostNorm, PreNorm, Residual, Stack
from memorax.networks.sequence_models import (
    FFM,
    GRU,
    LRU,
    LSTM,
    MLSTM,
    S5,
    SLSTM,
    DeltaNet,
    GatedDeltaNet,
    LinearAttention,
    Mamba,
    Mamba2,
    MinGRU,
    MinLSTM,
    SelfAttention,
)
from memorax.networks.sequence_models.delta_net import chunked_delta_rule, delta_rule_step
from memorax.networks.sequence_models.ffm import DECAY_MAX, DECAY_MIN
from memorax.networks.sequence_models.self_attention import alibi_slopes

BATCH, TIME, FEATURES = 3, 12, 8
TOL = dict(rtol=2e-4, atol=2e-5)

MODELS = {
    "lstm": lambda: RNN(nnx.LSTMCell(FEATURES, 16, rngs=nnx.Rngs(0))),
    "gru": lambda: RNN(nnx.GRUCell(FEATURES, 16, rngs=nnx.Rngs(0))),
    "optimized_lstm": lambda: RNN(nnx.OptimizedLSTMCell(FEATURES, 16, rngs=nnx.Rngs(0))),
    "simple": lambda: RNN(nnx.SimpleCell(FEATURES, 16, rngs=nnx.Rngs(0))),
    "mamba": lambda: Mamba(hidden_dim=16),
    "mamba2": lambda: Mamba2(16, state_dim=4, head_dim=8, chunk_size=5),  # chunks shorter than the sequence
    "s5": lambda: S5(hidden_dim=16, state_dim=16),
    "s5_same_width": lambda: S5(hidden_dim=FEATURES, state_dim=8),
    "lru": lambda: LRU(hidden_dim=16),
    "mingru": lambda: MinGRU(16),
    "minlstm": lambda: MinLSTM(16),
    "linear_attention": lambda: LinearAttention(num_heads=2, head_dim=4),
    "ffm": lambda: FFM(16, memory_dim=4, context_dim=3),
    "delta_net": lambda: DeltaNet(num_heads=2, head_dim=4, chunk_size=5),  # chunks shorter than the sequence
    "gated_delta_net": lambda: GatedDeltaNet(num_heads=2, head_dim=4, chunk_size=5),
    "mlstm": lambda: MLSTM(8, num_heads=2, chunk_size=5),  # chunks shorter than the sequence
    "slstm": lambda: SLSTM(8, num_heads=2),
    # A context shorter than the sequence, so the window slides within a call.
    "attention": lambda: SelfAttention(num_heads=2, head_dim=4, context_length=5),
    "attention_alibi": lambda: SelfAttention(num_heads=2, head_dim=4, context_length=5, positional="alibi"),
    # context 8: queries in blocks of 2, each against 10 keys, for calls longer than 2 steps
    "attention_alibi_blocks": lambda: SelfAttention(num_heads=2, head_dim=4, context_length=8, positional="alibi"),
    "attention_learned": lambda: SelfAttention(num_heads=2, head_dim=4, context_length=5, positional="learned"),
    "attention_no_position": lambda: SelfAttention(num_heads=2, head_dim=3, context_length=5, positional=None),
    "gtrxl": lambda: Stack(
        blocks=[
            GatedResidual(PreNorm(SelfAttention(num_heads=2, head_dim=4, context_length=5))),
            GatedResidual(PreNorm(FFN(hidden_dim=32))),
        ]
    ),
    "post_norm": lambda: PostNorm(Residual(LRU(hidden_dim=FEATURES))),
    "stack": lambda: Stack(
        blocks=[
            PreNorm(Residual(SelfAttention(num_heads=2, head_dim=4, context_length=5))),
            PreNorm(Residual(FFN(hidden_dim=32))),
            Residual(PreNorm(Mamba(hidden_dim=FEATURES))),
            LRU(hidden_dim=FEATURES),
        ]
    ),
}


def make_inputs(seed=0):
    rng = np.random.default_rng(seed)
    inputs = jnp.asarray(rng.normal(size=(BATCH, TIME, FEATURES)), jnp.float32)
    done = rng.random((BATCH, TIME)) < 0.2
    done[0, 5] = True
    done[1, :] = False
    return inputs, jnp.asarray(done)


def causal_conv_in_numpy(stored, x, done, kernel):
    """A bias-free depthwise causal convolution in float64 over each episode's steps, after the ``stored`` inputs of
    the previous call until the first start: the convolved ``x`` ``[B, T, D]`` and the next stored inputs."""
    width = kernel.shape[0]
    stored, kernel = np.asarray(stored, np.float64), np.asarray(kernel, np.float64)
    window = np.concatenate([stored, x], axis=1)  # [B, width - 1 + T, D]
    convolved, next_stored = np.zeros_like(x), np.zeros_like(stored)
    for b in range(x.shape[0]):
        start = -(width - 1)
        for t in range(x.shape[1]):
            start = t if done[b, t] else start
            for lag in range(width):
                if t - lag >= start:
                    convolved[b, t] += kernel[width - 1 - lag] * window[b, width - 1 + t - lag]
        visible = [s for s in range(x.shape[1] - width + 1, x.shape[1]) if s >= start]
        next_stored[b, width - 1 - len(visible) :] = window[b, [width - 1 + s for s in visible]]
    return convolved, next_stored


def random_carry(model, seed):
    return memorax.testing.random_carry(model, BATCH, jax.random.key(seed))


def allclose(a, b):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(np.asarray(x), np.asarray(y), **TOL), a, b)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_keeps_the_sequence_model_contract(name):
    """memorax.testing's check: parallel = step by step, chunks = one call, a reset = a fresh start, the memory used,
    gradients reaching every parameter, jit = eager, finite over long sequences; through SequenceModelWrapper."""
    long_time = 512 if name.startswith("attention") or name in ("stack", "gtrxl") else 4096  # softmax attention is O(T^2)
    model = SequenceModelWrapper(MODELS[name]())
    memorax.testing.check_sequence_model(model, features=FEATURES, batch_size=BATCH, time=TIME, long_time=long_time)


@pytest.mark.parametrize("cell", [nnx.LSTMCell, nnx.GRUCell])
def test_rnn_equals_cell_by_hand(cell):
    rnn = RNN(cell(FEATURES, 16, rngs=nnx.Rngs(3)))
    inputs, done = make_inputs()
    carry = random_carry(rnn, 10)
    final, outputs = rnn(inputs, done, carry)

    initial = rnn.cell.initialize_carry((1, FEATURES), rngs=nnx.Rngs(0))
    for b in range(BATCH):
        c = jax.tree.map(lambda x: x[b : b + 1], carry)
        for t in range(TIME):
            if done[b, t]:
                c = initial
            c, y = rnn.cell(c, inputs[b : b + 1, t])
            np.testing.assert_allclose(outputs[b, t], y[0], **TOL)
        allclose(jax.tree.map(lambda x: x[b : b + 1], final), c)


def test_the_gated_residuals_parameters_are_strongly_typed():
    # A weakly typed parameter becomes strongly typed in its first update, and a jitted update then compiles twice.
    model = MODELS["gtrxl"]()
    inputs, done = make_inputs()
    init(model, 0, inputs, done, model.initialize_carry(BATCH))
    assert not any(leaf.weak_type for leaf in jax.tree.leaves(nnx.state(model, nnx.Param)))


class MatrixCell(nnx.RNNCellBase):
    """A user's cell whose carry is a matrix per sequence, ``[B, BATCH, hidden]``: h' = h / 2 + W x."""

    def __init__(self, in_features: int, hidden_features: int, *, rngs: nnx.Rngs):
        self.in_features, self.hidden_features = in_features, hidden_features
        self.kernel = nnx.Linear(in_features, BATCH * hidden_features, rngs=rngs)

    def __call__(self, carry, inputs):
        carry = carry / 2 + self.kernel(inputs).reshape(carry.shape)
        return carry, carry.sum(1)

    def initialize_carry(self, input_shape, rngs=None):
        return jnp.ones((input_shape[0], BATCH, self.hidden_features))

    @property
    def num_feature_axes(self) -> int:
        return 1


def test_an_rnn_resets_a_cells_carry_of_any_rank_along_its_batch_axis():
    # A carry [B, B, hidden] broadcasts with a reset flag [B, 1] along its second axis without an error.
    model = SequenceModelWrapper(RNN(MatrixCell(FEATURES, 4, rngs=nnx.Rngs(0))))
    memorax.testing.check_sequence_model(model, features=FEATURES, batch_size=BATCH, time=TIME, long_time=64)


@pytest.mark.parametrize("cell", [nnx.GRUCell, nnx.LSTMCell, nnx.OptimizedLSTMCell])
def test_the_fused_paths_and_their_gradients_equal_the_cell_stepped_and_differentiated_by_jax(cell):
    """RNN runs NNX's GRU and LSTM cells through gru_scan and lstm_scan (input projection hoisted, written backward
    pass): outputs, final carry and the gradients of the cell's parameters, the inputs and the starting carry equal
    JAX's through the cell step by step, with resets."""
    rnn = RNN(cell(FEATURES, 16, rngs=nnx.Rngs(3)))
    inputs, done = make_inputs()
    carry = random_carry(rnn, 10)
    keys = jax.random.split(jax.random.key(1), 3)
    out_weights = jax.random.normal(keys[0], (BATCH, TIME, 16))
    carry_weights = [jax.random.normal(key, leaf.shape) for leaf, key in zip(jax.tree.leaves(carry), keys[1:])]

    def stepped(rnn, inputs, carry):
        initial, outputs = rnn.initialize_carry(BATCH), []
        for t in range(TIME):
            carry = jax.tree.map(lambda start, value: jnp.where(done[:, t, None], start, value), initial, carry)
            carry, y = rnn.cell(carry, inputs[:, t])
            outputs.append(y)
        return carry, jnp.stack(outputs, axis=1)

    def gradients(run):
        def loss(rnn, inputs, carry):
            final, outputs = run(rnn, inputs, carry)
            return jnp.sum(outputs * out_weights) + sum(jnp.sum(a * b) for a, b in zip(jax.tree.leaves(final), carry_weights))

        return nnx.value_and_grad(loss, argnums=(0, 1, 2))(rnn, inputs, carry)

    allclose(rnn(inputs, done, carry), stepped(rnn, inputs, carry))
    allclose(gradients(lambda rnn, inputs, carry: rnn(inputs, done, carry)), gradients(stepped))


@pytest.mark.parametrize("lazy, cell", [(GRU, nnx.GRUCell), (LSTM, nnx.OptimizedLSTMCell)], ids=["gru", "lstm"])
def test_lazy_rnns_are_the_guides_rnn_of_their_cell(lazy, cell):
    """``GRU(16)`` is ``RNN(nnx.GRUCell(F, 16))`` built from its input: the same cell class, widths and outputs."""
    inputs, done = make_inputs()
    model = lazy(16)
    init(model, 2, inputs, done, model.initialize_carry(BATCH))
    assert type(model.cell) is cell and (model.cell.in_features, model.cell.hidden_features) == (FEATURES, 16)
    guide = RNN(cell(FEATURES, 16, rngs=nnx.Rngs(0)))
    nnx.update(guide.cell, nnx.state(model.cell))
    allclose(model(inputs, done, model.initialize_carry(BATCH)), guide(inputs, done, guide.initialize_carry(BATCH)))


@pytest.mark.parametrize("scan", ["associative_scan", "sequential_scan"])
def test_linear_recurrence_gradient_equals_autodiff_of_the_loop(scan, monkeypatch):
    """The recurrence and its custom backward scan against JAX differentiating a plain loop, complex and with resets,
    on both of its paths: the associative scan an accelerator runs and the loop over time a CPU runs."""
    from memorax.networks.sequence_models import linear_recurrence as module
    from memorax.networks.sequence_models.linear_recurrence import (
        linear_recurrence,
        recurrence_step,
    )

    monkeypatch.setattr(module, "_scan", getattr(module, scan))

    def loop(a, b, done, h0):
        hs, h = [], h0
        for t in range(a.shape[1]):
            h = recurrence_step(a[:, t], b[:, t], done[:, t], h)
            hs.append(h)
        return jnp.stack(hs, axis=1)

    keys = jax.random.split(jax.random.key(0), 6)
    shape = (BATCH, TIME, 5)
    a = jnp.exp(-jax.random.uniform(keys[0], shape) + 1j * jax.random.normal(keys[1], shape))
    b = jax.random.normal(keys[2], shape) + 1j * jax.random.normal(keys[3], shape)
    h0 = jax.random.normal(keys[4], (BATCH, 5)).astype(jnp.complex64)
    weights = jax.random.normal(keys[5], shape)
    _, done = make_inputs()

    def grads(recurrence):
        loss = lambda a, b, h0: jnp.sum((recurrence(a, b, done, h0) * weights).real)
        return jax.grad(loss, argnums=(0, 1, 2))(a, b, h0)

    allclose(linear_recurrence(a, b, done, h0), loop(a, b, done, h0))
    allclose(grads(linear_recurrence), grads(loop))


def test_mamba2s_chunked_ssd_is_the_scalar_decay_recurrence():
    """h_t = exp(Δ_t a_h) h_{t-1} + Δ_t x_t B_tᵀ per head (0 before an episode start), y_t = h_t C_t, in numpy float64,
    against chunks of 8 over 23 steps from a nonzero state."""
    from memorax.networks.sequence_models.mamba2 import chunked_ssd

    steps, heads, p, n = 23, 3, 2, 4
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, steps, heads, p))
    dt = np.log1p(np.exp(rng.normal(size=(BATCH, steps, heads))))
    a = -rng.uniform(1, 16, size=heads)
    b, c = rng.normal(size=(BATCH, steps, n)), rng.normal(size=(BATCH, steps, n))
    done = rng.random((BATCH, steps)) < 0.15
    done[1, 8] = True  # an episode starting with a chunk
    h0 = rng.normal(size=(BATCH, heads, p, n))
    h, expected = h0.copy(), np.zeros_like(x)
    for t in range(steps):
        h = np.where(done[:, t, None, None, None], 0.0, h) * np.exp(dt[:, t] * a)[..., None, None]
        h = h + dt[:, t, :, None, None] * x[:, t, :, :, None] * b[:, t, None, None, :]
        expected[:, t] = np.einsum("bhpn,bn->bhp", h, c[:, t])
    as32 = lambda v: jnp.asarray(v, jnp.float32)
    y, final = chunked_ssd(*(as32(v) for v in (x, dt, a, b, c)), jnp.asarray(done), as32(h0), chunk_size=8)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(final, h, rtol=1e-4, atol=1e-4)


def test_every_size_below_one_is_refused_naming_the_module_and_the_size():
    """A zero width raised ZeroDivisionError in an initialiser, a negative one a broadcasting error inside XLA, and an
    empty Stack or a zero-action head was built; now each is named before anything is drawn."""
    refused = {
        "Mamba2: chunk_size is 0": lambda: Mamba2(16, chunk_size=0),
        "Mamba2: conv_width is 0": lambda: Mamba2(16, conv_width=0),
        "Mamba: hidden_dim is 0": lambda: Mamba(hidden_dim=0),
        "LinearAttention: chunk_size is 0": lambda: LinearAttention(num_heads=2, head_dim=4, chunk_size=0),
        "DeltaNet: conv_width is 0": lambda: DeltaNet(num_heads=2, head_dim=4, conv_width=0),
        "GatedDeltaNet: num_heads is 0": lambda: GatedDeltaNet(num_heads=0, head_dim=4),
        "MLSTM: conv_width is 0": lambda: MLSTM(8, conv_width=0),
        "MLSTM: chunk_size is 0": lambda: MLSTM(8, chunk_size=0),
        "SLSTM: num_heads is 2.0": lambda: SLSTM(8, num_heads=2.0),
        "FFM: chunk_size is 0": lambda: FFM(16, chunk_size=0),
        "GRU: hidden_dim is 0": lambda: GRU(0),
        "LSTM: hidden_dim is 0": lambda: LSTM(0),
        "MinGRU: hidden_dim is 0": lambda: MinGRU(0),
        "MinLSTM: hidden_dim is -1": lambda: MinLSTM(-1),
        "S5: state_dim is 0": lambda: S5(16, state_dim=0),
        "LRU: hidden_dim is -1": lambda: LRU(hidden_dim=-1),
        "SelfAttention: context_length is 0": lambda: SelfAttention(num_heads=2, head_dim=4, context_length=0),
        "SelfAttention: head_dim is -2": lambda: SelfAttention(num_heads=2, head_dim=-2),
        "FFN: hidden_dim is 0": lambda: FFN(hidden_dim=0),
        "MLP: features[1] is -2": lambda: MLP(features=(8, -2)),
        "Categorical: action_dim is 0": lambda: heads.Categorical(0),
        "DiscreteQNetwork: action_dim is -2": lambda: heads.DiscreteQNetwork(-2),
        "Gaussian: action_dim is 0": lambda: heads.Gaussian(0),
        "SquashedGaussian: action_dim is 0": lambda: heads.SquashedGaussian(0),
    }
    for message, make in refused.items():
        with pytest.raises(ValueError, match=re.escape(message) + r"; expected a positive integer\.$"):
            make()
    with pytest.raises(ValueError, match=r"^Stack: blocks is empty; expected at least one block\.$"):
        Stack([])


def test_selective_scan_and_its_gradient_equal_a_plain_loop_across_chunks_and_resets():
    """Mamba's chunked scan with its hand-written backward pass, against JAX differentiating the recurrence written as a
    loop, over 37 steps (chunks of 16 and a padded one) with resets, a final-state loss and a nonzero first state."""
    from memorax.networks.sequence_models.selective_scan import CHUNK, selective_scan

    steps, d, n = 37, 5, 3
    assert steps % CHUNK and steps > 2 * CHUNK
    keys = jax.random.split(jax.random.key(0), 9)
    dt = jax.nn.softplus(jax.random.normal(keys[0], (BATCH, steps, d)))
    x = jax.random.normal(keys[1], (BATCH, steps, d))
    b, c = jax.random.normal(keys[2], (BATCH, steps, n)), jax.random.normal(keys[3], (BATCH, steps, n))
    a = -jnp.exp(jax.random.normal(keys[4], (d, n)))
    done = jax.random.bernoulli(keys[5], 0.1, (BATCH, steps))
    h0 = jax.random.normal(keys[6], (BATCH, d, n))
    weights, final_weights = jax.random.normal(keys[7], (BATCH, steps, d)), jax.random.normal(keys[8], (BATCH, d, n))

    def loop(dt, x, b, c, a, done, h0):
        h, ys = h0, []
        for t in range(steps):
            h = jnp.exp(dt[:, t, :, None] * a) * jnp.where(done[:, t, None, None], 0, h) + (dt * x)[:, t, :, None] * b[:, t, None]
            ys.append(jnp.einsum("bdn,bn->bd", h, c[:, t]))
        return jnp.stack(ys, axis=1), h

    def grads(scan):
        def loss(dt, x, b, c, a, h0):
            y, h = scan(dt, x, b, c, a, done, h0)
            return jnp.sum(y * weights) + jnp.sum(h * final_weights)

        return jax.value_and_grad(loss, argnums=tuple(range(6)))(dt, x, b, c, a, h0)

    allclose(selective_scan(dt, x, b, c, a, done, h0), loop(dt, x, b, c, a, done, h0))
    allclose(grads(selective_scan), grads(loop))


@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
def test_minimal_rnns_follow_the_papers_equations(kind):
    """minGRU and minLSTM (Feng et al. 2024, equations 3 and 4) step by step in numpy, with a reset zeroing h."""
    model = MinGRU(16) if kind == "mingru" else MinLSTM(16)
    inputs, done = make_inputs()
    carry = random_carry(model, 11)
    init(model, 4, inputs, done, carry)
    final, outputs = model(inputs, done, carry)

    sigmoid = lambda x: 1 / (1 + np.exp(-x))
    kernel, bias = np.asarray(model.projection.kernel[...]), np.asarray(model.projection.bias[...])
    h = np.asarray(carry, np.float64)
    for t in range(TIME):
        h = np.where(np.asarray(done[:, t])[:, None], 0.0, h)
        projections = np.split(np.asarray(inputs[:, t], np.float64) @ kernel + bias, 3 if kind == "minlstm" else 2, axis=-1)
        if kind == "mingru":
            z, candidate = sigmoid(projections[0]), projections[1]
            h = (1 - z) * h + z * candidate
        else:
            f, i, candidate = sigmoid(projections[0]), sigmoid(projections[1]), projections[2]
            h = f / (f + i) * h + i / (f + i) * candidate
        np.testing.assert_allclose(outputs[:, t], h, **TOL)
    np.testing.assert_allclose(final, h, **TOL)


def test_minlstm_stays_finite_where_both_gates_vanish():
    """With both pre-activations far below zero, f / (f + i) of the sigmoids is 0/0 (below -88 in float32) and its
    gradient overflows (below -45); the normalised gate is the limit e^f̃ / (e^f̃ + e^ĩ), with finite gradients."""
    model = MinLSTM(1)
    forget = jnp.array([-30.0, -60.0, -100.0, 40.0])
    input_ = forget - jnp.array([1.0, -2.0, 0.5, 3.0])
    decay, _ = model.combine([forget, input_, jnp.ones(4)])
    difference = np.asarray(forget - input_, np.float64)
    np.testing.assert_allclose(decay[:3], 1 / (1 + np.exp(-difference[:3])), rtol=1e-6)  # σ(f̃ - ĩ) for f̃, ĩ << 0
    np.testing.assert_allclose(decay[3], 0.5, rtol=1e-6)  # both gates saturated at 1
    gradient = jax.grad(lambda f, i: jnp.sum(model.combine([f, i, jnp.ones(4)])[0]), argnums=(0, 1))(forget, input_)
    assert all(bool(jnp.isfinite(g).all()) for g in gradient)
    np.testing.assert_allclose(gradient[0][:3], (decay * (1 - decay))[:3], rtol=1e-5)


@pytest.mark.parametrize("chunk_size", [32, 5], ids=["one-chunk", "chunks-of-5"])
def test_linear_attention_follows_katharopoulos_by_hand(chunk_size):
    """Per head: S += φ(k) vᵀ, z += φ(k), o = φ(q)ᵀS / (φ(q)ᵀz + 1e-6) with φ = elu + 1, both zeroed at an episode start.

    In chunks of 5, the 12 steps are two whole chunks and a padded one, with episode starts inside chunks
    and, in the second sequence, only at the first step of the last chunk.
    """
    model = LinearAttention(num_heads=2, head_dim=4, chunk_size=chunk_size)
    inputs, done = make_inputs()
    done = done.at[1, 10].set(True)
    init(model, 5, inputs, done, model.initialize_carry(BATCH))
    carry = random_carry(model, 12)
    final, outputs = model(inputs, done, carry)

    phi = lambda x: np.where(x > 0, x + 1, np.exp(x))
    projection = np.asarray(model.query_key_value.kernel[...], np.float64)
    out_kernel, out_bias = np.asarray(model.out_proj.kernel[...]), np.asarray(model.out_proj.bias[...])
    state = np.asarray(carry, np.float64)
    S, z = state[..., :-1], state[..., -1]
    for t in range(TIME):
        reset = np.asarray(done[:, t])[:, None, None]
        S, z = np.where(reset[..., None], 0.0, S), np.where(reset, 0.0, z)
        q, k, v = (np.asarray(inputs[:, t], np.float64) @ projection).reshape(BATCH, 3, 2, 4).transpose(1, 0, 2, 3)
        S = S + phi(k)[..., :, None] * v[..., None, :]
        z = z + phi(k)
        attended = np.einsum("bhk,bhkv->bhv", phi(q), S) / (np.einsum("bhk,bhk->bh", phi(q), z)[..., None] + 1e-6)
        np.testing.assert_allclose(outputs[:, t], attended.reshape(BATCH, -1) @ out_kernel + out_bias, **TOL)
    np.testing.assert_allclose(final, np.concatenate([S, z[..., None]], axis=-1), **TOL)


def test_linear_attention_is_finite_where_the_feature_map_underflows():
    """Queries of -1e4 make φ(q) = exp(q) exactly 0: the read is 0 / (0 + ε) = 0, not 0 / 0, so the output is W_o's bias."""
    model = LinearAttention(num_heads=2, head_dim=4)
    inputs, done = make_inputs()
    inputs = jnp.abs(inputs) + 0.1
    init(model, 5, inputs, done, model.initialize_carry(BATCH))
    model.query_key_value.kernel[...] = model.query_key_value.kernel[...].at[:, :8].set(-1e4)  # the queries' columns
    _, outputs = model(inputs, done, random_carry(model, 12))
    np.testing.assert_array_equal(outputs, jnp.broadcast_to(model.out_proj.bias[...], outputs.shape))


@pytest.mark.parametrize("chunk_size", [32, 5], ids=["one-chunk", "chunks-of-5"])
def test_ffm_follows_the_authors_module_step_by_step(chunk_size):
    """FFM (Morad et al. 2023) as the authors' standalone module computes it, in numpy float64, with a reset zeroing S.

    In chunks of 5, the 12 steps are two whole chunks and a padded one, with episode starts inside chunks
    and, in the second sequence, only at the first step of the last chunk.
    """
    model = FFM(16, memory_dim=4, context_dim=3, max_period=64, chunk_size=chunk_size)
    inputs, done = make_inputs()
    done = done.at[1, 10].set(True)
    carry = random_carry(model, 13)
    init(model, 6, inputs, done, carry)
    np.testing.assert_allclose(model.decay[...], np.linspace(DECAY_MIN, np.log(0.01) / 64, 4), rtol=1e-6)
    np.testing.assert_allclose(model.frequency[...], 2 * np.pi / np.linspace(1, 64, 3), rtol=1e-6)
    model.decay[...] = model.decay[...].at[0].set(-5.0)  # below the lower bound: the forward pass clamps it
    final, outputs = model(inputs, done, carry)

    sigmoid = lambda x: 1 / (1 + np.exp(-x))
    decay = np.clip(np.asarray(model.decay[...], np.float64), DECAY_MIN, DECAY_MAX)
    gamma = np.exp(decay[:, None] + 1j * np.asarray(model.frequency[...], np.float64)[None, :])
    pre_w, pre_b = np.asarray(model.pre.kernel[...], np.float64), np.asarray(model.pre.bias[...], np.float64)
    mix_w, mix_b = np.asarray(model.mix.kernel[...], np.float64), np.asarray(model.mix.bias[...], np.float64)
    state = np.asarray(carry, np.complex128)
    for t in range(TIME):
        x = np.asarray(inputs[:, t], np.float64) @ pre_w + pre_b
        memory_input, through, gates = x[:, :4], x[:, 4:20], sigmoid(x[:, 20:])
        state = np.where(np.asarray(done[:, t])[:, None, None], 0, state)
        state = gamma * state + (memory_input * gates[:, :4])[:, :, None]
        z = np.stack([state.real, state.imag], axis=-1).reshape(BATCH, -1) @ mix_w + mix_b
        normalised = (z - z.mean(-1, keepdims=True)) / np.sqrt(z.var(-1, keepdims=True) + 1e-5)
        expected = normalised * gates[:, 4:] + through * (1 - gates[:, 4:])
        np.testing.assert_allclose(outputs[:, t], expected, **TOL)
    np.testing.assert_allclose(final, state, **TOL)


@pytest.mark.parametrize(
    "conv_width, chunk_size", [(3, 16), (3, 5), (None, 1)], ids=["one-chunk", "chunks-of-5", "chunks-of-1-bare-layer"]
)
@pytest.mark.parametrize("gated", [False, True], ids=["delta_net", "gated_delta_net"])
def test_delta_nets_follow_the_delta_rule_step_by_step(gated, conv_width, chunk_size):
    """S_t = α_t S_{t-1}(I - β_t k_t k_tᵀ) + β_t v_t k_tᵀ per head in numpy float64 (α = 1 for DeltaNet), zeroed at a
    reset, with q, k and v through a width-3 causal convolution that sees only the episode's steps (or straight from
    the projection); the chunked solve gives it whether the sequence is one chunk, several with a partial last one, or
    one per step."""
    layer = GatedDeltaNet if gated else DeltaNet
    model = layer(num_heads=2, head_dim=4, features=5, conv_width=conv_width, chunk_size=chunk_size)
    inputs, done = make_inputs()
    done = done.at[2, 6].set(True).at[2, 7].set(True)  # two starts in a row, within a chunk of 5
    memory, conv_state = random_carry(model, 14)
    init(model, 7, inputs, done, (memory, conv_state))
    (final, final_conv_state), outputs = model(inputs, done, (memory, conv_state))

    silu = lambda x: x / (1 + np.exp(-x))
    unit = lambda x: x / np.sqrt(np.sum(x * x, axis=-1, keepdims=True) + 1e-6)
    weight = lambda linear: np.asarray(linear.kernel[...], np.float64)
    x = np.asarray(inputs, np.float64)
    projected = x @ weight(model.query_key_value)
    if conv_width:
        projected, expected_state = causal_conv_in_numpy(conv_state, projected, done, model.conv_kernel[...])
        np.testing.assert_allclose(final_conv_state, expected_state, **TOL)
    else:
        assert final_conv_state.shape == (BATCH, 0, 24)
    heads = silu(projected).reshape(BATCH, TIME, 3, 2, 4)
    q, k, v = unit(heads[:, :, 0]) / 2.0, unit(heads[:, :, 1]), heads[:, :, 2]
    beta = 1 / (1 + np.exp(-(x @ weight(model.beta_proj))))
    if gated:
        pre = x @ weight(model.alpha_proj) + np.asarray(model.alpha_bias[...], np.float64)
        alpha = np.exp(-np.exp(np.asarray(model.a_log[...], np.float64)) * np.log1p(np.exp(pre)))
    else:
        alpha = np.ones((BATCH, TIME, 2))
    scale = np.asarray(model.norm.scale[...], np.float64)
    state = np.array(memory, np.float64)
    for t in range(TIME):
        state = np.where(np.asarray(done[:, t])[:, None, None, None], 0.0, state)
        for b in range(BATCH):
            for h in range(2):
                kk, vv, bb = k[b, t, h], v[b, t, h], beta[b, t, h]
                state[b, h] = alpha[b, t, h] * state[b, h] @ (np.eye(4) - bb * np.outer(kk, kk)) + bb * np.outer(vv, kk)
        read = np.einsum("bhvk,bhk->bhv", state, q[:, t])
        normed = read / np.sqrt(np.mean(read**2, axis=-1, keepdims=True) + 1e-6) * scale
        if gated:
            normed = normed * silu(x[:, t] @ weight(model.gate_proj)).reshape(BATCH, 2, 4)
        np.testing.assert_allclose(outputs[:, t], normed.reshape(BATCH, 8) @ weight(model.out_proj), **TOL)
    np.testing.assert_allclose(final, state, **TOL)


def test_the_chunked_delta_rule_has_the_gradient_of_its_steps():
    """The chunked solve (chunks of 5, the last partial, decays, starts within and across chunks) against a scan of the
    acting step: the same reads, final memory and gradient for every input, the hand-written inverse's included."""
    draws = jax.random.split(jax.random.key(3), 7)
    batch, steps, heads, width = 2, 13, 2, 3
    queries = jax.random.normal(draws[0], (batch, steps, heads, width))
    unit_keys = jax.random.normal(draws[1], (batch, steps, heads, width))
    unit_keys = unit_keys / jnp.linalg.norm(unit_keys, axis=-1, keepdims=True)
    values = jax.random.normal(draws[2], (batch, steps, heads, width + 1))
    beta = jax.nn.sigmoid(jax.random.normal(draws[3], (batch, steps, heads)))
    log_alpha = -jax.nn.softplus(jax.random.normal(draws[4], (batch, steps, heads)))
    done = jnp.zeros((batch, steps), bool).at[0, 3].set(True).at[0, 5].set(True).at[1, 10].set(True)
    memory = jax.random.normal(draws[5], (batch, heads, width + 1, width))
    inputs = (queries, unit_keys, values, beta, log_alpha, memory)

    def stepped(queries, keys, values, beta, log_alpha, memory):
        def step(memory, step_inputs):
            return delta_rule_step(*step_inputs, memory)

        sequences = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), (queries, keys, values, beta, log_alpha, done))
        memory, reads = jax.lax.scan(step, memory, sequences)
        return memory, jnp.swapaxes(reads, 0, 1)

    def chunked(queries, keys, values, beta, log_alpha, memory):
        return chunked_delta_rule(queries, keys, values, beta, log_alpha, done, memory, 5)

    allclose(chunked(*inputs), stepped(*inputs))
    weights = jax.random.normal(draws[6], (batch, steps, heads, width + 1))

    def loss(run):
        def total(*inputs):
            memory, reads = run(*inputs)
            return jnp.sum(jnp.sin(memory)) + jnp.sum(weights * reads)

        return total

    argnums = tuple(range(len(inputs)))
    allclose(jax.grad(loss(chunked), argnums)(*inputs), jax.grad(loss(stepped), argnums)(*inputs))


@pytest.mark.parametrize("conv_width, chunk_size", [(3, 32), (3, 5), (None, 5)], ids=["one-chunk", "chunks-of-5", "bare-cell"])
def test_mlstm_follows_the_papers_recurrence_without_the_stabiliser(conv_width, chunk_size):
    """xLSTM's mLSTM (Beck et al. 2024) in numpy float64, unstabilised: C_t = f C + i v kᵀ, n_t = f n + i k,
    h = σ(o) ⊙ C q / max(|nᵀq|, 1), q and k through a width-3 causal convolution that sees only the episode's
    steps (or straight from the projection); from a warm carry (C and n stored divided by e^m, the
    convolution's last inputs) and zeroed at a reset."""
    model = MLSTM(8, num_heads=2, conv_width=conv_width, chunk_size=chunk_size)
    inputs, done = make_inputs()
    done = done.at[1, 10].set(True)
    memory, stabiliser, conv_state = random_carry(model, 15)
    init(model, 9, inputs, done, (memory, stabiliser, conv_state))
    np.testing.assert_array_equal(model.forget_gate.bias[...], [3.0, 6.0])
    np.testing.assert_array_equal(model.forget_gate.kernel[...], 0.0)
    (final_memory, final_stabiliser, final_conv_state), outputs = model(inputs, done, (memory, stabiliser, conv_state))

    sigmoid = lambda a: 1 / (1 + np.exp(-a))
    affine = lambda linear, x: x @ np.asarray(linear.kernel[...], np.float64) + np.asarray(linear.bias[...], np.float64)
    x = np.asarray(inputs, np.float64)
    heads = affine(model.query_key, x)
    if conv_width:
        convolved, expected_state = causal_conv_in_numpy(conv_state, heads, done, model.conv_kernel[...])
        np.testing.assert_allclose(final_conv_state, expected_state, **TOL)
        convolved = convolved + np.asarray(model.conv_bias[...], np.float64)
        heads = convolved * sigmoid(convolved)
    else:
        assert final_conv_state.shape == (BATCH, 0, 16)
    q, k = heads.reshape(BATCH, TIME, 2, 2, 4)[:, :, 0], heads.reshape(BATCH, TIME, 2, 2, 4)[:, :, 1] / 2.0
    v = affine(model.value, x).reshape(BATCH, TIME, 2, 4)
    input_gate, forget_gate = np.exp(affine(model.input_gate, x)), sigmoid(affine(model.forget_gate, x))
    m = np.asarray(stabiliser, np.float64)
    C = np.asarray(memory, np.float64) * np.exp(m)[..., None, None]  # [B, heads, d + 1, d]: n is the last row
    for t in range(TIME):
        reset = np.asarray(done[:, t])
        C, m = np.where(reset[:, None, None, None], 0.0, C), np.where(reset[:, None], 0.0, m)
        i, f = input_gate[:, t][..., None, None], forget_gate[:, t][..., None, None]
        C = f * C + i * np.concatenate([v[:, t], np.ones((BATCH, 2, 1))], axis=-1)[..., :, None] * k[:, t][..., None, :]
        m = np.maximum(np.log(forget_gate[:, t]) + m, np.log(input_gate[:, t]))
        read = np.einsum("bhed,bhd->bhe", C, q[:, t])
        hidden = read[..., :-1] / np.maximum(np.abs(read[..., -1:]), 1.0)
        np.testing.assert_allclose(outputs[:, t], sigmoid(affine(model.output_gate, x[:, t])) * hidden.reshape(BATCH, 8), **TOL)
    np.testing.assert_allclose(final_stabiliser, m, **TOL)
    np.testing.assert_allclose(final_memory * np.exp(final_stabiliser)[..., None, None], C, **TOL)


def test_mlstm_has_finite_gradients_where_its_stabiliser_falls_below_float32s_range():
    """Input gates near e^-95 and forget gates near e^-30: m < -88, where e^-m overflows float32."""
    model = MLSTM(8, num_heads=2)
    inputs, done = make_inputs()
    init(model, 0, inputs, done, model.initialize_carry(BATCH))
    model.input_gate.bias[...] = jnp.full(2, -95.0)
    model.forget_gate.bias[...] = jnp.full(2, -30.0)
    gradients = nnx.grad(lambda m: m(inputs, done, m.initialize_carry(BATCH))[1].sum())(model)
    assert all(bool(jnp.isfinite(leaf).all()) for leaf in jax.tree.leaves(gradients))


@pytest.mark.parametrize("input_bias", [0.0, -120.0])
def test_slstm_follows_the_papers_recurrence_without_the_stabiliser(input_bias):
    """xLSTM's sLSTM in numpy float64, unstabilised: c_t = f c + i z, n_t = f n + i, h = σ(o) c / n, the gates mixing
    h_{t-1} within each head; from a warm carry (c and n stored divided by e^m) and zeroed at a reset.

    With input gates near e^-120 (beyond float32) the stored c and n must not vanish after a reset: c / n = z there.
    """
    model = SLSTM(8, num_heads=2)
    inputs, done = make_inputs()
    carry = random_carry(model, 16)
    init(model, 10, inputs, done, carry)
    model.input_proj.bias[...] = model.input_proj.bias[...].at[8:16].add(input_bias)
    (final_c, final_n, final_m, final_h), outputs = model(inputs, done, carry)

    sigmoid = lambda a: 1 / (1 + np.exp(-a))
    kernel, bias = (np.asarray(p[...], np.float64) for p in (model.input_proj.kernel, model.input_proj.bias))
    recurrent = np.asarray(model.recurrent[...], np.float64)  # [heads, head_dim in, gate, head_dim out]
    np.testing.assert_allclose(bias[16:24], np.linspace(3, 6, 8), rtol=1e-6)
    m, h = (np.asarray(a, np.float64) for a in (carry[2], carry[3]))
    c, n = (np.asarray(a, np.float64) * np.exp(m) for a in (carry[0], carry[1]))
    for t in range(TIME):
        reset = np.asarray(done[:, t])[:, None]
        c, n, m, h = (np.where(reset, 0.0, a) for a in (c, n, m, h))
        mixed = np.einsum("bhi,higj->bghj", h.reshape(BATCH, 2, 4), recurrent).reshape(BATCH, 32)
        z, i, f, o = np.split(np.asarray(inputs[:, t], np.float64) @ kernel + bias + mixed, 4, axis=-1)
        m = np.where(n == 0, i, np.maximum(np.log(sigmoid(f)) + m, i))
        c = sigmoid(f) * c + np.exp(i) * np.tanh(z)
        n = sigmoid(f) * n + np.exp(i)
        h = sigmoid(o) * c / n
        np.testing.assert_allclose(outputs[:, t], h, **TOL)
    np.testing.assert_allclose(final_m, m, **TOL)
    np.testing.assert_allclose(final_c * np.exp(final_m), c, **TOL)
    np.testing.assert_allclose(final_n * np.exp(final_m), n, **TOL)
    np.testing.assert_allclose(final_h, h, **TOL)


def test_gated_residual_is_gtrxls_gate_and_post_norm_normalises_the_output():
    """g(x, y) = (1 - z) x + z tanh(W_h y + U_h (r x)) with r, z as GTrXL (Parisotto et al. 2020); b_g starts at 2."""
    model = GatedResidual(FFN(hidden_dim=32), bias=2.0)
    post = PostNorm(FFN(hidden_dim=32))
    inputs, done = make_inputs()
    for module in (model, post):
        init(module, 8, inputs, done, module.initialize_carry(BATCH))
    np.testing.assert_array_equal(model.gate_bias[...], np.full(FEATURES, 2.0))
    _, outputs = model(inputs, done, ())

    sigmoid = lambda a: 1 / (1 + np.exp(-a))
    x = np.asarray(inputs, np.float64)
    y = np.asarray(model.module(inputs, done, ())[1], np.float64)
    w, u, u_h = (np.asarray(linear.kernel[...], np.float64) for linear in (model.from_output, model.from_stream, model.from_reset_stream))
    w_r, w_z, w_h = np.split(w, 3, axis=1)
    u_r, u_z = np.split(u, 2, axis=1)
    r = sigmoid(y @ w_r + x @ u_r)
    z = sigmoid(y @ w_z + x @ u_z - 2.0)
    expected = (1 - z) * x + z * np.tanh(y @ w_h + (r * x) @ u_h)
    np.testing.assert_allclose(outputs, expected, **TOL)

    _, normed = post(inputs, done, ())
    y = np.asarray(post.module(inputs, done, ())[1], np.float64)
    layer_norm = (y - y.mean(-1, keepdims=True)) / np.sqrt(y.var(-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(normed, layer_norm, **TOL)


def test_alibi_slopes_and_scores_follow_press_et_al():
    """Slopes 2^(-8h/H); head h's score for key s at query t is q·k/√d - m_h (t - s), within the episode and window."""
    np.testing.assert_allclose(alibi_slopes(8), 2.0 ** -np.arange(1, 9))
    np.testing.assert_allclose(alibi_slopes(4), 2.0 ** -np.array([2, 4, 6, 8]))
    model = SelfAttention(num_heads=2, head_dim=4, context_length=5, positional="alibi")
    inputs, done = make_inputs()
    init(model, 9, inputs, done, model.initialize_carry(BATCH))
    _, outputs = model(inputs, done, model.initialize_carry(BATCH))

    x = np.asarray(inputs, np.float64)
    weight = lambda linear: np.asarray(linear.kernel[...], np.float64)
    q, k, v = ((x @ weight(proj)).reshape(BATCH, TIME, 2, 4) for proj in (model.query_proj, model.key_proj, model.value_proj))
    slopes = np.asarray(alibi_slopes(2), np.float64)
    for b in range(BATCH):
        start = 0
        for t in range(TIME):
            start = t if done[b, t] else start
            keys = np.arange(max(start, t - 5), t + 1)
            scores = np.einsum("hd,shd->hs", q[b, t], k[b, keys]) / 2.0 - slopes[:, None] * (t - keys)[None, :]
            weights = np.exp(scores - scores.max(-1, keepdims=True))
            weights /= weights.sum(-1, keepdims=True)
            read = np.einsum("hs,shd->hd", weights, v[b, keys]).reshape(-1)
            expected = read @ weight(model.out_proj) + np.asarray(model.out_proj.bias[...], np.float64)
            np.testing.assert_allclose(outputs[b, t], expected, **TOL)


def test_learned_positions_count_from_each_episode_start_across_calls():
    """"learned" adds E[index within the episode, capped at the context] to the inputs; the index restarts at 0 at
    each episode start and continues across calls through the carry."""
    learned = SelfAttention(num_heads=2, head_dim=4, context_length=5, positional="learned")
    plain = SelfAttention(num_heads=2, head_dim=4, context_length=5, positional=None)
    inputs, done = make_inputs()
    for model in (learned, plain):
        init(model, 10, inputs, done, model.initialize_carry(BATCH))
    for name in ("query_proj", "key_proj", "value_proj", "out_proj"):
        nnx.update(getattr(plain, name), nnx.state(getattr(learned, name)))
    carry = learned.initialize_carry(BATCH)
    carry = (*carry[:3], jnp.array([2, 0, 4], jnp.int32))  # three steps into an episode, one fresh, one long

    positions = np.zeros((BATCH, TIME), int)
    for b in range(BATCH):
        position = int(carry[3][b])
        for t in range(TIME):
            position = 0 if done[b, t] else position
            positions[b, t] = position
            position += 1
    embedded = inputs + learned.position_embedding(jnp.asarray(np.minimum(positions, 5)))
    final, outputs = learned(inputs, done, carry)
    _, expected = plain(embedded, done, carry[:3])
    np.testing.assert_allclose(outputs, expected, **TOL)
    np.testing.assert_array_equal(final[3], positions[:, -1] + 1)
