# AMC (Zhu et al., ACM TOMM 2023; KevinLight831/AMC shell/shoes.sh) on Shoes: ResNet-50 (BN statistics fixed) + GloVe/LSTM
# 1024, two sigmoid-routed layers, CE x10 + Gram MSE; Adam 1e-4, batch 32, 50 epochs, x0.1 at 40; evaluation
# with EMA weights (decay 0.999). AMC's protocol: scan pairs on the
# current 4,658-name eval list (17,954 training entries, 3,521 queries, gallery 4,658), reference excluded; an
# epoch is AMC's 561 batches, so the decay at epoch 40 falls on the same iteration (22,440) as in AMC's run.
_base_ = [
    '_base_/models/amc_r50_lstm.py', '_base_/datasets/shoes.py',
    '_base_/schedules/amc_adam_50e.py', '_base_/default_runtime.py'
]
model = dict(text_encoder=dict(vocab_dataset={{_base_.train_dataset}}))
# AMC keeps the epoch with the best R@1 + R@10 + R@50
default_hooks = dict(checkpoint=dict(save_best='shoes/mean', rule='greater'))
# EMA swapped in before PrepareGalleryHook encodes the gallery (ABOVE_NORMAL) and swapped back after evaluation.
custom_hooks = [
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.001, priority='ABOVE_NORMAL'),
    dict(type='PrepareGalleryHook'),
    dict(type='EpochReseedHook'),
]
randomness = dict(seed=300)  # AMC's seed
