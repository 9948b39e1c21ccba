"""The course's backpropagation examples, reverse mode against path sums and jax.grad."""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import autodiff as ad


def test_course_example_e_equals_a_plus_b_times_b_plus_one():
    a, b = ad.Value(2.0, label="a"), ad.Value(1.0, label="b")
    c, d = a + b, b + 1
    e = c * d
    assert (c.data, d.data, e.data) == (3.0, 2.0, 6.0)  # the forward pass on the slide
    assert ad.grad(e, [a, b]) == [2.0, 5.0]  # e_a = 1*2, e_b = 1*2 + 1*3
    grads, n_paths = ad.path_grad(e, [a, b])
    assert grads == [2.0, 5.0]
    assert n_paths == 3  # a -> c -> e; b -> c -> e; b -> d -> e
    assert ad.backprop(e).n_edges == 6  # a->c, b->c, b->d, 1->d, c->e, d->e


def x_y_z_graph():
    """The course's path factorisation figure: three edges X -> Y, three edges Y -> Z."""
    alpha, beta, gamma, delta, epsilon, zeta = 2.0, -3.0, 0.5, 7.0, 1.5, -0.25
    x = ad.Value(1.0, label="X")
    y = ad.Value(4.0, parents=(x, x, x), local_grads=(alpha, beta, gamma), op="Y")
    z = ad.Value(9.0, parents=(y, y, y), local_grads=(delta, epsilon, zeta), op="Z")
    expected = (alpha + beta + gamma) * (delta + epsilon + zeta)
    nine_terms = sum(p * q for p in (alpha, beta, gamma) for q in (delta, epsilon, zeta))
    assert expected == pytest.approx(nine_terms)
    return x, z, expected


def test_x_y_z_nine_paths_and_six_edges():
    x, z, expected = x_y_z_graph()
    grads, n_paths = ad.path_grad(z, [x])
    assert n_paths == 9
    assert grads[0] == pytest.approx(expected)
    result = ad.backprop(z)
    assert result.n_edges == 6
    assert result.grads[x] == pytest.approx(expected)
    assert ad.grad(z, [x]) == [result.grads[x]]


def test_paths_grow_exponentially_edges_linearly():
    # v_{i+1} = v_i * v_i: 2 edges per level, 2**depth paths from x to the output.
    x = ad.Value(1.001)
    v = x
    depth = 12
    for _ in range(depth):
        v = v * v
    grads, n_paths = ad.path_grad(v, [x])
    assert n_paths == 2**depth
    assert ad.backprop(v).n_edges == 2 * depth
    # v = x ** (2**depth), so dv/dx = 2**depth * x ** (2**depth - 1)
    expected = 2**depth * 1.001 ** (2**depth - 1)
    assert grads[0] == pytest.approx(expected, rel=1e-9)
    assert ad.grad(v, [x])[0] == pytest.approx(expected, rel=1e-9)


def test_ten_thousand_node_chain_does_not_recurse():
    x = ad.Value(1.0)
    v = x
    for _ in range(10_000):
        v = v * 1.0001
    expected = 1.0001**10_000
    assert v.data == pytest.approx(expected, rel=1e-9)
    assert ad.grad(v, [x])[0] == pytest.approx(expected, rel=1e-9)
    assert ad.path_grad(v, [x]) == (ad.grad(v, [x]), 1)
    assert ad.to_dot(v).count("->") == 20_000  # v_i -> v_i+1 and constant -> v_i+1


# A linear classifier with D = 2 inputs and T = 2 classes and the cross-entropy loss
# decomposed into scalar expressions, as in the course.
D, T, S = 2, 2, 4


def sample_loss(weights, biases, x, label):
    """l_s = log(sum_t exp(z_t)) - z_label with z_t = sum_d w_td x_d + b_t."""
    logits = [sum((weights[t][d] * x[d] for d in range(D)), biases[t]) for t in range(T)]
    return ad.log(sum(ad.exp(z) for z in logits)) - logits[label]


def vectorised_loss(params, xs, labels):
    weights, biases = params
    logits = xs @ weights.T + biases
    return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(len(labels)), labels])


@pytest.fixture
def classifier():
    rng = np.random.default_rng(6)
    weights, biases = rng.normal(size=(T, D)), rng.normal(size=T)
    xs, labels = rng.normal(size=(S, D)), np.array([0, 1, 1, 0])
    w_nodes = [[ad.Value(float(weights[t, d])) for d in range(D)] for t in range(T)]
    b_nodes = [ad.Value(float(biases[t])) for t in range(T)]
    params = [w for row in w_nodes for w in row] + b_nodes  # order of W.ravel(), then b
    losses = [sample_loss(w_nodes, b_nodes, x.tolist(), int(y)) for x, y in zip(xs, labels)]
    with jax.enable_x64(True):
        loss, (grad_w, grad_b) = jax.value_and_grad(vectorised_loss)(
            (jnp.asarray(weights), jnp.asarray(biases)), jnp.asarray(xs), jnp.asarray(labels)
        )
        per_sample = [
            jax.grad(vectorised_loss)((jnp.asarray(weights), jnp.asarray(biases)), x[None], y[None])
            for x, y in zip(jnp.asarray(xs), jnp.asarray(labels))
        ]
    jax_per_sample = [np.concatenate([gw.ravel(), gb]) for gw, gb in per_sample]
    jax_grad = np.concatenate([np.asarray(grad_w).ravel(), np.asarray(grad_b)])
    return params, losses, float(loss), jax_grad, jax_per_sample


def test_per_sample_gradient_equals_jax_grad(classifier):
    params, losses, _, _, jax_per_sample = classifier
    for loss, expected in zip(losses, jax_per_sample):
        np.testing.assert_allclose(ad.grad(loss, params), expected, rtol=0, atol=1e-6)
        grads, n_paths = ad.path_grad(loss, params)
        np.testing.assert_allclose(grads, expected, rtol=0, atol=1e-6)
        # By hand: one path to every parameter through log-sum-exp, one more to the
        # label's w_y1, w_y2, b_y through -z_label: 6 + 3.
        assert n_paths == 9


def test_minibatch_loss_and_gradient_are_averages_over_samples(classifier):
    params, losses, jax_loss, jax_grad, _ = classifier
    minibatch_loss = sum(losses) / S
    assert minibatch_loss.data == pytest.approx(jax_loss, abs=1e-12)
    assert minibatch_loss.data == pytest.approx(np.mean([loss.data for loss in losses]), abs=1e-12)
    mean_of_grads = np.mean([ad.grad(loss, params) for loss in losses], axis=0)
    np.testing.assert_allclose(ad.grad(minibatch_loss, params), mean_of_grads, atol=1e-12)
    np.testing.assert_allclose(ad.grad(minibatch_loss, params), jax_grad, rtol=0, atol=1e-6)


def test_to_dot_shows_values_gradients_and_local_gradients():
    a, b = ad.Value(2.0, label="a"), ad.Value(1.0, label='b "quoted"')
    e = (a + b) * (b + 1)
    dot = ad.to_dot(e)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    nodes = dict(re.findall(r'^  (n\d+) \[label="((?:[^"\\]|\\.)*)"(?:, style=dashed)?\];', dot, re.M))
    assert len(nodes) == 6  # a, b, the constant 1, c, d, e
    labels = sorted(label.split("\\n")[0] for label in nodes.values())
    assert labels == sorted(["*", "+", "+", "a", 'b \\"quoted\\"', "constant"])
    by_title = {label.split("\\n")[0]: label for label in nodes.values()}
    assert by_title["a"].endswith("value 2\\ngrad 2")
    assert by_title['b \\"quoted\\"'].endswith("value 1\\ngrad 5")
    assert by_title["*"].endswith("value 6\\ngrad 1")
    assert re.findall(r'label="(\w+)\\n[^"]*", style=dashed', dot) == ["constant"]  # only the 1 of b + 1
    edges = re.findall(r'(n\d+) -> (n\d+) \[label="([^"]+)"\];', dot)
    assert len(edges) == 6
    # The edges into e carry the local gradients de/dc = d = 2 and de/dd = c = 3.
    e_name = next(n for n, label in nodes.items() if label.startswith("*"))
    assert sorted(g for _, child, g in edges if child == e_name) == ["2", "3"]


@pytest.mark.parametrize("differentiate", [ad.grad, ad.path_grad])
def test_bad_output_is_rejected(differentiate):
    a = ad.Value(1.0)
    with pytest.raises(TypeError, match="scalar Value built from Value expressions; got float"):
        differentiate(3.0, [a])
    with pytest.raises(TypeError, match="one scalar Value; got a list of 2 elements"):
        differentiate([a * 2, a * 3], [a])
    with pytest.raises(TypeError, match=r"one scalar Value; got an array of shape \(3,\)"):
        differentiate(jnp.ones(3), [a])


@pytest.mark.parametrize("differentiate", [ad.grad, ad.path_grad])
def test_bad_wrt_is_rejected(differentiate):
    a = ad.Value(2.0)
    out = a * a
    with pytest.raises(TypeError, match=r"For one node x pass \[x\]"):
        differentiate(out, a)
    with pytest.raises(TypeError, match=r"wrt\[1\] must be a Value; got float"):
        differentiate(out, [a, 2.0])
    with pytest.raises(ValueError, match=r"wrt\[0\] = Value\(2.0\) is not a node"):
        differentiate(out, [ad.Value(2.0)])  # same number, different node


def test_output_itself_and_leaf_output():
    a = ad.Value(3.0)
    out = a * 2
    assert ad.grad(out, [out, a]) == [1.0, 2.0]
    assert ad.path_grad(out, [out, a]) == ([1.0, 2.0], 2)
    assert ad.grad(a, [a]) == [1.0]
    assert math.isclose(ad.grad(ad.exp(a), [a])[0], math.exp(3.0))
