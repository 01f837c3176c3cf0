"""tf_packed_gru (TensorFlow on the CPU): states and every gradient equal a padded step loop's, in float64."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from w2vvx.backend.tf_packed_gru import tf_packed_gru  # noqa: E402


def padded_loop_gru(x, lengths, kernel, recurrent_kernel, bias):
    """keras.layers.GRU(reset_after=True)'s cell over every padded step; zeros at padded steps."""
    units = recurrent_kernel.shape[0]
    state, outputs = tf.zeros((x.shape[0], units), x.dtype), []
    for t in range(x.shape[1]):
        step_input = tf.matmul(x[:, t], kernel) + bias[0]
        recurrent = tf.matmul(state, recurrent_kernel) + bias[1]
        z = tf.sigmoid(step_input[:, :units] + recurrent[:, :units])
        r = tf.sigmoid(step_input[:, units:2 * units] + recurrent[:, units:2 * units])
        n = tf.tanh(step_input[:, 2 * units:] + r * recurrent[:, 2 * units:])
        real = (t < lengths)[:, None]
        state = tf.where(real, n + z * (state - n), state)
        outputs.append(tf.where(real, state, tf.zeros_like(state)))
    return tf.stack(outputs, axis=1)


@pytest.mark.parametrize("lengths,steps", [
    ([7, 2, 0, 5, 7], 7),              # an empty row and ties
    ([1, 1, 1], 4),                    # every row ends after one step; a padded step for all
    ([0, 0], 3),                       # nothing to compute
    ([9, 3, 8, 1, 0, 6, 2], 9),        # unsorted lengths
])
@pytest.mark.parametrize("compiled", [False, True])
def test_states_and_gradients_equal_the_padded_loop(lengths, steps, compiled):
    rng = np.random.default_rng(0)
    features, units = 3, 4
    x = tf.Variable(rng.normal(size=(len(lengths), steps, features)))
    weights = [tf.Variable(rng.normal(size=shape) * 0.5)
               for shape in ((features, 3 * units), (units, 3 * units), (2, 3 * units))]
    upstream = tf.constant(rng.normal(size=(len(lengths), steps, units)))
    lengths = tf.constant(lengths)
    results = []
    for gru in (tf.function(tf_packed_gru) if compiled else tf_packed_gru, padded_loop_gru):
        with tf.GradientTape() as tape:
            states = gru(x, lengths, *weights)
            loss = tf.reduce_sum(states * upstream)
        results.append((states.numpy(), [tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, [x, *weights])]))
    (states, grads), (expected, expected_grads) = results
    np.testing.assert_allclose(states, expected, rtol=1e-12, atol=1e-12)
    for name, got, want in zip(["inputs", "kernel", "recurrent_kernel", "bias"], grads, expected_grads):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=name)


def test_an_unknown_batch_size_and_length_are_fine_in_a_graph():
    """Keras's TensorFlow trainer may trace with a None batch dimension; the packing needs no static shape."""
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=s).astype("float32") for s in ((3, 6), (2, 6), (2, 6))]
    traced = tf.function(lambda x, lengths: tf_packed_gru(x, lengths, *weights),
                         input_signature=[tf.TensorSpec([None, None, 3]), tf.TensorSpec([None], tf.int32)])
    x = rng.normal(size=(4, 5, 3)).astype("float32")
    lengths = np.array([5, 0, 2, 3], "int32")
    np.testing.assert_allclose(traced(x, lengths).numpy(), tf_packed_gru(x, lengths, *weights).numpy(), atol=1e-6)
    assert traced(x[:2, :3], lengths[:2].clip(0, 3)).shape == (2, 3, 2)


def test_inputs_that_are_not_three_dimensional_are_refused():
    weights = np.zeros((3, 6)), np.zeros((2, 6)), np.zeros((2, 6))
    with pytest.raises(ValueError, match=r"inputs must be \(batch, steps, features\), got shape \(2, 3\)"):
        tf_packed_gru(np.zeros((2, 3)), np.array([3, 1]), *weights)
