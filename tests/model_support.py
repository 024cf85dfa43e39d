"""What the model and training tests share: a tiny network config and one torch thread."""

import pytest

import torch  # noqa: E402

from duet.model.config import ModelConfig  # noqa: E402

SMALL = ModelConfig(channels=(16, 32), cond_dim=16, role_dim=4, emotion_dim=4, relation_dim=2, heads=2,
                    emotions=("neutral", "happy"), relations=("unknown", "friends"), window=40, blend=4)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One torch thread: on a shared 2-core machine, two threads contending run many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
