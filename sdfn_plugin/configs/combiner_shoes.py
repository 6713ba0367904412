# CLIP4Cir Combiner (Baldrati et al., CVPR 2022) on Shoes: frozen CLIP RN50x4, Combiner, CE on 100 x cosine,
# Adam 2e-5, batch 4096, 300 epochs; images at CLIP's 288-px view. AMC's protocol (scan pairs on the
# 4,658-name eval list, 3,521 queries), reference excluded (CLIP4Cir did not evaluate Shoes; the protocol is this repository's).
_base_ = [
    '_base_/models/combiner_clip_rn50x4.py', '_base_/datasets/shoes.py',
    '_base_/schedules/combiner_adam_300e.py', '_base_/default_runtime.py'
]
# CLIP's view: shorter side to 288 px, centre crop
_view = [dict(type='ResizeImages', size=288), dict(type='CenterCropImages', size=288)]
train_dataloader = dict(
    batch_size=4096,
    dataset=dict(pipeline=[dict(type='LoadCIRImages', keys=('ref', 'tgt')), *_view, dict(type='PackCIRInputs')]))
_test = dict(pipeline=[dict(type='LoadCIRImages', keys=('ref', )), *_view, dict(type='PackCIRInputs')],
             gallery_pipeline=[dict(type='LoadCIRImages', keys=('img', )), *_view, dict(type='PackCIRInputs')])
val_dataloader = dict(dataset=_test)
test_dataloader = dict(dataset=_test)
default_hooks = dict(checkpoint=dict(save_best='shoes/mean', rule='greater'))
custom_hooks = [dict(type='FeatureCacheHook'), dict(type='PrepareGalleryHook'), dict(type='EpochReseedHook')]
