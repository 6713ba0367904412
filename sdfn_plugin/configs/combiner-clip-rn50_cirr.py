# CLIP4Cir stage 2 (Baldrati et al., CVPR 2022; ABaldrati/CLIP4Cir combiner_train.py) on CIRR: frozen CLIP RN50
# towers (open_clip, OpenAI weights, 1024-d joint space), Combiner with the official size ratios (P = 4D, H = 8D),
# dropout 0.5, cross-entropy on 100 x cosine; Adam lr 2e-5, batch 4096, 300 epochs, best epoch by cirr/avg.
# As in CLIP4Cir, the Combiner trains on pre-extracted CLIP image features: model.feature_cache + FeatureCacheHook
# encode every image once (docs/feature_cache.md), so the pipelines are deterministic (CLIP's view: shorter side
# 224, centre crop; no augmentation, as CLIP4Cir's stage 2). Deviations: CLIP4Cir reports CIRR with RN50x4 (and
# stage-1 fine-tuned CLIP); captions are used as given (stripped).
_base_ = [
    '_base_/models/combiner_clip_rn50x4.py', '_base_/datasets/cirr.py',
    '_base_/schedules/combiner_adam_300e.py', '_base_/default_runtime.py'
]
clip_dim = 1024
model = dict(
    image_encoder=dict(model_name='RN50'),
    text_encoder=dict(model_name='RN50'),
    fusion=dict(image_dim=clip_dim, text_dim=clip_dim, embed_dim=clip_dim, projection_dim=4 * clip_dim,
                hidden_dim=8 * clip_dim),
)
# CLIP's view; each transform names its images (the feature cache maps every image role to its transforms)
def _view(*keys):
    return [dict(type='LoadCIRImages', keys=keys), dict(type='ResizeImages', size=224, keys=keys),
            dict(type='CenterCropImages', size=224, keys=keys), dict(type='PackCIRInputs')]


train_dataloader = dict(
    batch_size=4096,
    dataset=dict(pipeline=_view('ref', 'tgt')))
_test = dict(pipeline=_view('ref'), gallery_pipeline=_view('img'))
val_dataloader = dict(dataset=_test)
test_dataloader = dict(dataset=_test)
default_hooks = dict(checkpoint=dict(save_best='cirr/avg', rule='greater'))
custom_hooks = [dict(type='FeatureCacheHook'), dict(type='PrepareGalleryHook'), dict(type='EpochReseedHook')]
