# SDFN on FashionIQ with CLIP RN50 towers (open_clip, OpenAI weights) instead of ResNet-50 + GloVe/LSTM; both
# towers frozen (set frozen=False to fine-tune). The 1024-d CLIP space is SDFN's width, so no adapters:
# * image: 7x7 dense CLIP tokens (the attention pool's value/output projections per position), pooled = the
#   CLIP image embedding (also the target embedding);
# * text: projected per-token features of the CLIP text transformer, pooled = end-of-text embedding.
# Everything else (fusion, losses, schedule, evaluation) is sdfn_fashioniq.py. Images use CLIP's mean/std.
_base_ = ['sdfn_fashioniq.py']
model = dict(
    data_preprocessor=dict(mean=(122.770938, 116.74601, 104.093735), std=(68.500533, 66.632158, 70.323163)),
    image_encoder=dict(_delete_=True, type='OpenCLIPVisual', model_name='RN50', pretrained='openai', frozen=True),
    text_encoder=dict(_delete_=True, type='OpenCLIPText', model_name='RN50', pretrained='openai', frozen=True),
)
