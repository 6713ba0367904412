# CLIP4Cir Combiner (Baldrati et al., CVPR 2022) on the built-in synthetic benchmark, at the budget of
# tirg_css.py: same SmallCNN (coordinate channels, flatten head) + LSTM towers, schedule, batch and seed.
# The Combiner's own recipe: official size ratios (P = 4D, H = 8D, here D = 512), dropout 0.5, cross-entropy on
# 100 x cosine (fixed scale). No CLIP here: the towers train jointly with the Combiner (CLIP4Cir's stage 2
# freezes CLIP; a randomly initialised tower cannot be frozen).
_base_ = ['tirg_css.py']
model = dict(
    fusion=dict(_delete_=True, type='Combiner', image_dim=512, text_dim=512, embed_dim=512, projection_dim=2048,
                hidden_dim=4096, dropout=0.5),
    losses=[dict(type='BatchClassificationLoss', scale=100.0, learn_scale=False, parametrization='linear')],
    scorer=dict(type='CosineScorer'),
)
