"""Tests of the multi-scale layout (tf_realnvp.flow.multiscale_layout)."""

import pytest

from tf_realnvp.flow import multiscale_layout


def test_layout_follows_the_paper():
  layout = multiscale_layout((32, 32, 3), num_scales=3, num_filters=8)
  assert [s.event_shape for s in layout] == [(32, 32, 3), (16, 16, 6),
                                             (8, 8, 12)]
  for i, scale in enumerate(layout[:-1]):
    assert [(c.mask_type, c.parity) for c in scale.checkerboard] == [
        ("checkerboard", 0), ("checkerboard", 1), ("checkerboard", 0)]
    assert [(c.mask_type, c.parity) for c in scale.channel] == [
        ("channel", 0), ("channel", 1), ("channel", 0)]
    assert {c.event_shape for c in scale.channel} == {scale.squeezed_shape}
    assert {c.num_filters for c in scale.checkerboard + scale.channel
           } == {8 * 2**i}
  last = layout[-1]
  assert last.is_last and not last.channel
  assert [c.parity for c in last.checkerboard] == [0, 1, 0, 1]
  assert {c.num_filters for c in last.checkerboard} == {32}


@pytest.mark.parametrize("image_shape, num_scales, message", [
    ((28, 28, 1), 4, r"\(28, 28, 1\).*num_scales=4.*8"),
    ((32, 30, 3), 3, r"\(32, 30, 3\).*num_scales=3"),
    ((0, 4, 1), 1, "positive"),
    ((4, 4), 1, "positive"),
    ((4, 4, 1), 0, "num_scales"),
])
def test_bad_shapes_name_the_shape_and_the_scale_count(image_shape,
                                                       num_scales, message):
  with pytest.raises(ValueError, match=message):
    multiscale_layout(image_shape, num_scales, num_filters=4)
