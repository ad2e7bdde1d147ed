"""mg.optim: SGD and Adam steps against their formulas, written out independently here (and
against torch.optim when PyTorch is importable), plus in-place updates and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close

import microgradnp as mg
from microgradnp.nn import Linear
from microgradnp.optim import SGD, Adam

STEPS = 5


def gradient_sequence(shape, steps=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for _ in range(steps)]


def run(optimizer_cls, start, grads, **settings):
    """The optimizer's parameters after one step per gradient in `grads`."""
    p = mg.tensor(start, requires_grad=True)
    opt = optimizer_cls([p], **settings)
    history = []
    for g in grads:
        p.grad = g.copy()
        opt.step()
        history.append(p.data.copy())
    return history


# ---------------------------------------------------------------- the formulas, by hand


def sgd_reference(start, grads, lr, momentum=0.0, weight_decay=0.0, dampening=0.0, nesterov=False):
    p, buf, history = start.copy(), None, []
    for g in grads:
        d = g + weight_decay * p
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
        history.append(p)
    return history


def adam_reference(start, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    b1, b2 = betas
    p, m, v, history = start.copy(), np.zeros_like(start), np.zeros_like(start), []
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        history.append(p)
    return history


START = np.random.default_rng(42).normal(size=(3, 2))
GRADS = gradient_sequence((3, 2))


@pytest.mark.parametrize(
    "settings",
    [
        {"lr": 0.1},
        {"lr": 0.1, "momentum": 0.9},
        {"lr": 0.05, "weight_decay": 0.01},
        {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.1},
        {"lr": 0.05, "momentum": 0.8, "dampening": 0.3},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    ],
)
def test_sgd_matches_formula(settings) -> None:
    got = run(SGD, START, GRADS, **settings)
    expected = sgd_reference(START, GRADS, **settings)
    for a, b in zip(got, expected, strict=True):
        assert_close(a, b, rtol=1e-13, atol=1e-15)


def test_sgd_first_momentum_step_is_plain_gradient() -> None:
    # PyTorch's first step sets buf = g (no (1 - dampening) factor, no momentum term).
    (p1,) = run(SGD, START, GRADS[:1], lr=0.1, momentum=0.9, dampening=0.5)
    assert_close(p1, START - 0.1 * GRADS[0], rtol=1e-15)


@pytest.mark.parametrize(
    "settings",
    [
        {"lr": 1e-3},
        {"lr": 0.1, "betas": (0.8, 0.99)},
        {"lr": 0.01, "eps": 1e-3},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "betas": (0.0, 0.5)},
    ],
)
def test_adam_matches_formula(settings) -> None:
    got = run(Adam, START, GRADS, **settings)
    expected = adam_reference(START, GRADS, **settings)
    for a, b in zip(got, expected, strict=True):
        assert_close(a, b, rtol=1e-12, atol=1e-15)


def test_adam_first_step_moves_each_entry_by_lr() -> None:
    # With bias correction the first step is lr * g / (|g| + eps): about lr in every entry
    # (within eps / |g| of it). The difference p1 - START rounds to an ulp of START (2e-16
    # for entries up to 2): 2e-14 of the step.
    (p1,) = run(Adam, START, GRADS[:1], lr=0.01)
    g = np.abs(GRADS[0])
    assert_close(np.abs(p1 - START), 0.01 * g / (g + 1e-8), rtol=1e-12)


def test_against_torch_when_available() -> None:
    torch = pytest.importorskip("torch")
    for ours, theirs, settings in [
        (SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
        (SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        (SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.5, "dampening": 0.3}),
        (Adam, torch.optim.Adam, {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
        (Adam, torch.optim.Adam, {"lr": 1e-3}),
    ]:
        got = run(ours, START, GRADS, **settings)
        p = torch.tensor(START, requires_grad=True)
        opt = theirs([p], **settings)
        for g, ours_p in zip(GRADS, got, strict=True):
            p.grad = torch.tensor(g)
            opt.step()
            assert_close(ours_p, p.detach().numpy(), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------- behaviour


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_step_updates_in_place_without_recording(cls) -> None:
    layer = Linear(3, 2, rng=0)
    x = np.ones((4, 3))
    arrays = [p.data for p in layer.parameters()]
    before = [a.copy() for a in arrays]
    opt = cls(layer.parameters(), lr=0.1)
    layer(x).sum().backward()
    opt.step()
    for p, a, b in zip(layer.parameters(), arrays, before, strict=True):
        assert p.data is a  # the same array, changed in place
        assert not np.array_equal(a, b)
        assert p.is_leaf and p.requires_grad and p.op is None


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_parameters_without_grad_are_skipped(cls) -> None:
    a = mg.tensor(START, requires_grad=True)
    b = mg.tensor(START, requires_grad=True)
    opt = cls([a, b], lr=0.1)
    a.grad = GRADS[0].copy()
    opt.step()
    assert np.array_equal(b.data, START)  # b.grad is None: untouched
    # b's first real step is a first step (Adam's step count starts at b's first gradient).
    b.grad = GRADS[1].copy()
    a.grad = None
    opt.step()
    reference = (sgd_reference if cls is SGD else adam_reference)(START, GRADS[1:2], lr=0.1)
    assert_close(b.data, reference[0], rtol=1e-13)


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_zero_grad_sets_none(cls) -> None:
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    p.grad = np.ones(2)
    opt = cls([p], lr=0.1)
    opt.zero_grad()
    assert p.grad is None


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_float32_stays_float32(cls) -> None:
    p = mg.tensor(START, dtype=np.float32, requires_grad=True)
    opt = cls([p], lr=0.1, momentum=0.5) if cls is SGD else cls([p], lr=0.1)
    for g in GRADS:
        p.grad = g.astype(np.float32)
        opt.step()
    assert p.dtype == np.float32
    # the reference: the same float32 numbers, stepped in float64
    start, grads = START.astype(np.float32), [g.astype(np.float32) for g in GRADS]
    reference = (sgd_reference if cls is SGD else adam_reference)(
        start.astype(np.float64),
        [g.astype(np.float64) for g in grads],
        lr=0.1,
        **({"momentum": 0.5} if cls is SGD else {}),
    )[-1]
    # 5 steps of a few float32 roundings (6e-8 each) on parameters of order 1 (0.15 to 1.6):
    # rtol 2e-6 is 17 ulps (seen: about 1)
    assert_close(p.data, reference, rtol=2e-6)


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_training_a_quadratic_converges(cls) -> None:
    target = np.array([1.0, -2.0, 3.0])
    w = mg.tensor(np.zeros(3), requires_grad=True)
    opt = cls([w], lr=0.1, momentum=0.5) if cls is SGD else cls([w], lr=0.1)
    for _ in range(500):
        opt.zero_grad()
        loss = mg.sum((w - target) ** 2)
        loss.backward()
        opt.step()
    # (SGD reaches the rounding of the target by step 200; Adam is within 1e-11 by step 500)
    assert_close(w.data, target, rtol=0, atol=1e-8)


def test_lr_can_be_changed_between_steps() -> None:
    p = mg.tensor([1.0], requires_grad=True)
    opt = SGD([p], lr=0.1)
    opt.lr = 0.5
    p.grad = np.array([1.0])
    opt.step()
    assert_close(p.data, [0.5])


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("cls", "settings", "name"),
    [
        (SGD, {"lr": -0.1}, "lr"),
        (SGD, {"lr": float("nan")}, "lr"),
        (SGD, {"lr": 0.1, "momentum": -0.5}, "momentum"),
        (SGD, {"lr": 0.1, "weight_decay": -1.0}, "weight_decay"),
        (SGD, {"lr": 0.1, "dampening": -1.0}, "dampening"),
        (SGD, {"lr": "fast"}, "lr"),
        (Adam, {"lr": -1e-3}, "lr"),
        (Adam, {"betas": (1.0, 0.999)}, r"betas\[0\]"),
        (Adam, {"betas": (0.9, -0.1)}, r"betas\[1\]"),
        (Adam, {"betas": (0.9,)}, "betas"),
        (Adam, {"eps": -1e-8}, "eps"),
        (Adam, {"weight_decay": -0.1}, "weight_decay"),
    ],
)
def test_bad_hyperparameters_name_the_parameter(cls, settings, name) -> None:
    p = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match=f"{cls.__name__}: .*{name}"):
        cls([p], **settings)


def test_nesterov_needs_momentum() -> None:
    p = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="nesterov"):
        SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="SGD: nesterov must be True or False, got 'no'"):
        SGD([p], lr=0.1, momentum=0.9, nesterov="no")  # (a string is truthy)


def test_sgd_takes_its_settings_positionally_in_pytorchs_order() -> None:
    # torch.optim.SGD(params, lr, momentum, dampening, weight_decay, nesterov)
    sgd = SGD([mg.tensor([1.0], requires_grad=True)], 0.1, 0.9, 0.0, 0.01, True)
    assert (sgd.lr, sgd.momentum, sgd.dampening, sgd.weight_decay, sgd.nesterov) == (
        0.1,
        0.9,
        0.0,
        0.01,
        True,
    )
    assert SGD([mg.tensor([1.0], requires_grad=True)], 0.1, 0.9, 0.5).dampening == 0.5


def test_bad_params() -> None:
    layer = Linear(2, 2, rng=0)
    with pytest.raises(TypeError, match=r"pass model.parameters\(\)"):
        SGD(layer, lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        Adam(layer.weight)
    with pytest.raises(ValueError, match="empty list of parameters"):
        Adam([])
    with pytest.raises(TypeError, match="parameter 1 is a ndarray, not a Tensor"):
        Adam([layer.weight, np.ones(2)])
    computed = layer.weight * 2
    with pytest.raises(ValueError, match="computed by mul; only leaf tensors"):
        SGD([computed], lr=0.1)
    with pytest.raises(ValueError, match=r"parameter 1 \('weight'\) appears more than once"):
        SGD([layer.weight, layer.weight], lr=0.1)
    with pytest.raises(TypeError, match="floating-point"):
        SGD([mg.tensor(np.array([1, 2]))], lr=0.1)
    with pytest.raises(TypeError, match=r"is a tuple, not a Tensor .*not named_parameters\(\)"):
        SGD(layer.named_parameters(), lr=0.1)


def test_repr_shows_every_setting() -> None:
    sgd = SGD(Linear(2, 2, rng=0).parameters(), lr=0.1, momentum=0.9, nesterov=True)
    assert repr(sgd) == (
        "SGD(2 parameters, lr=0.1, momentum=0.9, dampening=0.0, nesterov=True, weight_decay=0.0)"
    )


# ---------------------------------------------------------------- state dicts: resuming


RESUMABLE = [
    (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    (SGD, {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.1}),
    (Adam, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
]


@pytest.mark.parametrize(("cls", "settings"), RESUMABLE)
def test_training_resumed_from_a_saved_state_dict_continues_exactly(cls, settings, tmp_path):
    # Five steps, a checkpoint through a file, then five more in a new optimizer (built with
    # other settings, which the checkpoint replaces) = ten steps without a break.
    grads = gradient_sequence((3, 2), steps=10, seed=3)
    reference = (sgd_reference if cls is SGD else adam_reference)(START, grads, **settings)

    p = mg.tensor(START, requires_grad=True)
    first = cls([p], **settings)
    for g in grads[:5]:
        p.grad = g.copy()
        first.step()
    path = mg.save(first.state_dict(), tmp_path / "opt.npz")
    resumed = cls([p], lr=0.5)
    resumed.load_state_dict(mg.load(path))
    assert repr(resumed) == repr(first)
    for g in grads[5:]:
        p.grad = g.copy()
        resumed.step()
    assert_close(p.data, reference[-1], rtol=1e-12, atol=1e-15)


def test_a_state_dict_is_a_copy_and_names_pytorchs_state() -> None:
    p, q = mg.tensor(START, requires_grad=True), mg.tensor(np.ones(2), requires_grad=True)
    opt = Adam([p, q], lr=0.01)
    assert sorted(opt.state_dict()) == ["betas", "eps", "lr", "params", "weight_decay"]
    assert opt.state_dict()["params"].tolist() == [0, 1]
    p.grad = GRADS[0].copy()  # q has no gradient: no state yet, as in PyTorch
    opt.step()
    state = opt.state_dict()
    assert sorted(k for k in state if k.startswith("state.")) == [
        "state.0.exp_avg",
        "state.0.exp_avg_sq",
        "state.0.step",
    ]
    assert state["state.0.step"] == 1 and state["state.0.step"].dtype.kind == "i"
    assert_close(state["state.0.exp_avg"], 0.1 * GRADS[0], rtol=1e-15)
    assert_close(state["betas"], [0.9, 0.999], rtol=0)
    p.grad = GRADS[1].copy()
    opt.step()
    assert state["state.0.step"] == 1  # taken before the second step: unchanged by it
    assert_close(state["state.0.exp_avg"], 0.1 * GRADS[0], rtol=1e-15)


def test_state_dict_values_are_pytorchs_when_available() -> None:
    torch = pytest.importorskip("torch")
    for ours, theirs, settings, names in [
        (SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}, ["momentum_buffer"]),
        (Adam, torch.optim.Adam, {"lr": 0.01}, ["exp_avg", "exp_avg_sq", "step"]),
    ]:
        p = mg.tensor(START, requires_grad=True)
        t = torch.tensor(START, requires_grad=True)
        opt, topt = ours([p], **settings), theirs([t], **settings)
        for g in GRADS:
            p.grad, t.grad = g.copy(), torch.tensor(g)
            opt.step()
            topt.step()
        state, tstate = opt.state_dict(), topt.state_dict()["state"][0]
        for name in names:
            assert_close(state[f"state.0.{name}"], np.asarray(tstate[name]), rtol=1e-12)


def test_loading_the_state_of_other_parameters_says_what_does_not_fit() -> None:
    p = mg.tensor(START, requires_grad=True)
    opt = Adam([p], lr=0.01)
    p.grad = GRADS[0].copy()
    opt.step()
    state = opt.state_dict()
    other = Adam([mg.tensor(np.ones(4), requires_grad=True)], lr=0.1)
    before = repr(other), other.state
    with pytest.raises(ValueError, match=r"'state.0.exp_avg' has shape \(3, 2\); parameter 0 has"):
        other.load_state_dict(state)
    assert (repr(other), other.state) == before  # nothing changed
    fresh = Adam([mg.tensor(START, requires_grad=True)], lr=0.1)
    with pytest.raises(KeyError, match=r"missing key\(s\) 'state.0.exp_avg_sq'"):
        fresh.load_state_dict({k: v for k, v in state.items() if k != "state.0.exp_avg_sq"})
    with pytest.raises(KeyError, match=r"unexpected key\(s\) 'state.1.step'.*i < 1"):
        fresh.load_state_dict({**state, "state.1.step": np.array(1)})
    with pytest.raises(KeyError, match=r"missing key\(s\) 'lr'"):
        fresh.load_state_dict({k: v for k, v in state.items() if k != "lr"})
    with pytest.raises(KeyError, match=r"missing key\(s\) 'momentum', 'dampening'.*unexpected"):
        SGD([mg.tensor(START, requires_grad=True)], lr=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match=r"invalid lr=-1.0"):
        fresh.load_state_dict({**state, "lr": np.array(-1.0)})
    with pytest.raises(ValueError, match=r"'betas' .*an array of shape \(2,\)"):
        fresh.load_state_dict({**state, "betas": np.array(0.9)})
    with pytest.raises(ValueError, match=r"'state.0.step' is array\(1.5\); it must be a whole"):
        fresh.load_state_dict({**state, "state.0.step": np.array(1.5)})
    with pytest.raises(ValueError, match=r"'state.0.step' is array\(inf\)"):
        fresh.load_state_dict({**state, "state.0.step": np.array(np.inf)})
    with pytest.raises(TypeError, match=r"expected a mapping of names to arrays"):
        fresh.load_state_dict([state])
    with pytest.raises(KeyError, match=r"unexpected key\(s\) 'state.00.exp_avg'"):
        fresh.load_state_dict({**state, "state.00.exp_avg": np.zeros((3, 2))})
    with pytest.raises(KeyError, match=r"unexpected key\(s\) 'state.².step'"):
        fresh.load_state_dict({**state, "state.².step": np.array(1)})
    with pytest.raises(ValueError, match=r"'state.0.exp_avg_sq' has dtype bool"):
        fresh.load_state_dict({**state, "state.0.exp_avg_sq": np.ones((3, 2), bool)})
    assert fresh.state == [{}]
    two = Adam([mg.tensor(START, requires_grad=True), mg.tensor(START, requires_grad=True)])
    with pytest.raises(
        ValueError, match=r"over 1 parameter\(s\) \('params' is \[0\]\); this one has 2"
    ):
        two.load_state_dict(state)  # (the second has no state yet: only the count tells)
    assert two.state == [{}, {}]


def test_a_loaded_state_is_the_optimizers_own_in_its_parameters_dtype() -> None:
    p = mg.tensor(START.astype(np.float32), requires_grad=True)
    opt = Adam([p], lr=0.01)
    state = Adam([mg.tensor(START, requires_grad=True)], lr=0.01).state_dict()  # (float64)
    state.update({"state.0.step": np.array(2), "state.0.exp_avg": np.ones((3, 2))})
    state["state.0.exp_avg_sq"] = np.ones((3, 2))
    opt.load_state_dict(state)
    assert opt.state[0]["exp_avg"].dtype == np.float32
    state["state.0.exp_avg"][:] = 7.0  # the caller's dict: not the optimizer's state
    assert np.all(opt.state[0]["exp_avg"] == 1.0)
    with pytest.raises(ValueError, match=r"'state.0.step' is array\(-1\)"):
        opt.load_state_dict({**state, "state.0.step": np.array(-1)})
    with pytest.raises(ValueError, match=r"'params' is \[1\]"):
        opt.load_state_dict({**state, "params": np.array([1])})


def test_pytorchs_float_step_and_a_list_of_betas_load() -> None:
    p = mg.tensor(START, requires_grad=True)
    opt = Adam([p], lr=0.01)
    opt.betas = [0.8, 0.99]  # (a plain attribute: a list works as a pair)
    p.grad = GRADS[0].copy()
    opt.step()
    state = opt.state_dict()
    fresh = Adam([mg.tensor(START, requires_grad=True)])
    fresh.load_state_dict({**state, "state.0.step": np.array(1.0, np.float32)})
    assert fresh.state[0]["step"] == 1 and fresh.betas == (0.8, 0.99)
