# Zero-shot composed retrieval on CIRCO (val: mAP@{5,10,25,50} over all ground truths, R@K of the target):
# the query is the sum of the normalised CLIP image and text embeddings (ZeroShotSum); nothing is trained.
#   python tools/test.py configs/zeroshot-clip-vitb32_circo.py --no-checkpoint
#   mim test sdfn_plugin zeroshot-clip-vitb32_circo.py --checkpoint none
# The 123,403 gallery images go through the feature cache (docs/feature_cache.md): the frozen image tower
# encodes each image once into work_dirs/feature_cache (ViT-B/32 tokens + pooled in float16, 51,200 bytes per
# image, 6.3 GB in all), and later runs, val and test alike (same images, same ids), read it back.
_base_ = ['_base_/models/clip_vitb32.py', '_base_/datasets/circo.py', '_base_/default_runtime.py']
model = dict(
    fusion=dict(type='ZeroShotSum', image_dim={{_base_.clip_dim}}, text_dim={{_base_.clip_dim}},
                embed_dim={{_base_.clip_dim}}),
    # the retriever needs a training objective; evaluation never calls it
    losses=[dict(type='BatchClassificationLoss', scale=100.0)],
    feature_cache=dict(dir='work_dirs/feature_cache', dtype='float16'),
)
custom_hooks = [dict(type='FeatureCacheHook', batch_size=128, num_workers=4), dict(type='PrepareGalleryHook'),
                dict(type='EpochReseedHook')]
# nothing to train: the Runner accepts no train_dataloader only together with no train_cfg and optim_wrapper
train_dataloader = None
