# CLIP4Cir Combiner (Baldrati et al., CVPR 2022) on FashionIQ: frozen CLIP RN50x4, Combiner, CE on 100 x cosine,
# Adam 2e-5, batch 4096, 300 epochs; images at CLIP's 288-px view (train: no crop/flip augmentation, as CLIP4Cir).
# Training text as CLIP4Cir's combiner_train.py: caption_mode='random' draws "c0 and c1", "c1 and c0", "c0" or
# "c1" at every access; evaluation "c0 and c1". Deviations: this repository's VAL protocol (VAL gallery, reference
# excluded) instead of CLIP4Cir's split gallery with the reference kept; captions are stripped of whitespace but
# not of '.?, ' nor capitalised; training in fp32 (CLIP4Cir: fp16 autocast, see docs/zoo.md).
_base_ = [
    '_base_/models/combiner_clip_rn50x4.py', '_base_/datasets/fashioniq.py',
    '_base_/schedules/combiner_adam_300e.py', '_base_/default_runtime.py'
]
# CLIP's view: shorter side to 288 px, centre crop
_view = [dict(type='ResizeImages', size=288), dict(type='CenterCropImages', size=288)]
_load = dict(type='LoadCIRImages', allow_truncated=True)
train_dataloader = dict(
    batch_size=4096,
    dataset=dict(caption_mode='random', joiner=' and ',
                 pipeline=[dict(_load, keys=('ref', 'tgt')), *_view, dict(type='PackCIRInputs')]))
_test = dict(pipeline=[dict(_load, keys=('ref', )), *_view, dict(type='PackCIRInputs')],
             gallery_pipeline=[dict(_load, keys=('img', )), *_view, dict(type='PackCIRInputs')])
val_dataloader = [
    dict(batch_size=64, num_workers=2, persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=False),
         dataset=dict(type='FashionIQDataset', data_root='data/fashioniq', split='val', categories=cat,
                      gallery='val_union', caption_mode='concat_one', joiner=' and ', image_layout='flat',
                      test_mode=True, **_test))
    for cat in ('dress', 'shirt', 'toptee')
]
test_dataloader = val_dataloader
default_hooks = dict(checkpoint=dict(save_best='avg', rule='greater'))
custom_hooks = [dict(type='FeatureCacheHook'), dict(type='PrepareGalleryHook'), dict(type='EpochReseedHook')]
