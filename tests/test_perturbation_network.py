"""The GEARS-style torch network and its loss (hand-computed cases)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_geometric")

from _perturbation_helpers import one_torch_thread  # noqa: E402

_threads = pytest.fixture(scope="module", autouse=True)(one_torch_thread)


def _network(**kwargs):
    from sclong_tl.model.perturbation import PerturbationNetwork

    edge_index = torch.tensor([[0, 1, 1, 2, 0, 1, 2, 3], [1, 0, 2, 1, 0, 1, 2, 3]])
    torch.manual_seed(0)
    return PerturbationNetwork(5, 6, 4, edge_index, torch.ones(8), hidden_size=8, **kwargs)


def test_shapes_and_control_passthrough():
    network = _network().eval()
    representations = torch.randn(3, 5, 6)
    control = torch.rand(3, 5)
    nodes = torch.tensor([[-1, -1], [0, -1], [0, 2]])
    prediction = network(representations, control, nodes, torch.zeros(3, 5))
    assert prediction.shape == (3, 5)
    # the shift is added to the control cell's expression
    shifted = network(representations, control + 1.0, nodes, torch.zeros(3, 5))
    torch.testing.assert_close(shifted, prediction + 1.0)
    # double perturbation embeddings are summed: order does not matter
    swapped = network(representations, control, torch.tensor([[-1, -1], [0, -1], [2, 0]]), torch.zeros(3, 5))
    torch.testing.assert_close(swapped, prediction)
    # broadcasting one (mean) representation over the batch
    assert network(representations[:1], control, nodes, torch.zeros(3, 5)).shape == (3, 5)


def test_gradients_reach_go_embeddings():
    network = _network().train()
    prediction = network(
        torch.randn(4, 5, 6), torch.rand(4, 5), torch.tensor([[0, -1], [1, -1], [1, 2], [-1, -1]]), torch.zeros(4, 5)
    )
    prediction.sum().backward()
    assert network.node_embedding.weight.grad.abs().sum() > 0


def test_autofocus_direction_loss_by_hand():
    from sclong_tl.model.perturbation import autofocus_direction_loss

    prediction = torch.tensor([[1.0, 2.0], [0.0, 0.0], [3.0, 1.0]])
    target = torch.tensor([[2.0, 2.0], [1.0, -1.0], [1.0, 1.0]])
    control = torch.tensor([1.5, 0.5])
    groups = torch.tensor([0, 0, 1])
    gamma, lam = 2.0, 0.1
    # per example: mean |err|^4 and mean (sign(t - c) - sign(p - c))^2
    e0 = (1 + 0) / 2 + lam * ((1 - (-1)) ** 2 + (1 - 1) ** 2) / 2
    e1 = (1 + 1) / 2 + lam * (((-1) - (-1)) ** 2 + ((-1) - (-1)) ** 2) / 2
    e2 = (16 + 0) / 2 + lam * (((-1) - 1) ** 2 + (1 - 1) ** 2) / 2
    expected = ((e0 + e1) / 2 + e2) / 2
    loss = autofocus_direction_loss(prediction, target, control, groups, gamma=gamma, direction_lambda=lam)
    assert loss.item() == pytest.approx(expected)


@pytest.fixture(scope="module")
def real_go_graph():
    """The package's GO gene graph over the first 400 vocabulary genes (real annotations, with self loops)."""
    import sclong_tl as sl

    genes = sl.genes.default_vocabulary()[:400]
    edge_index, edge_weight = sl.genes.go_graph_edges(sl.genes.build_go_graph(sl.genes.load_gene2go(), genes), genes)
    return torch.as_tensor(edge_index), torch.as_tensor(edge_weight, dtype=torch.float32), len(genes)


@pytest.mark.parametrize("go_layers", [1, 2])
def test_node_embeddings_of_a_few_nodes_equal_sgconv_over_the_whole_graph(real_go_graph, go_layers):
    """Only the receptive field of the requested nodes is propagated; the numbers are SGConv's on all nodes."""
    from sclong_tl.model.perturbation import PerturbationNetwork

    edge_index, edge_weight, n_nodes = real_go_graph
    torch.manual_seed(0)
    network = PerturbationNetwork(5, 6, n_nodes, edge_index, edge_weight, hidden_size=8, go_layers=go_layers)
    x = network.node_embedding(torch.arange(n_nodes))
    for index, layer in enumerate(network.go_layers):
        x = layer(x, edge_index, edge_weight)
        if index < go_layers - 1:
            x = torch.relu(x)
    nodes = torch.tensor([9, 3, 9, 0, n_nodes - 1])
    torch.testing.assert_close(network.node_embeddings(nodes), x[nodes], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(network.node_embeddings(), x, rtol=1e-5, atol=1e-6)
    # gradients flow to the embedding rows of the receptive field only
    network.node_embeddings(torch.tensor([3])).sum().backward()
    touched = network.node_embedding.weight.grad.abs().sum(dim=1) > 0
    frontier = {3}
    for _ in range(go_layers):
        frontier |= {source for source, target in edge_index.T.tolist() if target in frontier}
    assert 1 < len(frontier) < n_nodes
    expected = torch.zeros(n_nodes, dtype=torch.bool)
    expected[list(frontier)] = True
    assert torch.equal(touched, expected)


def test_control_only_batch_reads_no_go_embedding():
    network = _network().train()
    prediction = network(torch.randn(3, 5, 6), torch.rand(3, 5), torch.full((3, 2), -1), torch.zeros(3, 5))
    prediction.sum().backward()
    assert prediction.shape == (3, 5)
    assert network.node_embedding.weight.grad is None or not network.node_embedding.weight.grad.any()
