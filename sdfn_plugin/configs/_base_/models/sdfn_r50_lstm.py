# SDFN (Wu et al., "Self-Distilled Dynamic Fusion Network for Language-based Fashion Retrieval",
# ICASSP 2024, arXiv 2405.15451) with the paper's encoders (docs/sdfn.md, The method):
# * image: ImageNet ResNet-50 last feature map -> 1x1 conv 2048->1024 (no bias) -> 49 region tokens;
#   the target embedding is the mean of the projected target tokens; backbone BatchNorm frozen (AMC);
# * text: GloVe-300 (840B, local file) + LSTM 1024 -> word features, masked max -> sentence feature;
# * fusion: 3 stacked layers of {JRM, CAM, GTM, RCM} with modality-specific routers (mean of the image and
#   text routers' softmax distributions), router-weighted read-out, region mean -> query; cosine scoring;
# * loss: L_bbc (scale 10, fixed) + 1.0 * L_c (Gram consistency) + 1.0 * L_spd (tau 4, previous-epoch
#   per-sample path memory, kept by PathMemoryHook).
# Weights: torchvision downloads IMAGENET1K_V1 into the torch cache on first use; GloVe must be a local file
# (https://nlp.stanford.edu/projects/glove/). Offline/random: image_encoder.weights=None, text_encoder.glove_file=None.
embed_dim = 1024
model = dict(
    type='ComposedRetriever',
    image_encoder=dict(type='TorchvisionResNet', depth=50, out_dim=embed_dim, proj_bias=False,
                       weights='IMAGENET1K_V1', frozen_bn=True),
    text_encoder=dict(type='LSTMTextEncoder', embed_dim=300, hidden_dim=embed_dim, pooling='max', dropout=0.0,
                      glove_file='data/glove/glove.840B.300d.txt'),
    fusion=dict(type='SDFN', image_dim=embed_dim, text_dim=embed_dim, embed_dim=embed_dim,
                modules=('JRM', 'CAM', 'GTM', 'RCM'), num_layers=3, router='msr', combine='mean'),
    losses=[
        dict(type='BatchClassificationLoss', scale=10.0),
        dict(type='GramConsistencyLoss', loss_weight=1.0),
        dict(type='SelfPathDistillationLoss', temperature=4.0, loss_weight=1.0),
    ],
    scorer=dict(type='CosineScorer'),
    topk=50,
)
# Method configs add PathMemoryHook to default_runtime's custom_hooks (the SPD memory is allocated before
# resume and committed at each epoch end).
