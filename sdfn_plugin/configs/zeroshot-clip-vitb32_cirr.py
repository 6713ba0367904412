# Zero-shot composed retrieval on CIRR val (official protocol, cirr/R@K, cirr/Rsubset@K, cirr/avg): the query is
# the sum of the normalised CLIP ViT-B/32 image and text embeddings (ZeroShotSum); nothing is trained. Images at
# CLIP's view (shorter side 224, centre crop). Evaluate directly:
#   python tools/test.py configs/zeroshot-clip-vitb32_cirr.py --no-checkpoint
#   mim test sdfn_plugin zeroshot-clip-vitb32_cirr.py --checkpoint none
# test1 server files: add --cfg-options test_dataloader.dataset.split=test1 --submission DIR.
_base_ = ['_base_/models/clip_vitb32.py', '_base_/datasets/cirr.py', '_base_/default_runtime.py']
model = dict(
    fusion=dict(type='ZeroShotSum', image_dim={{_base_.clip_dim}}, text_dim={{_base_.clip_dim}},
                embed_dim={{_base_.clip_dim}}),
    # the retriever needs a training objective; evaluation never calls it
    losses=[dict(type='BatchClassificationLoss', scale=100.0)],
    # every CIRR reference is also a gallery image: the frozen image tower encodes each image once (gallery and
    # references alike) and later runs reuse it (docs/feature_cache.md)
    feature_cache=dict(dir='work_dirs/feature_cache'),
)
custom_hooks = [dict(type='FeatureCacheHook'), dict(type='PrepareGalleryHook')]
# CLIP's view; each transform names its images (the feature cache maps every image role to its transforms)
def _view(*keys):
    return [dict(type='LoadCIRImages', keys=keys), dict(type='ResizeImages', size=224, keys=keys),
            dict(type='CenterCropImages', size=224, keys=keys), dict(type='PackCIRInputs')]


_test = dict(pipeline=_view('ref'), gallery_pipeline=_view('img'))
val_dataloader = dict(dataset=_test)
test_dataloader = dict(dataset=_test)
# nothing to train: the Runner accepts no train_dataloader only together with no train_cfg and optim_wrapper
train_dataloader = None
