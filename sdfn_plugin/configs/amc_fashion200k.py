# AMC (Zhu et al., ACM TOMM 2023) on Fashion200K with TIRG's test protocol: ResNet-50 (BN statistics fixed) + GloVe/LSTM
# 1024, two sigmoid-routed layers, CE x10 + Gram MSE; AMC's recipe (Adam 1e-4, batch 32, 50 epochs, x0.1 at
# 40, EMA 0.999 for evaluation).
_base_ = [
    '_base_/models/amc_r50_lstm.py', '_base_/datasets/fashion200k.py',
    '_base_/schedules/amc_adam_50e.py', '_base_/default_runtime.py'
]
model = dict(text_encoder=dict(vocab_dataset={{_base_.vocab_dataset}}))
default_hooks = dict(checkpoint=dict(save_best='fashion200k/mean', rule='greater'))
custom_hooks = [
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.001, priority='ABOVE_NORMAL'),
    dict(type='PrepareGalleryHook'),
    dict(type='EpochReseedHook'),
]
randomness = dict(seed=300)
