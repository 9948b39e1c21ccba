"""The evaluation forward pass as an ONNX graph, translated from its jaxpr.

The weights are constants of the traced function, so everything computed from them alone (batch
norm's scale and shift, ``transform_input``'s affine map, iotas) is folded here with JAX itself,
and the graph keeps only what depends on the images: convolutions, pools, elementwise arithmetic,
reshapes, concatenations, pads, slices and the classifier's matmul. ``nn.scan`` stages are
unrolled. Image tensors are laid out NCHW in the graph (ONNX's convolution and pooling layout) and
transposed only where an operation needs the jaxpr's own order (the flatten before a classifier),
so the graph is what a PyTorch export gives, and onnxruntime fuses it the same way.

A primitive outside this set raises ``UnsupportedOperation`` naming it: the graph is either
complete or not made.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import jax
import numpy as np

from jaxcnn.inspect.jaxprs import open_jaxpr, scan_layout

OPSET = 17  # onnxruntime >= 1.14, PyTorch's default export opset
INPUT, OUTPUT, BATCH = "images", "logits", "b"

ELEMENTWISE = {  # jax primitive -> ONNX operator of the same name and semantics
    "add": "Add",
    "sub": "Sub",
    "mul": "Mul",
    "div": "Div",
    "max": "Max",
    "min": "Min",
    "neg": "Neg",
    "exp": "Exp",
    "log": "Log",
    "sqrt": "Sqrt",
    "tanh": "Tanh",
    "logistic": "Sigmoid",
    "abs": "Abs",
}
IDENTITY = ("copy", "copy_p", "optimization_barrier")


class UnsupportedOperation(ValueError):
    """The forward pass uses an operation (or a form of one) with no ONNX translation here."""


@dataclasses.dataclass(frozen=True)
class Tensor:
    """A value computed from the images: its ONNX name, and its layout as the permutation that
    takes the jaxpr's (logical) axis order to the graph's: ``graph = logical.transpose(perm)``."""

    name: str
    perm: tuple[int, ...]


def translate(function, example: jax.ShapeDtypeStruct):
    """The ONNX model of ``function(images) -> logits`` (weights closed over, so constants).

    Args:
      function: a jax-traceable function of one image batch.
      example: the batch's shape and dtype; a symbolic leading dimension
        (``jax.export.symbolic_shape("b, 32, 32, 3")``) becomes the graph's ``b`` dimension.

    Returns:
      An ``onnx.ModelProto`` (opset ``OPSET``), checked by ``onnx.checker``: input ``images``
      with ``example``'s shape and dtype, output ``logits`` as ``function`` returns it.

    Raises:
      UnsupportedOperation: a primitive, or a form of one, with no translation (named).
    """
    import onnx
    from onnx import helper

    closed = jax.make_jaxpr(function)(example)
    graph = _Graph()
    (result,) = _Translator(graph).run(closed.jaxpr, closed.consts, [_input(graph, len(example.shape))])
    if not isinstance(result, Tensor):
        raise UnsupportedOperation("the output does not depend on the input")
    graph.node("Identity", [graph.logical(result)], output=OUTPUT)
    (out,) = closed.out_avals
    proto = helper.make_graph(
        graph.nodes,
        "jaxcnn",
        [_value_info(INPUT, example.shape, example.dtype)],
        [_value_info(OUTPUT, out.shape, out.dtype)],
        graph.initializers,
    )
    model = helper.make_model(proto, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="jaxcnn")
    model.ir_version = 8  # what onnxruntime >= 1.14 reads
    onnx.checker.check_model(model)
    return model


def _input(graph: _Graph, rank: int) -> Tensor:
    """The graph's input as the translation starts from it: an image batch (rank 4, NHWC) is
    transposed to NCHW at once, while it is still uint8 (a quarter of float32's bytes), so that
    the normalisation runs in the layout the first convolution reads."""
    if rank != 4:
        return Tensor(INPUT, tuple(range(rank)))
    return Tensor(graph.node("Transpose", [INPUT], perm=list(_NCHW)), _NCHW)


def _value_info(name: str, shape, dtype):
    from onnx import helper

    dims = [d if _is_static(d) else BATCH for d in shape]
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), dims)


def _is_static(dim) -> bool:
    return isinstance(dim, int | np.integer)


class _Graph:
    """The nodes and initializers being built, with unique names."""

    def __init__(self):
        self.nodes, self.initializers, self._ids = [], [], itertools.count()

    def node(self, op: str, inputs: Sequence[str], output: str | None = None, **attributes) -> str:
        """Append ``op(inputs)``; return its output's name."""
        from onnx import helper

        output = output or f"{op.lower()}_{next(self._ids)}"
        self.nodes.append(helper.make_node(op, list(inputs), [output], **attributes))
        return output

    def constant(self, value) -> str:
        """An initializer holding ``value``; return its name."""
        from onnx import numpy_helper

        name = f"const_{next(self._ids)}"
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def ints(self, values) -> str:
        """An int64 initializer (the shape, axes and pads inputs of ONNX operators)."""
        return self.constant(np.asarray(values, np.int64))

    def laid_out(self, value, perm: tuple[int, ...]) -> str:
        """The name of ``value`` (Tensor or numpy constant of the same rank) in layout ``perm``."""
        if isinstance(value, np.ndarray):
            return self.constant(np.transpose(value, perm) if value.ndim == len(perm) else value)
        if value.perm == tuple(perm):
            return value.name
        return self.node("Transpose", [value.name], perm=[value.perm.index(axis) for axis in perm])

    def logical(self, value: Tensor) -> str:
        """``value`` in the jaxpr's own axis order."""
        return self.laid_out(value, tuple(range(len(value.perm))))


def _inner(eqn):
    """The (jaxpr, consts) a call-like equation runs (jit, custom_jvp_call, remat...), else None."""
    for key in ("jaxpr", "call_jaxpr"):
        if key in eqn.params:
            return open_jaxpr(eqn.params[key])
    return None


class _Translator:
    """Walks a jaxpr, folding constant equations and emitting ONNX nodes for the rest."""

    def __init__(self, graph: _Graph):
        self.graph = graph

    def run(self, jaxpr, consts, args) -> list:
        """Values of ``jaxpr``'s outputs (Tensor or numpy) given its constants and inputs."""
        env = dict(zip(jaxpr.constvars, map(np.asarray, consts)))
        env.update(zip(jaxpr.invars, args))

        def read(var):
            return np.asarray(var.val, var.aval.dtype) if hasattr(var, "val") else env[var]

        for eqn in jaxpr.eqns:
            env.update(zip(eqn.outvars, self.equation(eqn, [read(v) for v in eqn.invars])))
        return [read(v) for v in jaxpr.outvars]

    def equation(self, eqn, inputs: list) -> list:
        name = eqn.primitive.name
        if name == "scan":
            return self.scan(eqn, inputs)
        inner = _inner(eqn)
        if inner is not None:
            return self.run(*inner, inputs)
        if name == "broadcast_in_dim" and isinstance(inputs[0], np.ndarray):
            return [_broadcast_constant(inputs[0], eqn.params["broadcast_dimensions"], len(eqn.params["shape"]))]
        if all(isinstance(x, np.ndarray) for x in inputs):
            return _fold(eqn, inputs)
        if name in IDENTITY:
            return inputs
        if name in ELEMENTWISE or name in ("rsqrt", "convert_element_type"):
            return [self.elementwise(eqn, inputs)]
        rule = getattr(self, name, None)
        if rule is None:
            raise UnsupportedOperation(f"the operation {name!r} has no ONNX translation in jaxcnn")
        return [rule(eqn, *inputs)]

    def elementwise(self, eqn, inputs) -> Tensor:
        from onnx import helper

        name, graph = eqn.primitive.name, self.graph
        (perm, *_) = [x.perm for x in inputs if isinstance(x, Tensor)]
        if name == "max" and any(isinstance(x, np.ndarray) and not x.any() for x in inputs):  # max(x, 0)
            (tensor,) = [x for x in inputs if isinstance(x, Tensor)]
            return Tensor(graph.node("Relu", [tensor.name]), perm)
        if name == "sub" and isinstance(inputs[1], np.ndarray):  # x - c as x + (-c), exactly: onnxruntime
            name, inputs = "add", [inputs[0], -inputs[1]]  # folds a constant Add, not a Sub, into a Conv
        names = [graph.laid_out(x, perm) for x in inputs]
        if name == "rsqrt":
            return Tensor(graph.node("Reciprocal", [graph.node("Sqrt", names)]), perm)
        if name == "convert_element_type":
            to = helper.np_dtype_to_tensor_dtype(np.dtype(eqn.params["new_dtype"]))
            return Tensor(graph.node("Cast", names, to=to), perm)
        return Tensor(graph.node(ELEMENTWISE[name], names), perm)

    def conv_general_dilated(self, eqn, lhs, rhs) -> Tensor:
        p = eqn.params
        if isinstance(rhs, Tensor):
            raise UnsupportedOperation("a convolution whose kernel depends on the input")
        if any(d != 1 for d in p["lhs_dilation"]) or p["batch_group_count"] != 1:
            raise UnsupportedOperation("a transposed or batch-grouped convolution")
        pads = [low for low, _ in p["padding"]] + [high for _, high in p["padding"]]
        if min(pads) < 0:
            raise UnsupportedOperation("a convolution with negative padding")
        lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
        kernel = np.transpose(np.broadcast_to(rhs, eqn.invars[1].aval.shape), rhs_spec)
        out = self.graph.node(
            "Conv",
            [self.graph.laid_out(lhs, tuple(lhs_spec)), self.graph.constant(kernel)],
            strides=list(p["window_strides"]),
            pads=pads,
            dilations=list(p["rhs_dilation"]),
            group=p["feature_group_count"],
        )
        return Tensor(out, tuple(out_spec))

    def reduce_window_max(self, eqn, x) -> Tensor:
        return Tensor(self.graph.node("MaxPool", [self.graph.laid_out(x, _NCHW)], **_pool_attributes(eqn)), _NCHW)

    def reduce_window_sum(self, eqn, x) -> Tensor:
        attributes = _pool_attributes(eqn)
        mean = self.graph.node("AveragePool", [self.graph.laid_out(x, _NCHW)], count_include_pad=1, **attributes)
        size = np.float32(np.prod(attributes["kernel_shape"]))
        return Tensor(self.graph.node("Mul", [mean, self.graph.constant(size)]), _NCHW)

    def reduce_sum(self, eqn, x) -> Tensor:
        axes = eqn.params["axes"]
        out = self.graph.node("ReduceSum", [x.name, self.graph.ints([x.perm.index(a) for a in axes])], keepdims=0)
        return Tensor(out, _without(x.perm, axes))

    def reduce_max(self, eqn, x) -> Tensor:
        axes = eqn.params["axes"]
        out = self.graph.node("ReduceMax", [x.name], axes=[x.perm.index(a) for a in axes], keepdims=0)
        return Tensor(out, _without(x.perm, axes))

    def dot_general(self, eqn, lhs, rhs) -> Tensor:
        (lhs_contract, rhs_contract), batch = eqn.params["dimension_numbers"]
        if not isinstance(rhs, np.ndarray) or batch != ((), ()) or len(lhs.perm) != 2:
            raise UnsupportedOperation("a matrix product other than batch @ weights")
        if tuple(lhs_contract) != (1,):
            raise UnsupportedOperation("a matrix product contracting the batch dimension")
        weights = np.broadcast_to(rhs, eqn.invars[1].aval.shape)
        weights = weights if tuple(rhs_contract) == (0,) else weights.T
        return Tensor(self.graph.node("MatMul", [self.graph.logical(lhs), self.graph.constant(weights)]), (0, 1))

    def reshape(self, eqn, x) -> Tensor:
        if eqn.params.get("dimensions") is not None:
            raise UnsupportedOperation("a reshape with a dimension permutation")
        shape = [d if _is_static(d) else -1 for d in eqn.params["new_sizes"]]
        if shape.count(-1) > 1:
            raise UnsupportedOperation("a reshape with more than one symbolic dimension")
        out = self.graph.node("Reshape", [self.graph.logical(x), self.graph.ints(shape)])
        return Tensor(out, tuple(range(len(shape))))

    def broadcast_in_dim(self, eqn, x) -> Tensor:
        shape, dims = eqn.params["shape"], eqn.params["broadcast_dimensions"]
        compact = [1] * len(shape)
        for source, target in enumerate(dims):
            size = eqn.invars[0].aval.shape[source]
            compact[target] = size if _is_static(size) else -1
        reshaped = self.graph.node("Reshape", [self.graph.logical(x), self.graph.ints(compact)])
        expanded = [d if _is_static(d) else 1 for d in shape]
        return Tensor(self.graph.node("Expand", [reshaped, self.graph.ints(expanded)]), tuple(range(len(shape))))

    def transpose(self, eqn, x) -> Tensor:
        order = tuple(eqn.params["permutation"])
        return Tensor(x.name, tuple(order.index(axis) for axis in x.perm))

    def squeeze(self, eqn, x) -> Tensor:
        dims = eqn.params["dimensions"]
        out = self.graph.node("Squeeze", [x.name, self.graph.ints([x.perm.index(d) for d in dims])])
        return Tensor(out, _without(x.perm, dims))

    def pad(self, eqn, x, value) -> Tensor:
        config = eqn.params["padding_config"]
        if isinstance(value, Tensor) or any(interior or low < 0 or high < 0 for low, high, interior in config):
            raise UnsupportedOperation("a pad with interior, negative or computed padding")
        pads = [config[a][0] for a in x.perm] + [config[a][1] for a in x.perm]
        if not any(pads):  # normalize's centre padding to the size the image already has
            return x
        return Tensor(self.graph.node("Pad", [x.name, self.graph.ints(pads), self.graph.constant(value)]), x.perm)

    def concatenate(self, eqn, *operands) -> Tensor:
        (perm, *_) = [x.perm for x in operands if isinstance(x, Tensor)]
        names = [
            self.graph.laid_out(_full(x, var) if isinstance(x, np.ndarray) else x, perm)
            for x, var in zip(operands, eqn.invars)
        ]
        return Tensor(self.graph.node("Concat", names, axis=perm.index(eqn.params["dimension"])), perm)

    def slice(self, eqn, x) -> Tensor:
        p = eqn.params
        strides = p["strides"] or (1,) * len(x.perm)
        ends = [end if _is_static(end) else np.iinfo(np.int64).max for end in p["limit_indices"]]
        inputs = [p["start_indices"], ends, list(range(len(x.perm))), strides]
        physical = [[values[a] for a in x.perm] for values in inputs[:2]] + [inputs[2], [strides[a] for a in x.perm]]
        return Tensor(self.graph.node("Slice", [x.name, *map(self.graph.ints, physical)]), x.perm)

    def scan(self, eqn, inputs) -> list:
        """Unrolled: the body once per step, with that step's slice of the (constant) scanned inputs."""
        layout = scan_layout(eqn)
        consts, carry, xs = _split(inputs, layout.consts, layout.carry)
        if any(isinstance(x, Tensor) for x in xs):
            raise UnsupportedOperation("a scan over values computed from the input")
        if len(eqn.outvars) != layout.carry:
            raise UnsupportedOperation("a scan that stacks per-step outputs")
        steps = range(layout.length - 1, -1, -1) if eqn.params["reverse"] else range(layout.length)
        for step in steps:
            carry = self.run(layout.body, layout.body_consts, [*consts, *carry, *(x[step] for x in xs)])[: layout.carry]
        return list(carry)


_NCHW = (0, 3, 1, 2)  # the graph layout of NHWC image tensors


def _pool_attributes(eqn) -> dict:
    """ONNX pooling attributes of a jaxpr ``reduce_window`` over the H and W axes of NHWC."""
    p = eqn.params
    window, strides, padding = p["window_dimensions"], p["window_strides"], p["padding"]
    if len(window) != 4 or any(window[a] != 1 or strides[a] != 1 or tuple(padding[a]) != (0, 0) for a in (0, 3)):
        raise UnsupportedOperation("a pooling window over other axes than H and W of NHWC")
    if any(d != 1 for d in p["base_dilation"]) or any(d != 1 for d in p["window_dilation"]):
        raise UnsupportedOperation("a dilated pooling window")
    return {
        "kernel_shape": list(window[1:3]),
        "strides": list(strides[1:3]),
        "pads": [padding[1][0], padding[2][0], padding[1][1], padding[2][1]],
    }


def _without(perm: tuple[int, ...], removed) -> tuple[int, ...]:
    """The layout left when the logical axes ``removed`` are dropped from a tensor laid out ``perm``."""
    kept = [a for a in perm if a not in removed]
    return tuple(sorted(kept).index(a) for a in kept)


def _split(values: list, *sizes: int) -> list[list]:
    cuts = list(itertools.accumulate(sizes))
    return [values[a:b] for a, b in zip([0, *cuts], [*cuts, len(values)])]


def _full(value: np.ndarray, var) -> np.ndarray:
    """A folded constant at its logical shape (constants are kept compact: size-1 broadcast axes)."""
    shape = var.aval.shape
    if not all(map(_is_static, shape)):
        raise UnsupportedOperation("a constant of the batch's size")
    return np.broadcast_to(value, shape)


def _broadcast_constant(value: np.ndarray, dims, rank: int) -> np.ndarray:
    """``broadcast_in_dim`` of a constant, kept compact: its axes placed at ``dims``, size 1
    elsewhere (numpy and ONNX broadcasting do the rest, whatever the batch size)."""
    compact = [1] * rank
    for source, target in enumerate(dims):
        compact[target] = value.shape[source]
    return value.reshape(compact)


def _fold(eqn, inputs: list) -> list:
    """The equation evaluated by JAX on constants: elementwise ones at the operands' broadcast
    shape (they may be compact), the others at their full shapes."""
    if eqn.primitive.name in ELEMENTWISE or eqn.primitive.name in ("rsqrt", "convert_element_type"):
        shape = np.broadcast_shapes(*(x.shape for x in inputs))
        inputs = [np.broadcast_to(x, shape) for x in inputs]
    else:
        inputs = [_full(x, var) if x.ndim else x for x, var in zip(inputs, eqn.invars)]
    out = eqn.primitive.bind(*inputs, **eqn.params)
    return [np.asarray(o) for o in (out if eqn.primitive.multiple_results else [out])]
