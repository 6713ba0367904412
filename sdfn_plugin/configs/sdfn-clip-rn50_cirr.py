# SDFN (Wu et al., ICASSP 2024) on CIRR with frozen CLIP RN50 towers (open_clip, OpenAI weights), as
# sdfn-clip-rn50_fashioniq.py: 7x7 dense CLIP image tokens (pooled = the CLIP image embedding, also the target
# embedding) and projected per-token text features; the 1024-d CLIP space is SDFN's width. Fusion, losses and
# schedule as SDFN on FashionIQ (Adam, 60 epochs, lr x0.1 at 50, batch 32); CIRR's official evaluation
# (cirr/R@K, cirr/Rsubset@K), best epoch by cirr/avg. Not reported by the SDFN paper (FashionIQ, Shoes,
# Fashion200K only). Images use CLIP's mean/std.
_base_ = [
    '_base_/models/sdfn_r50_lstm.py', '_base_/datasets/cirr.py',
    '_base_/schedules/sdfn_adam_fashioniq.py', '_base_/default_runtime.py'
]
model = dict(
    data_preprocessor=dict(mean=(122.770938, 116.74601, 104.093735), std=(68.500533, 66.632158, 70.323163)),
    image_encoder=dict(_delete_=True, type='OpenCLIPVisual', model_name='RN50', pretrained='openai', frozen=True),
    text_encoder=dict(_delete_=True, type='OpenCLIPText', model_name='RN50', pretrained='openai', frozen=True),
)
default_hooks = dict(checkpoint=dict(save_best='cirr/avg', rule='greater'))
custom_hooks = [dict(type='PrepareGalleryHook'), dict(type='EpochReseedHook'), dict(type='PathMemoryHook')]
