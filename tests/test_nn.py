"""mg.nn modules: parameter discovery and names, Linear against NumPy and PyTorch's init,
gradients against finite differences and the tutorial's hand formulas, state dicts, scopes
for graph clusters, reprs, and clear errors."""

from __future__ import annotations

import copy
import inspect
import pickle
import pydoc
import sys

import numpy as np
import pytest
from conftest import assert_close, numerical_grads

import microgradnp as mg
from microgradnp.engine import topological_order
from microgradnp.nn import Linear, Module, ReLU, Sequential, Sigmoid, Tanh
from microgradnp.nn.functional import binary_cross_entropy_with_logits
from microgradnp.serialization import load, save


def tutorial_model(rng=0) -> Sequential:
    return Sequential(Linear(2, 3, rng=rng), Sigmoid(), Linear(3, 1, rng=rng))


class Net(Module):
    """A hand-made module: a parameter, a submodule, a list of modules, a constant."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = mg.tensor(2.0, requires_grad=True)
        self.body = tutorial_model()
        self.heads = [Linear(1, 1, rng=1), Linear(1, 1, rng=2)]
        self.offsets = (mg.tensor([0.5], requires_grad=True), mg.tensor([1.5], requires_grad=True))
        self.mask = mg.tensor([1.0, 0.0])  # requires no grad: a constant, not a parameter
        self.note = "not a part"

    def forward(self, x):
        h = self.body(x * self.mask)
        return self.heads[1](self.heads[0](h) + self.offsets[0]) * self.scale + self.offsets[1]


# ---------------------------------------------------------------- Linear


def test_linear_is_x_at_weight_transposed_plus_bias() -> None:
    layer = Linear(4, 3, rng=0)
    x = np.random.default_rng(1).normal(size=(5, 4))
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (3,)
    assert_close(layer(x).data, x @ layer.weight.data.T + layer.bias.data, rtol=1e-14)
    # One example without a batch axis, and a stack of batches.
    assert_close(layer(x[0]).data, x[0] @ layer.weight.data.T + layer.bias.data, rtol=1e-14)
    stack = x.reshape(1, 5, 4).repeat(2, axis=0)
    assert layer(stack).shape == (2, 5, 3)


def test_linear_without_bias() -> None:
    layer = Linear(3, 2, bias=False, rng=0)
    assert layer.bias is None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    x = np.ones((4, 3))
    assert_close(layer(x).data, x @ layer.weight.data.T)
    assert "bias=False" in repr(layer)


def test_linear_init_is_pytorchs_uniform_bound() -> None:
    layer = Linear(25, 400, rng=0)  # bound 1/sqrt(25) = 0.2
    for p in (layer.weight.data, layer.bias.data):
        assert np.all(np.abs(p) <= 0.2)
        assert np.abs(p).max() > 0.19  # the whole interval is used, not a narrower one
        assert abs(p.mean()) < 0.02
    # Uniform on [-0.2, 0.2] has variance 0.2² / 3.
    assert_close(layer.weight.data.var(), 0.2**2 / 3, rtol=0.05)


def test_linear_rng_seed_generator_and_none() -> None:
    a, b = Linear(2, 3, rng=7), Linear(2, 3, rng=7)
    assert np.array_equal(a.weight.data, b.weight.data)
    assert np.array_equal(a.bias.data, b.bias.data)
    gen = np.random.default_rng(7)
    c, d = Linear(2, 3, rng=gen), Linear(2, 3, rng=gen)  # one generator: consumed in turn
    assert np.array_equal(c.weight.data, a.weight.data)
    assert not np.array_equal(d.weight.data, c.weight.data)
    e, f = Linear(2, 3), Linear(2, 3)  # fresh entropy each time
    assert not np.array_equal(e.weight.data, f.weight.data)


def test_linear_dtype_float32() -> None:
    layer = Linear(2, 3, rng=0, dtype=np.float32)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    out = layer(np.ones((4, 2), dtype=np.float32))
    assert out.dtype == np.float32


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_linear_rejects_bad_sizes(bad) -> None:
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        Linear(bad, 3)
    with pytest.raises(ValueError, match="out_features must be a positive integer"):
        Linear(3, bad)


def test_linear_wrong_input_width_names_the_layer_and_shapes() -> None:
    model = tutorial_model()
    with pytest.raises(ValueError, match=r"Linear\(2→3\) '0'.*\(\.\.\., 2\).*\(5, 3\)"):
        model(np.ones((5, 3)))
    # The tutorial's column layout gets a hint.
    with pytest.raises(ValueError, match=r"pass x\.T"):
        model(np.ones((2, 400)))


# ---------------------------------------------------------------- gradients


def test_module_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(3)
    model = Sequential(
        Linear(3, 4, rng=rng), Tanh(), Linear(4, 4, rng=rng), ReLU(), Linear(4, 1, rng=rng)
    )
    x = rng.normal(size=(6, 3))
    y = (rng.random((6, 1)) < 0.5).astype(float)
    names = [n for n, _ in model.named_parameters()]
    loss = binary_cross_entropy_with_logits(model(x), y)
    loss.backward()

    def f(*arrays):
        with mg.no_grad():
            clone = Sequential(Linear(3, 4), Tanh(), Linear(4, 4), ReLU(), Linear(4, 1))
            clone.load_state_dict(dict(zip(names, arrays, strict=True)))
            return binary_cross_entropy_with_logits(clone(x), y).item()

    params = list(model.parameters())
    expected = numerical_grads(f, [p.data for p in params])
    for name, p, g in zip(names, params, expected, strict=True):
        assert p.grad is not None, name
        assert_close(p.grad, g, rtol=1e-5, atol=1e-8)


def tutorial_backward(X, Y, W1, b1, W2, b2):
    """The tutorial's forward_propagation + backward_propagation (column layout)."""

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    m = X.shape[1]
    Z1 = np.dot(W1, X) + b1
    A1 = sigmoid(Z1)
    A2 = sigmoid(np.dot(W2, A1) + b2)
    dZ2 = A2 - Y
    dW2 = (1 / m) * np.dot(dZ2, A1.T)
    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.dot(W2.T, dZ2) * sigmoid(Z1) * (1 - sigmoid(Z1))
    dW1 = (1 / m) * np.dot(dZ1, X.T)
    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
    return dW1, db1, dW2, db2


def test_sequential_reproduces_the_tutorials_hand_gradients() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 50))
    Y = (X[0:1] * X[1:2] > 0).astype(float)
    W1, b1 = rng.normal(size=(3, 2)), rng.normal(size=(3, 1))
    W2, b2 = rng.normal(size=(1, 3)), rng.normal(size=(1, 1))
    model = tutorial_model()
    model.load_state_dict({"0.weight": W1, "0.bias": b1[:, 0], "2.weight": W2, "2.bias": b2[:, 0]})
    loss = binary_cross_entropy_with_logits(model(X.T), Y.T)  # row layout: one row per example
    loss.backward()
    dW1, db1, dW2, db2 = tutorial_backward(X, Y, W1, b1, W2, b2)
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert_close(grads["0.weight"], dW1, rtol=1e-12)
    assert_close(grads["0.bias"], db1[:, 0], rtol=1e-12)
    assert_close(grads["2.weight"], dW2, rtol=1e-12)
    assert_close(grads["2.bias"], db2[:, 0], rtol=1e-12)


def test_activation_modules_are_their_functions() -> None:
    x = np.linspace(-3, 3, 7)
    assert_close(Sigmoid()(x).data, 1 / (1 + np.exp(-x)))
    assert_close(Tanh()(x).data, np.tanh(x))
    assert_close(ReLU()(x).data, np.maximum(x, 0))


# ---------------------------------------------------------------- discovery and names


def test_named_parameters_order_and_dotted_names() -> None:
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    # Own parameters first (attribute order), then each submodule's, as PyTorch orders them.
    assert names == [
        "scale",
        "offsets.0",
        "offsets.1",
        "body.0.weight",
        "body.0.bias",
        "body.2.weight",
        "body.2.bias",
        "heads.0.weight",
        "heads.0.bias",
        "heads.1.weight",
        "heads.1.bias",
    ]
    assert all(p.is_leaf and p.requires_grad for p in net.parameters())
    assert [p.name for p in net.parameters()] == names  # the tensors carry their names
    assert [n for n, _ in net.named_modules()] == [
        "",
        "body",
        "body.0",
        "body.1",
        "body.2",
        "heads.0",
        "heads.1",
    ]
    assert len(list(net.children())) == 3


def test_a_module_held_twice_is_one_child_as_in_pytorch() -> None:
    shared = Linear(2, 2, rng=0)
    net = Sequential(shared, ReLU(), shared)
    assert [type(m).__name__ for m in net.children()] == ["Linear", "ReLU"]
    assert next(net.children()) is shared
    assert len(list(net.parameters())) == 2  # weight and bias, once


def test_names_follow_a_module_into_a_bigger_model() -> None:
    layer = Linear(2, 3, rng=0)
    assert layer.weight.name == "weight"
    seq = Sequential(layer, Sigmoid())
    assert layer.weight.name == "0.weight"

    class Outer(Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = seq

        def forward(self, x):
            return self.encoder(x)

    outer = Outer()
    assert layer.weight.name == "encoder.0.weight"
    assert layer.bias.name == "encoder.0.bias"
    # named_parameters of a submodule are relative to it (as in PyTorch); .name stays full.
    assert [n for n, _ in outer.encoder.named_parameters()] == ["0.weight", "0.bias"]
    assert layer.weight.name == "encoder.0.weight"


def test_list_filled_after_assignment_is_found_and_named() -> None:
    class Stack(Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = []
            for i in range(3):
                self.layers.append(Linear(2, 2, rng=i))

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    model = Stack()
    names = [n for n, _ in model.named_parameters()]
    assert names == [f"layers.{i}.{k}" for i in range(3) for k in ("weight", "bias")]
    assert model.layers[2].bias.name == "layers.2.bias"


def test_dicts_of_modules_and_parameters() -> None:
    class Heads(Module):
        def __init__(self) -> None:
            super().__init__()
            self.heads = {"left": Linear(2, 1, rng=0), "right": Linear(2, 1, rng=1)}
            self.shift = {"x": mg.tensor(0.0, requires_grad=True)}

        def forward(self, x):
            return self.heads["left"](x) - self.heads["right"](x) + self.shift["x"]

    model = Heads()
    assert [n for n, _ in model.named_parameters()] == [
        "shift.x",
        "heads.left.weight",
        "heads.left.bias",
        "heads.right.weight",
        "heads.right.bias",
    ]
    assert model.heads["right"].bias.name == "heads.right.bias"
    out = model(np.ones((3, 2)))
    assert ("Linear(2→1)", "heads.left") in {scope_chain(t)[0] for t in topological_order(out)}


def test_shared_module_and_parameter_counted_once() -> None:
    class Tied(Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = Linear(2, 2, rng=0)
            self.b = self.a
            self.w = mg.tensor(1.0, requires_grad=True)
            self.w_again = self.w

        def forward(self, x):
            return self.b(self.a(x)) * self.w

    tied = Tied()
    assert [n for n, _ in tied.named_parameters()] == ["w", "a.weight", "a.bias"]
    assert tied.a.weight.name == "a.weight"


def test_non_parameters_are_ignored() -> None:
    net = Net()
    ids = {id(p) for p in net.parameters()}
    assert id(net.mask) not in ids
    # A computed tensor stored as an attribute (e.g. an activation kept for inspection).
    net.last = net.scale * 2
    assert id(net.last) not in {id(p) for p in net.parameters()}
    assert len(list(net.parameters())) == 11


def test_frozen_parameter_stays_a_parameter() -> None:
    layer = Linear(2, 2, rng=0)
    layer.weight.requires_grad = False
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert set(layer.state_dict()) == {"weight", "bias"}


class Mixed(Module):
    """Parameters and constants side by side in a list, a tuple and a dict."""

    def __init__(self) -> None:
        super().__init__()
        self.ps = [mg.tensor([1.0], requires_grad=True), mg.tensor([0.0], name="zero")]
        self.pair = (mg.tensor([2.0]), mg.tensor([3.0], requires_grad=True))
        self.table = {"w": mg.tensor([4.0], requires_grad=True), "c": mg.tensor([5.0])}


def test_constants_beside_parameters_in_a_container_are_not_parameters() -> None:
    model = Mixed()
    names = ["ps.0", "pair.1", "table.w"]
    assert [n for n, _ in model.named_parameters()] == names
    assert list(model.state_dict()) == names  # parameters only, as documented
    constants = {id(model.ps[1]), id(model.pair[0]), id(model.table["c"])}
    assert not constants & {id(p) for p in model.parameters()}
    assert len(mg.optim.SGD(model.parameters(), lr=0.1).params) == 3
    assert model.ps[1].name == "zero"  # not renamed "ps.1"
    assert model.load_state_dict(model.state_dict()) == ([], [])


def test_a_frozen_parameter_in_a_container_stays_one_and_a_constant_stays_not() -> None:
    model = Mixed()
    model.ps[0].requires_grad = False
    model.table["w"].requires_grad = False
    assert [n for n, _ in model.named_parameters()] == ["ps.0", "pair.1", "table.w"]
    # The rule follows the tensor, not its slot: a frozen parameter moved elsewhere stays
    # one, a constant moved into its place does not become one.
    model.ps = [model.ps[1], model.ps[0]]
    assert [n for n, _ in model.named_parameters()] == ["ps.1", "pair.1", "table.w"]
    copied = copy.deepcopy(model)
    assert [n for n, _ in copied.named_parameters()] == ["ps.1", "pair.1", "table.w"]
    assert copied.ps[1] is not model.ps[1]


def test_a_parameter_let_go_and_assigned_again_frozen_is_a_constant() -> None:
    layer = Linear(2, 2, rng=0)
    old = layer.weight
    layer.weight = mg.tensor(np.zeros((2, 2)), requires_grad=True)
    old.requires_grad = False
    layer.fixed = old  # requires_grad=False when assigned: a constant
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    layer.weight.requires_grad = False
    del layer.weight
    layer.weight = old
    assert [n for n, _ in layer.named_parameters()] == ["bias"]


def test_dict_keys_naming_parts_must_be_strings() -> None:
    class IntKeys(Module):
        def __init__(self, value) -> None:
            super().__init__()
            self.heads = {"ok": Linear(2, 1, rng=1), 0: value}

    message = (
        r"IntKeys: the dict attribute 'heads' has the key 0 \(int\) holding a {}; use string "
        r"keys, such as '0', as they name its parameters in named_parameters\(\) and "
        r"state_dict\(\)"
    )
    with pytest.raises(TypeError, match=message.format("Linear")):
        IntKeys(Linear(2, 1, rng=0))
    with pytest.raises(TypeError, match=message.format("parameter")):
        IntKeys(mg.tensor([1.0], requires_grad=True))
    # Other values under non-string keys (a config, a constant) are no parts: no error.
    model = IntKeys(mg.tensor([1.0]))
    model.sizes = {0: 16, 1: 8}
    assert [n for n, _ in model.named_parameters()] == ["heads.ok.weight", "heads.ok.bias"]
    # A dict filled after assignment is checked when the parts are looked for.
    model.heads[1] = Linear(2, 1, rng=2)
    with pytest.raises(TypeError, match="the dict attribute 'heads' has the key 1 "):
        list(model.parameters())


def test_reassigning_and_deleting_attributes() -> None:
    layer = Linear(2, 2, rng=0)
    layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    layer.extra = mg.tensor([1.0], requires_grad=True)
    assert layer.extra.name == "extra"
    del layer.extra
    assert [n for n, _ in layer.named_parameters()] == ["weight"]


def test_zero_grad_clears_every_parameter() -> None:
    net = Net()
    net(np.ones((4, 2))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_train_and_eval_flags() -> None:
    net = Net()
    assert net.training and net.body.training
    assert net.eval() is net
    assert not net.training and not net.body.training and not net.heads[0].training
    net.train()
    assert net.body[0].training


# ---------------------------------------------------------------- state dicts


def test_state_dict_is_a_copy_in_parameter_order() -> None:
    model = tutorial_model()
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    state["0.weight"][:] = 123.0
    assert not np.any(model[0].weight.data == 123.0)


def test_state_dict_round_trip_through_save_and_load(tmp_path) -> None:
    net = Net()
    x = np.random.default_rng(0).normal(size=(5, 2))
    expected = net(x).data
    path = save(net.state_dict(), tmp_path / "net.npz")
    other = Net()
    with mg.no_grad():
        for p in other.parameters():
            p.data[...] = 0.0
    weight = other.body[0].weight
    result = other.load_state_dict(load(path))
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert other.body[0].weight is weight  # loaded in place: optimizers keep their tensors
    assert np.array_equal(other(x).data, expected)
    for (n1, p1), (n2, p2) in zip(net.named_parameters(), other.named_parameters(), strict=True):
        assert n1 == n2 and np.array_equal(p1.data, p2.data)


def test_load_state_dict_missing_key() -> None:
    model = tutorial_model()
    state = model.state_dict()
    del state["2.bias"]
    with pytest.raises(KeyError, match=r"missing key\(s\) '2.bias'"):
        model.load_state_dict(state)


def test_load_state_dict_unexpected_key() -> None:
    model = tutorial_model()
    state = model.state_dict()
    state["3.weight"] = np.zeros((1, 1))
    with pytest.raises(KeyError, match=r"unexpected key\(s\) '3.weight'"):
        model.load_state_dict(state)


def test_load_state_dict_shape_mismatch_names_key_and_shapes() -> None:
    model = tutorial_model()
    before = model.state_dict()
    state = Sequential(Linear(2, 4), Sigmoid(), Linear(4, 1)).state_dict()
    with pytest.raises(ValueError, match=r"'0.weight': checkpoint \(4, 2\), model \(3, 2\)"):
        model.load_state_dict(state)
    after = model.state_dict()  # nothing was half-loaded
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_load_state_dict_non_strict_reports_keys() -> None:
    model = tutorial_model()
    state = {"0.weight": np.ones((3, 2)), "extra": np.zeros(1)}
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["0.bias", "2.weight", "2.bias"]
    assert result.unexpected_keys == ["extra"]
    assert np.array_equal(model[0].weight.data, np.ones((3, 2)))


def test_load_state_dict_takes_strict_by_position_or_keyword_as_pytorch() -> None:
    state = {"0.weight": np.ones((3, 2)), "extra": np.zeros(1)}
    for call in (
        lambda model: model.load_state_dict(state, False),  # PyTorch's positional habit
        lambda model: model.load_state_dict(state, strict=False),
        lambda model: model.load_state_dict(state_dict=state, strict=np.bool_(False)),
    ):
        model = tutorial_model()
        result = call(model)
        assert result == (["0.bias", "2.weight", "2.bias"], ["extra"])
        assert np.array_equal(model[0].weight.data, np.ones((3, 2)))
    with pytest.raises(KeyError, match="missing key"):
        tutorial_model().load_state_dict(state, True)


def test_incompatible_keys_shows_its_field_types() -> None:
    # (not ForwardRef('list[str]'), which the module's postponed annotations would leave)
    fields = inspect.signature(mg.nn.IncompatibleKeys).parameters.values()
    assert [(f.name, f.annotation) for f in fields] == [
        ("missing_keys", list[str]),
        ("unexpected_keys", list[str]),
    ]
    assert mg.nn.IncompatibleKeys.__annotations__ == {
        "missing_keys": list[str],
        "unexpected_keys": list[str],
    }
    assert "ForwardRef" not in pydoc.render_doc(mg.nn.IncompatibleKeys)


def test_load_state_dict_rejects_non_mapping_and_non_numbers() -> None:
    model = tutorial_model()
    with pytest.raises(TypeError, match="mapping"):
        model.load_state_dict([np.ones((3, 2))])
    state = model.state_dict()
    state["0.bias"] = np.array(["a", "b", "c"])
    with pytest.raises(TypeError, match=r"'0\.bias' has dtype"):
        model.load_state_dict(state)


# ---------------------------------------------------------------- scopes, repr, errors


def scope_chain(t):
    chain, scope = [], t._node.scope
    while scope is not None:
        chain.append((scope.label, scope.name))
        scope = scope.parent
    return chain


def test_module_calls_record_nested_scopes() -> None:
    net = Net()
    out = net(np.ones((4, 2)))
    chains = {tuple(scope_chain(t)) for t in topological_order(out)}
    assert (("Linear(2→3)", "body.0"), ("Sequential", "body"), ("Net", "")) in chains
    assert (("Sigmoid", "body.1"), ("Sequential", "body"), ("Net", "")) in chains
    assert (("Linear(1→1)", "heads.1"), ("Net", "")) in chains
    assert (("Net", ""),) in chains  # ops in Net.forward itself (the * scale)
    # Outside any module call, ops have no scope.
    assert (out.sum())._node.scope is None


def test_repr_is_a_tree() -> None:
    assert repr(tutorial_model()) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): Sigmoid()\n"
        "  (2): Linear(in_features=3, out_features=1, bias=True)\n"
        ")"
    )
    text = repr(Net())
    assert text.startswith("Net(\n  (body): Sequential(\n    (0): Linear(")
    assert "  (heads.1): Linear(in_features=1, out_features=1, bias=True)\n)" in text


def test_sequential_indexing_and_errors() -> None:
    model = tutorial_model()
    assert len(model) == 3
    assert isinstance(model[1], Sigmoid) and model[-1] is list(model)[2]
    with pytest.raises(IndexError, match="index 3 is out of range for 3 modules"):
        model[3]
    head = model[:2]
    assert isinstance(head, Sequential) and len(head) == 2
    with pytest.raises(TypeError, match=r"item 1 is a .*not a Module.*nn.Sigmoid\(\)"):
        Sequential(Linear(2, 2), mg.sigmoid)
    with pytest.raises(TypeError, match="integer or a slice, not '0'"):
        model["0"]


def test_linear_refuses_a_dtype_that_cannot_have_gradients() -> None:
    with pytest.raises(TypeError, match=r"Linear: dtype must be a floating-point type.*int64"):
        Linear(2, 3, dtype=np.int64)
    assert Linear(2, 3, rng=0, dtype=np.float32).weight.dtype == np.float32


def test_slicing_a_sequential_leaves_the_models_names_alone() -> None:
    model = tutorial_model()
    tail = model[1:]
    assert tail[1] is model[2] and len(tail) == 2
    assert model[2].weight.name == "2.weight"  # (PyTorch: slicing is a read)
    assert [n for n, _ in model.named_parameters()][2:] == ["2.weight", "2.bias"]
    assert model[2]._name == "2"


def five_layers() -> Sequential:
    return Sequential(Linear(2, 3, rng=0), Tanh(), Linear(3, 4, rng=1), Tanh(), Linear(4, 1, rng=2))


def test_a_slice_keeps_its_layers_keys_and_never_renames_the_model() -> None:
    model = five_layers()
    names = [p.name for p in model.parameters()]
    part = model[2:]
    # its keys are the model's, as PyTorch's slices keep theirs (not 0.*, 2.*)
    keys = ["2.weight", "2.bias", "4.weight", "4.bias"]
    assert [n for n, _ in part.named_parameters()] == keys
    assert list(part.state_dict()) == keys
    assert [n for n, _ in part.named_modules()] == ["", "2", "3", "4"]
    assert part.load_state_dict(part.state_dict()) == ([], [])
    assert list(part[1:].state_dict()) == ["4.weight", "4.bias"]  # (a slice of a slice)
    assert list(model[::-1].state_dict())[:2] == ["4.weight", "4.bias"]
    assert str(part).splitlines()[1] == "  (2): Linear(in_features=3, out_features=4, bias=True)"
    # ...and the model's own names are untouched, in its parameters and its error messages
    assert [p.name for p in model.parameters()] == names
    assert [p.name for p in model[4].parameters()] == ["4.weight", "4.bias"]
    with pytest.raises(ValueError, match=r"^Linear\(4→1\) '4': expects input"):
        model[4](np.ones((5, 3)))
    # the slice computes what the model's tail computes
    x = np.random.default_rng(0).normal(size=(5, 3))
    assert_close(part(x).data, model[4](model[3](model[2](x))).data, rtol=0)


def test_a_slice_of_a_nested_model_leaves_its_full_names_alone() -> None:
    model = five_layers()
    outer = Sequential(model)  # model's parameters are now 0.0.weight ... 0.4.bias
    part = model[2:]
    part.append(Sigmoid())  # named after the last key: (5), not (3), which it would replace
    assert list(part.state_dict()) == ["2.weight", "2.bias", "4.weight", "4.bias"]
    assert [n for n, _ in part.named_modules()] == ["", "2", "3", "4", "5"]
    assert len(model) == 5 and isinstance(part[1], Tanh)
    assert [p.name for p in outer.parameters()][2:4] == ["0.2.weight", "0.2.bias"]
    assert [p.name for p in part.parameters()][:2] == ["0.2.weight", "0.2.bias"]
    assert model[2]._name == "0.2"


def test_repr_shows_a_module_inside_itself_as_a_back_reference() -> None:
    model = Sequential(Linear(2, 2, rng=0))
    model.child = model
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=2, bias=True)\n"
        "  (child): <cycle: back to the outermost Sequential>\n"
        ")"
    )
    inner = Sequential(Tanh())
    model = Sequential(Sigmoid(), inner)
    inner.append(inner)
    assert repr(model).splitlines()[3:5] == [
        "    (0): Tanh()",
        "    (1): <cycle: back to the Sequential at '1'>",
    ]
    shared = Tanh()  # a module held twice is no cycle: printed twice, as in PyTorch
    assert repr(Sequential(shared, shared)) == "Sequential(\n  (0): Tanh()\n  (1): Tanh()\n)"


def test_repr_and_parameters_of_a_nest_deeper_than_the_recursion_limit() -> None:
    depth = sys.getrecursionlimit() + 100
    outer = inner = Sequential()
    for _ in range(depth):  # (built from the outside in: no renaming, linear time)
        inner.append(Sequential())
        inner = inner[0]
    inner.append(Linear(2, 1, rng=0))
    lines = repr(outer).splitlines()
    assert len(lines) == 2 * depth + 3
    linear = "(0): Linear(in_features=2, out_features=1, bias=True)"
    assert lines[depth + 1] == "  " * (depth + 1) + linear
    assert lines[-1] == ")" and lines[-2] == "  )"
    assert list(outer.state_dict()) == ["0." * (depth + 1) + "weight", "0." * (depth + 1) + "bias"]


def test_a_submodule_with_a_repr_of_its_own_is_printed_by_it() -> None:
    class Custom(Module):
        def __repr__(self) -> str:
            return "Custom<\n  my way>"

    model = Sequential(Custom())
    assert repr(model) == "Sequential(\n  (0): Custom<\n    my way>\n)"


def test_modules_and_parameters_in_nested_containers() -> None:
    class Stages(Module):
        def __init__(self) -> None:
            super().__init__()
            self.stages = [[Linear(2, 2, rng=0), Linear(2, 2, rng=1)], [Linear(2, 1, rng=2)]]
            self.extra = {"scales": [mg.tensor(1.0, requires_grad=True), mg.tensor(2.0)]}

        def forward(self, x):
            for stage in self.stages:
                for layer in stage:
                    x = layer(x)
            return x * self.extra["scales"][0]

    model = Stages()
    names = [n for n, _ in model.named_parameters()]
    assert names == [
        "extra.scales.0",  # (the module's own parameters first)
        "stages.0.0.weight",
        "stages.0.0.bias",
        "stages.0.1.weight",
        "stages.0.1.bias",
        "stages.1.0.weight",
        "stages.1.0.bias",
    ]
    assert model.stages[1][0].bias.name == "stages.1.0.bias"
    assert len(model.state_dict()) == 7 and len(list(model.children())) == 3
    model(np.ones((4, 2))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    self_holding: list[object] = [Linear(1, 1, rng=0)]
    self_holding.append(self_holding)  # a list holding itself: looked at once
    model.loop = self_holding
    assert "loop.0.weight" in dict(model.named_parameters())
    with pytest.raises(TypeError, match=r"the dict attribute .deep\.0\.a. has the key 3 "):
        model.deep = [{"a": {3: Linear(1, 1, rng=0)}}]


def test_module_without_forward() -> None:
    class Empty(Module):
        pass

    with pytest.raises(NotImplementedError, match="Empty: define forward"):
        Empty()(1.0)


def test_forgetting_super_init_is_explained() -> None:
    class Forgetful(Module):
        def __init__(self) -> None:
            self.layer = Linear(2, 2)

    with pytest.raises(RuntimeError, match=r"call super\(\).__init__\(\) first"):
        Forgetful()

    class Stateless(Module):  # no parts: works without super().__init__()
        def __init__(self) -> None:
            self.factor = 2.0

        def forward(self, x):
            return mg.tensor(x) * self.factor

    assert Stateless()(3.0).item() == 6.0
    assert list(Stateless().parameters()) == []


def test_a_parameter_appended_to_a_list_then_frozen_stays_a_parameter() -> None:
    class Tables(Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = mg.tensor(1.0, requires_grad=True)
            self.tables = []  # filled after it was assigned

    model = Tables()
    table = mg.tensor([0.0, 1.0, 2.0], requires_grad=True)
    model.tables.append(table)
    table.requires_grad = False  # frozen before anything looked at the module
    assert [n for n, _ in model.named_parameters()] == ["w", "tables.0"]  # (PyTorch's too)
    fresh = Tables()
    fresh.tables.append(mg.tensor(np.zeros(3)))  # a constant: frozen never
    assert [n for n, _ in fresh.named_parameters()] == ["w"]
    with pytest.raises(KeyError, match="unexpected key"):
        fresh.load_state_dict(model.state_dict())


def test_dict_keys_that_cannot_be_part_of_a_name_are_refused() -> None:
    class Heads(Module):
        def __init__(self, heads) -> None:
            super().__init__()
            self.q = heads

    for key in ("0.5", ""):
        with pytest.raises(TypeError, match=r"has the key .* use non-empty keys without '\.'"):
            Heads({key: Linear(2, 1, rng=0)})
    Heads({"0.5": 1.0})  # (a config: nothing to name)


def test_a_tied_weight_has_a_state_dict_key_for_each_of_its_names() -> None:
    lin = Linear(2, 2, rng=0)
    model = Sequential(lin, Tanh(), lin)  # as PyTorch: named_parameters once, state_dict twice
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert np.array_equal(state["2.weight"], lin.weight.data)
    state["2.weight"] = state["2.weight"] + 1.0  # loaded last: the tied weight takes it
    model.load_state_dict(state)
    assert np.array_equal(lin.weight.data, state["2.weight"])
    # one name of each tied weight is enough (checkpoints written before this listed one)
    older = {"0.weight": state["0.weight"] * 2, "0.bias": state["0.bias"]}
    assert model.load_state_dict(older) == ([], [])
    assert np.array_equal(lin.weight.data, older["0.weight"])
    with pytest.raises(KeyError, match=r"missing key\(s\) '0.bias', '2.bias'"):
        model.load_state_dict({"0.weight": state["0.weight"]})


class Tables(Module):  # (at module level: pickle finds classes by name)
    def __init__(self) -> None:
        super().__init__()
        self.ws: list[mg.Tensor] = []


def test_a_frozen_parameter_found_in_a_list_stays_one_in_copies() -> None:
    model = Tables()
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    model.ws.append(w)
    w.requires_grad = False
    assert [n for n, _ in model.named_parameters()] == ["ws.0"]
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert [n for n, _ in twin.named_parameters()] == ["ws.0"]
        twin.load_state_dict(model.state_dict())


def test_train_takes_a_bool_and_load_state_dict_names_a_value_that_is_no_array() -> None:
    model = tutorial_model()
    with pytest.raises(TypeError, match=r"Sequential.train: mode must be True or False"):
        model.train("False")  # (a non-empty string is true)
    assert model.train(np.bool_(False)).training is False
    state = {k: v.tolist() for k, v in model.state_dict().items()}
    state["0.bias"] = [[1.0], [2.0, 3.0]]  # ragged
    with pytest.raises(TypeError, match=r"load_state_dict: '0.bias' is not an array"):
        model.load_state_dict(state)


def test_linear_takes_its_settings_in_the_documented_order() -> None:
    # Linear(in_features, out_features, bias=True, rng=None), as issue 5 and PyTorch order them
    by_position = Linear(3, 2, True, 0)
    assert np.array_equal(by_position.weight.data, Linear(3, 2, rng=0).weight.data)
    assert Linear(3, 2, False, 0).bias is None


def test_a_frozen_parameter_in_a_list_survives_copies_and_reassignment_unwalked() -> None:
    def fresh() -> Tables:
        model = Tables()
        w = mg.tensor([1.0], requires_grad=True)
        model.ws.append(w)
        w.requires_grad = False  # frozen, and nothing has walked the module yet
        return model

    for twin in (copy.deepcopy(fresh()), pickle.loads(pickle.dumps(fresh()))):
        assert [n for n, _ in twin.named_parameters()] == ["ws.0"]
    model = fresh()
    model.ws = list(model.ws)  # reassigned: still the same parameter
    assert [n for n, _ in model.named_parameters()] == ["ws.0"]


def test_attribute_names_that_cannot_name_a_part_are_refused() -> None:
    model = Tables()
    for name in ("a.b", ""):
        with pytest.raises(TypeError, match="cannot name a part"):
            setattr(model, name, mg.tensor([0.0], requires_grad=True))
    setattr(model, "a.b", 3)  # (a plain value: nothing to name)


@pytest.mark.parametrize("duplicate", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))])
def test_a_copy_of_a_slice_is_a_model_of_its_own_that_names_its_layers(duplicate) -> None:
    model = Sequential(Linear(2, 3, rng=0), Tanh(), Linear(3, 1, rng=1))
    part = duplicate(model[2:])
    wrapped = Sequential(part)  # (a slice names nothing; a model names its parts)
    assert [p.name for p in wrapped.parameters()] == list(wrapped.state_dict())
    assert [p.name for p in model.parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
