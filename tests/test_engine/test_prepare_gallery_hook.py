import torch
from mmengine.dataset import BaseDataset

from sdfn_plugin.engine.hooks import encode_gallery
from sdfn_plugin.testing.dist import run_distributed


class _Images(BaseDataset):
    """11 gallery "images" whose pixel value encodes their index."""

    def __init__(self):
        super().__init__(serialize_data=False, test_mode=True)

    def load_data_list(self):
        return [dict(idx=i) for i in range(11)]

    def prepare_data(self, idx):
        return {'inputs': {'img': torch.full((3, 2, 2), idx, dtype=torch.uint8)}}


class _Model(torch.nn.Module):
    def data_preprocessor(self, batch, training):
        return {'inputs': {'img': torch.stack(batch['inputs']['img']).float()}}

    def extract_gallery(self, images):
        return images.flatten(1)[:, :2] * torch.tensor([1.0, 10.0])


def test_single_process_order():
    out = encode_gallery(_Model(), _Images(), batch_size=4)
    assert out[:, 0].tolist() == list(range(11))


def _sharded(rank, world):
    return encode_gallery(_Model(), _Images(), batch_size=2)


def test_two_ranks_reassemble_the_gallery_in_order():
    results = run_distributed(_sharded, 2)
    expected = encode_gallery(_Model(), _Images(), batch_size=4)
    for out in results:
        assert torch.equal(out, expected)


class _BNModel(_Model):
    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm1d(2)

    def extract_gallery(self, images):
        return self.bn(super().extract_gallery(images))


def test_gallery_is_encoded_in_eval_mode_and_mode_is_restored():
    # mmengine calls before_val_epoch before model.eval(): encoding must not use
    # batch statistics nor update BatchNorm running stats.
    model = _BNModel().train()
    before = model.bn.running_mean.clone()
    out = encode_gallery(model, _Images(), batch_size=4)
    assert model.training
    assert torch.equal(model.bn.running_mean, before)
    expected = (torch.arange(11.0)[:, None] * torch.tensor([1.0, 10.0]) - before) / torch.sqrt(
        model.bn.running_var + model.bn.eps)
    assert torch.allclose(out, expected)
