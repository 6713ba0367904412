# AMC (Zhu et al., ACM TOMM 2023) on the built-in synthetic benchmark, at the budget of tirg_css.py (same
# SmallCNN + LSTM towers, schedule, batch and seed), scaled to the 64-px images like sdfn_css.py: 256-d tokens
# (4x4 = 16 regions), 8 heads, router hidden 128 (AMC's C/2). AMC's own parts: two sigmoid-routed layers, the
# region-mean target (pool='mean'), max-pooled sentence feature with 0-filled padding, CE on 10 x cosine + Gram-matrix MSE, and
# evaluation with EMA weights (restored to the raw weights after each evaluation, unlike the official code).
# Not applicable here: BatchNorm running statistics fixed (the CNN trains from scratch) and GloVe.
_base_ = [
    '_base_/models/amc_r50_lstm.py', '_base_/datasets/css.py',
    '_base_/schedules/css_adam.py', '_base_/default_runtime.py'
]
embed_dim = 256
model = dict(
    image_encoder=dict(_delete_=True, type='SmallCNN', channels=(16, 32, 64, 128), out_dim=embed_dim,
                       coord_channels=True, pool='mean'),
    text_encoder=dict(_delete_=True, type='LSTMTextEncoder', embed_dim=embed_dim, hidden_dim=embed_dim,
                      pooling='max', max_padding='zero', dropout=0.0, vocab_dataset={{_base_.train_dataset}}),
    fusion=dict(image_dim=embed_dim, text_dim=embed_dim, embed_dim=embed_dim, router_hidden=embed_dim // 2),
)
default_hooks = dict(checkpoint=dict(save_best='retrieval/R@1', rule='greater'))
# EMA before PrepareGalleryHook (ABOVE_NORMAL): the gallery must be encoded with the EMA weights too.
# AMC's decay 0.999 averages over ~1000 iterations, ~5 % of its 50-epoch runs; the 5-epoch synthetic schedule
# has 1,560 iterations, so the same fraction gives decay 0.99 (momentum 0.01 in mmengine's convention).
custom_hooks = [
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.01, priority='ABOVE_NORMAL'),
    dict(type='PrepareGalleryHook'),
    dict(type='EpochReseedHook'),
]
