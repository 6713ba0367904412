# ARTEMIS (Delmas et al., ICLR 2022; naver/artemis) with the paper's encoders (docs/zoo.md,
# ARTEMIS): ImageNet ResNet-50 -> pooled -> fc 512; GloVe-300 (840B, local file) + BiGRU 2 x 256;
# EM + IS score (query-dependent, evaluated in gallery chunks), cross-entropy over exp(T) x score with a learnable
# T initialised to ln(1/0.07) = 2.65926. Stage configs set which encoder parts are frozen.
# The BiGRU sentence feature is its two final hidden states, concatenated (official encoders.py forward_bigru):
# pooling='last'. Deviation: average pooling + fc (the 1x1 projection then the token mean) instead of
# GeM (p = 3) + fc.
# Weights: torchvision downloads IMAGENET1K_V1 into the torch cache on first use; GloVe must be a local file.
# Offline/random: image_encoder.weights=None, text_encoder.glove_file=None.
embed_dim = 512
model = dict(
    type='ComposedRetriever',
    image_encoder=dict(type='TorchvisionResNet', depth=50, out_dim=embed_dim, proj_bias=True,
                       weights='IMAGENET1K_V1'),
    text_encoder=dict(type='LSTMTextEncoder', embed_dim=300, hidden_dim=embed_dim // 2, bidirectional=True,
                      rnn='gru', pooling='last', dropout=0.0, glove_file='data/glove/glove.840B.300d.txt'),
    fusion=dict(type='ARTEMIS', image_dim=embed_dim, text_dim=embed_dim, embed_dim=embed_dim),
    scorer=dict(type='ARTEMISScorer'),
    losses=[dict(type='BatchClassificationLoss', scale=2.65926, learn_scale=True, parametrization='exp')],
    topk=50,
)
