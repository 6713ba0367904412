# TIRG (Vo et al., CVPR 2019; google/tirg img_text_composition_models.py) as in its real-image experiments:
# ImageNet ResNet-18, global average pool + fc 512 (= 1x1 projection with bias, then mean over regions),
# random 512-d word embeddings + LSTM 512 (last valid output, dropout 0.1, Linear), gated residual
# composition, batch-based classification with TIRG's learnable normalisation scale s (init 4): logits
# s^2 * cos (docs/zoo.md, TIRG).
# The ImageNet weights come from torchvision (downloaded into the torch hub cache on first use); set
# model.image_encoder.weights=None to build offline with random weights.
# The text encoder's vocabulary source (vocab_dataset) is set by the method config.
embed_dim = 512
model = dict(
    type='ComposedRetriever',
    image_encoder=dict(type='TorchvisionResNet', depth=18, out_dim=embed_dim, proj_bias=True,
                       weights='IMAGENET1K_V1'),
    text_encoder=dict(type='LSTMTextEncoder', embed_dim=embed_dim, hidden_dim=embed_dim,
                      out_dim=embed_dim, pooling='last', dropout=0.1),
    fusion=dict(type='TIRG', image_dim=embed_dim, text_dim=embed_dim, embed_dim=embed_dim),
    losses=[dict(type='BatchClassificationLoss', scale=4.0, learn_scale=True, parametrization='square')],
    scorer=dict(type='CosineScorer'),
    topk=50,
)
