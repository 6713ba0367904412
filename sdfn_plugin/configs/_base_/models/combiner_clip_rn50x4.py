# CLIP4Cir Combiner (Baldrati et al., CVPR 2022; ABaldrati/CLIP4Cir src/combiner.py, combiner_train.py),
# stage 2: frozen CLIP RN50x4 towers (open_clip, OpenAI weights, 640-d joint space) and the Combiner with the
# official sizes (P = 2560, H = 5120), dropout 0.5; cross-entropy on 100 x cosine. Images: CLIP mean/std; the
# method configs feed RN50x4's 288-px input (its attention pool has a fixed 9x9 grid): shorter side resized to
# 288, centre crop (CLIP's view; CLIP4Cir pads over-wide images to aspect 1.25 first and resizes bicubically).
# Not included: CLIP4Cir's stage 1 (fine-tuning CLIP itself); this starts from the original CLIP weights. Load a
# stage-1 CLIP with pretrained='/path/to/finetuned.pt' on both towers.
# Weights: open_clip downloads the 'openai' tag into its cache on first use; pretrained=None builds offline.
clip_dim = 640
model = dict(
    type='ComposedRetriever',
    data_preprocessor=dict(mean=(122.770938, 116.74601, 104.093735), std=(68.500533, 66.632158, 70.323163)),
    image_encoder=dict(type='OpenCLIPVisual', model_name='RN50x4', pretrained='openai', frozen=True),
    text_encoder=dict(type='OpenCLIPText', model_name='RN50x4', pretrained='openai', frozen=True),
    fusion=dict(type='Combiner', image_dim=clip_dim, text_dim=clip_dim, embed_dim=clip_dim, projection_dim=2560,
                hidden_dim=5120, dropout=0.5),
    losses=[dict(type='BatchClassificationLoss', scale=100.0, learn_scale=False, parametrization='linear')],
    scorer=dict(type='CosineScorer'),
    topk=50,
    # CLIP4Cir's stage 2 trains the Combiner on pre-extracted CLIP image features: the frozen image tower runs
    # once per image and later epochs read the cache (docs/feature_cache.md). Method configs add
    # FeatureCacheHook to custom_hooks.
    feature_cache=dict(dir='work_dirs/feature_cache', dtype='float16'),
)
