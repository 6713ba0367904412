# TIRG (Vo et al., CVPR 2019) on a small CNN + LSTM, for low-resolution synthetic images.
# The text encoder's vocabulary source (vocab_dataset) is set by the method config.
embed_dim = 512
model = dict(
    type='ComposedRetriever',
    # Scenes are defined by object positions: coordinate input channels make every token position-aware and
    # the pooled feature is a Linear over the whole 4x4 map (global average pooling lost the position needed by
    # "remove ..." queries: R@1 40.8 -> 62.2 after 2 epochs in our runs).
    image_encoder=dict(type='SmallCNN', channels=(16, 32, 64, 128), out_dim=embed_dim, coord_channels=True,
                       pool='flatten', input_size=64),
    text_encoder=dict(type='LSTMTextEncoder', embed_dim=embed_dim, hidden_dim=embed_dim,
                      out_dim=embed_dim, pooling='last', dropout=0.1),
    fusion=dict(type='TIRG', image_dim=embed_dim, text_dim=embed_dim, embed_dim=embed_dim),
    # TIRG's learnable normalisation scale s (init 4) on both sides -> logits s^2 * cos.
    losses=[dict(type='BatchClassificationLoss', scale=4.0, learn_scale=True, parametrization='square')],
    scorer=dict(type='CosineScorer'),
    topk=50,
)
