"""The shipped encoder-swap configs: their towers build offline (weights switched off or pointed at the
bundled MiniLM) and their widths match the fusion of the same config. The zero-shot config is run end to
end in tests/test_models/test_fusions/test_zeroshot.py."""
import os.path as osp

import pytest
from mmengine.config import Config

from sdfn_plugin.registry import MODELS

from cir_testlib import CONFIGS
from encoder_testlib import minilm_dir

OFFLINE = {'OpenCLIPVisual': dict(pretrained=None), 'OpenCLIPText': dict(pretrained=None),
           'TimmEncoder': dict(pretrained=False), 'HFTextEncoder': dict(model=minilm_dir()),
           'TorchvisionResNet': dict(weights=None)}
# config -> the encoders it swaps in (the other tower is the base config's, tested elsewhere)
SWAPS = {
    'sdfn-clip-rn50_fashioniq.py': ('image_encoder', 'text_encoder'),
    'tirg-timm-resnet50_shoes.py': ('image_encoder', ),
    'sdfn-minilm_shoes.py': ('text_encoder', ),
    # the zero-shot config's towers (run end to end there) + the Combiner
    'combiner-clip-vitb32_fashioniq.py': ('fusion', ),
}


@pytest.mark.parametrize('name', sorted(SWAPS))
def test_swapped_towers_build_offline_and_fit_the_fusion(name):
    model = Config.fromfile(osp.join(CONFIGS, name)).model
    fusion = model.fusion
    for key in SWAPS[name]:
        built = MODELS.build(dict(model[key], **OFFLINE.get(model[key]['type'], {})))
        if key == 'fusion':
            assert (built.image_dim, built.text_dim, built.embed_dim) == (512, 512, 512)  # CLIP ViT-B/32 space
            continue
        expected = fusion.image_dim if key == 'image_encoder' else fusion.text_dim
        assert built.out_dim == expected, f'{name}: {key}.out_dim {built.out_dim} != fusion width {expected}'
