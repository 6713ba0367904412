# AMC (Zhu et al., "AMC: Adaptive Multi-expert Collaborative Network for Text-guided Image Retrieval", ACM TOMM
# 2023; KevinLight831/AMC) with the paper's encoders (docs/zoo.md, AMC):
# * image: ImageNet ResNet-50 last feature map -> 1x1 conv 2048->1024 (no bias) -> 49 region tokens; backbone
#   BatchNorm in eval mode (running statistics fixed) with its affine parameters training (norm_eval=True, as
#   the official code); the target embedding is the mean of the projected target tokens;
# * text: GloVe-300 (840B, local file) + LSTM 1024 -> max over the steps with the padding counted as 0
#   (max_padding='zero', the official text_model.py) -> sentence feature;
# * fusion: 2 dynamic layers of {residual, joint-reasoning, style} cells with one sigmoid-gated router each;
#   query = region mean of the last layer; cosine scoring;
# * loss: cross-entropy on 10 x cosine + 1.0 x Gram-matrix MSE of [mean layer-1 out; query] vs targets.
# Evaluation uses EMA weights (decay 0.999): the method configs add mmengine's EMAHook to custom_hooks.
# Weights: torchvision downloads IMAGENET1K_V1 into the torch cache on first use; GloVe must be a local file.
# Offline/random: image_encoder.weights=None, text_encoder.glove_file=None.
embed_dim = 1024
model = dict(
    type='ComposedRetriever',
    image_encoder=dict(type='TorchvisionResNet', depth=50, out_dim=embed_dim, proj_bias=False,
                       weights='IMAGENET1K_V1', norm_eval=True),
    text_encoder=dict(type='LSTMTextEncoder', embed_dim=300, hidden_dim=embed_dim, pooling='max', max_padding='zero',
                      dropout=0.0, glove_file='data/glove/glove.840B.300d.txt'),
    fusion=dict(type='AMC', image_dim=embed_dim, text_dim=embed_dim, embed_dim=embed_dim, num_layers=2,
                num_heads=8, ffn_ratio=0.5, router_hidden=512),
    losses=[
        dict(type='BatchClassificationLoss', scale=10.0),
        dict(type='GramConsistencyLoss', mode='concat', aux_key='amc_last_input_pooled', loss_weight=1.0),
    ],
    scorer=dict(type='CosineScorer'),
    topk=50,
)
