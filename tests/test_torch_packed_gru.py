"""packed_gru (torch on the CPU): states and every gradient equal torch.nn.GRU's over the same PackedSequence."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.nn.utils.rnn import pack_padded_sequence  # noqa: E402

from w2vvx.backend.torch_packed_gru import packed_gru  # noqa: E402


def keras_layout(gru):
    """torch.nn.GRU's weights (gate order r, z, n; (3u, in)) in Keras's layout (z, r, h; (in, 3u))."""
    def reorder(matrix):
        r, z, n = matrix.chunk(3, dim=0)
        return torch.cat([z, r, n], dim=0)

    kernel = reorder(gru.weight_ih_l0).t().detach().clone().requires_grad_()
    recurrent_kernel = reorder(gru.weight_hh_l0).t().detach().clone().requires_grad_()
    bias = torch.stack([reorder(gru.bias_ih_l0), reorder(gru.bias_hh_l0)]).detach().clone().requires_grad_()
    return kernel, recurrent_kernel, bias


@pytest.mark.parametrize("lengths", [[7, 1, 4, 7, 2], [3, 3, 3], [1]])
def test_states_and_gradients_equal_torch_gru(lengths):
    torch.manual_seed(0)
    gru = torch.nn.GRU(6, 5, dtype=torch.float64)
    lengths = torch.tensor(lengths)
    inputs = torch.randn(len(lengths), int(lengths.max()), 6, dtype=torch.float64, requires_grad=True)
    packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
    upstream = torch.randn(int(lengths.sum()), 5, dtype=torch.float64)

    expected, _ = gru(packed)
    weights = keras_layout(gru)
    states = packed_gru(packed.data, packed.batch_sizes, *weights)
    np.testing.assert_allclose(states.detach().numpy(), expected.data.detach().numpy(), rtol=1e-10, atol=1e-12)

    expected_grads = torch.autograd.grad((expected.data * upstream).sum(), [inputs, *gru.parameters()],
                                         retain_graph=True)  # the packing is shared
    grads = torch.autograd.grad((states * upstream).sum(), [inputs, *weights])
    np.testing.assert_allclose(grads[0].numpy(), expected_grads[0].numpy(), rtol=1e-9, atol=1e-12)
    torch_layout = keras_layout_grads_as_torch(grads[1:])
    for name, got, want in zip(["weight_ih", "weight_hh", "bias_ih", "bias_hh"], torch_layout, expected_grads[1:]):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def keras_layout_grads_as_torch(grads):
    kernel, recurrent_kernel, bias = grads

    def reorder(matrix):  # (z, r, h) rows -> (r, z, n)
        z, r, n = matrix.chunk(3, dim=0)
        return torch.cat([r, z, n], dim=0)

    return reorder(kernel.t()), reorder(recurrent_kernel.t()), reorder(bias[0]), reorder(bias[1])


def test_frozen_weights_get_no_gradient_and_the_trained_one_is_unchanged():
    """With frozen inputs and weights (an untrainable embedding path; their gradients are skipped) the trained
    weight's gradient is the one computed when every input is trained."""
    torch.manual_seed(1)
    data, kernel, bias = torch.randn(5, 3, dtype=torch.float64), torch.randn(3, 6, dtype=torch.float64), \
        torch.randn(2, 6, dtype=torch.float64)
    recurrent_kernel = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
    sizes = torch.tensor([2, 2, 1])
    states = packed_gru(data, sizes, kernel, recurrent_kernel, bias)
    (frozen,) = torch.autograd.grad(states.square().sum(), [recurrent_kernel])

    trained = [tensor.clone().requires_grad_() for tensor in (data, kernel, bias)]
    states = packed_gru(trained[0], sizes, trained[1], recurrent_kernel, trained[2])
    full = torch.autograd.grad(states.square().sum(), [recurrent_kernel, *trained])
    np.testing.assert_allclose(frozen.numpy(), full[0].numpy(), rtol=1e-12)
    assert all(grad.abs().sum() > 0 for grad in full)


@pytest.mark.parametrize("sizes, rows, message", [
    ([1, 2], 3, "non-increasing"),
    ([2, 0], 2, "non-increasing"),
    ([], 0, "non-increasing"),
    ([2, 1], 4, "sum to 3 rows but data has 4"),
])
def test_rejects_batch_sizes_that_are_not_a_packed_sequences(sizes, rows, message):
    with pytest.raises(ValueError, match=message):
        packed_gru(torch.zeros(rows, 3), torch.tensor(sizes, dtype=torch.int64), torch.zeros(3, 6),
                   torch.zeros(2, 6), torch.zeros(2, 6))
