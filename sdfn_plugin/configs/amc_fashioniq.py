# AMC (Zhu et al., ACM TOMM 2023; KevinLight831/AMC shell/IQ.sh) on FashionIQ (VAL gallery, AMC's text
# "<BOS> c0 <AND> c1 <EOS>" with the vocabulary of the single training captions, so bos/eos are unknown words):
# ResNet-50 (BN statistics fixed) + GloVe/LSTM 1024, two sigmoid-routed layers, CE x10 + Gram MSE; Adam 1e-4, batch 32,
# 50 epochs, x0.1 at 40; evaluation with EMA weights (decay 0.999). AMC trains one model per category; this
# config trains one model on the three categories jointly and evaluates each (one run gives the whole table);
# for AMC's per-category regime set train_dataset categories to one category, as sdfn_fashioniq-<cat>.py does.
_base_ = [
    '_base_/models/amc_r50_lstm.py', '_base_/datasets/fashioniq.py',
    '_base_/schedules/amc_adam_50e.py', '_base_/default_runtime.py'
]
train_dataloader = dict(dataset=dict(caption_mode='amc'))
val_dataloader = [
    dict(batch_size=64, num_workers=2, persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=False),
         dataset=dict(type='FashionIQDataset', data_root={{_base_.data_root}}, split='val', categories=cat,
                      gallery='val_union', caption_mode='amc', image_layout={{_base_.image_layout}},
                      pipeline={{_base_.test_pipeline}}, gallery_pipeline={{_base_.gallery_pipeline}}, test_mode=True))
    for cat in ('dress', 'shirt', 'toptee')
]
test_dataloader = val_dataloader
# AMC's vocabulary: the single captions of the training triplets (FashionIQDataset.texts() in 'amc' mode)
fiq_vocab = dict(type='FashionIQDataset', data_root={{_base_.data_root}}, split='train',
                 categories={{_base_.fiq_categories}}, caption_mode='amc', check_images=False)
model = dict(text_encoder=dict(vocab_dataset=fiq_vocab))
default_hooks = dict(checkpoint=dict(save_best='avg', rule='greater'))
custom_hooks = [
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.001, priority='ABOVE_NORMAL'),
    dict(type='PrepareGalleryHook'),
    dict(type='EpochReseedHook'),
]
randomness = dict(seed=300)
