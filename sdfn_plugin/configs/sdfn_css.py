# SDFN on the built-in synthetic benchmark, at the budget of tirg_css.py (same SmallCNN + LSTM towers,
# schedule, batch and seed; the pooled head differs, see below). Scaled to the 64-px images: 256-d tokens (16 regions), 8 heads; the paper's
# three layers, four modules, MSR routers and all three losses.
_base_ = [
    '_base_/models/sdfn_r50_lstm.py', '_base_/datasets/css.py',
    '_base_/schedules/css_adam.py', '_base_/default_runtime.py'
]
embed_dim = 256
model = dict(
    # same convolutional tower as tirg_css.py (coordinate channels); the target is the paper's region average
    # of the projected tokens, so the pooled head is 'mean' here
    image_encoder=dict(_delete_=True, type='SmallCNN', channels=(16, 32, 64, 128), out_dim=embed_dim,
                       coord_channels=True, pool='mean'),
    text_encoder=dict(_delete_=True, type='LSTMTextEncoder', embed_dim=embed_dim, hidden_dim=embed_dim,
                      pooling='max', dropout=0.0, vocab_dataset={{_base_.train_dataset}}),
    fusion=dict(image_dim=embed_dim, text_dim=embed_dim, embed_dim=embed_dim),
)
default_hooks = dict(checkpoint=dict(save_best='retrieval/R@1', rule='greater'))
custom_hooks = [dict(type='PrepareGalleryHook'), dict(type='EpochReseedHook'), dict(type='PathMemoryHook')]
