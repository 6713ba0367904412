# TIRG (Vo et al., CVPR 2019) on a small CNN + LSTM, for low-resolution synthetic images.
# The text encoder's vocabulary source (vocab_dataset) is set by the method config.
embed_dim = 512
model = dict(
    type='ComposedRetriever',
    image_encoder=dict(type='SmallCNN', channels=(32, 64, 128, 256), out_dim=embed_dim),
    text_encoder=dict(type='LSTMTextEncoder', embed_dim=embed_dim, hidden_dim=embed_dim,
                      out_dim=embed_dim, pooling='last', dropout=0.1),
    fusion=dict(type='TIRG', image_dim=embed_dim, text_dim=embed_dim, embed_dim=embed_dim),
    # TIRG's learnable normalisation scale s (init 4) on both sides -> logits s^2 * cos.
    losses=[dict(type='BatchClassificationLoss', scale=4.0, learn_scale=True, parametrization='square')],
    scorer=dict(type='CosineScorer'),
    topk=50,
)
