# AMC (Zhu et al., ACM TOMM 2023; KevinLight831/AMC shell/IQ.sh) on FashionIQ (VAL gallery, "c0 <and> c1"):
# ResNet-50 (frozen BN) + GloVe/LSTM 1024, two sigmoid-routed layers, CE x10 + Gram MSE; Adam 1e-4, batch 32,
# 50 epochs, x0.1 at 40; evaluation with EMA weights (decay 0.999). AMC trains one model per category; this
# config trains one model on the three categories jointly and evaluates each (one run gives the whole table);
# for AMC's per-category regime set train_dataset categories to one category, as sdfn_fashioniq-<cat>.py does.
_base_ = [
    '_base_/models/amc_r50_lstm.py', '_base_/datasets/fashioniq.py',
    '_base_/schedules/amc_adam_50e.py', '_base_/default_runtime.py'
]
model = dict(text_encoder=dict(specials=('<and>', ), vocab_dataset={{_base_.train_dataset}}))
default_hooks = dict(checkpoint=dict(save_best='avg', rule='greater'))
custom_hooks = [
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.001, priority='ABOVE_NORMAL'),
    dict(type='PrepareGalleryHook'),
    dict(type='EpochReseedHook'),
]
randomness = dict(seed=300)
