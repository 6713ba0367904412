# The two towers of one CLIP model (Radford et al., ICML 2021) from open_clip: ViT-B/32, OpenAI weights, both
# frozen, 512-d joint embedding space (no adapters). Images are normalised with CLIP's mean/std.
# Weights: open_clip downloads the 'openai' tag into its cache on first use; a local file path works too
# (pretrained='/path/ViT-B-32.pt'); pretrained=None builds offline with random weights.
# Method configs add `fusion` and `losses`.
clip_dim = 512
model = dict(
    type='ComposedRetriever',
    data_preprocessor=dict(mean=(122.770938, 116.74601, 104.093735), std=(68.500533, 66.632158, 70.323163)),
    image_encoder=dict(type='OpenCLIPVisual', model_name='ViT-B-32', pretrained='openai', frozen=True),
    text_encoder=dict(type='OpenCLIPText', model_name='ViT-B-32', pretrained='openai', frozen=True),
    scorer=dict(type='CosineScorer'),
    topk=50,
)
