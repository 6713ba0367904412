# CLIP4Cir stage 2 (Baldrati et al., CVPR 2022; ABaldrati/CLIP4Cir combiner_train.py) on FashionIQ: frozen CLIP
# ViT-B/32 towers, Combiner with the official size ratios (P = 4D, H = 8D, D = 512), dropout 0.5, cross-entropy
# on 100 x cosine; Adam lr 2e-5, batch 4096, 300 epochs (docs/zoo.md). Deviations: the
# repository's FashionIQ VAL protocol (reference excluded) instead of CLIP4Cir's split gallery; training text
# drawn at random among "c0 <and> c1", "c1 <and> c0", "c0", "c1" (caption_mode='random', as CLIP4Cir, with the
# base dataset's joiner, which evaluation uses too). The batch of 4096 is meant for frozen towers with
# cached features; with a smaller batch scale the learning rate.
_base_ = ['_base_/models/clip_vitb32.py', '_base_/datasets/fashioniq.py', '_base_/default_runtime.py']
model = dict(
    fusion=dict(type='Combiner', image_dim={{_base_.clip_dim}}, text_dim={{_base_.clip_dim}},
                embed_dim={{_base_.clip_dim}}, projection_dim=2048, hidden_dim=4096, dropout=0.5),
    losses=[dict(type='BatchClassificationLoss', scale=100.0, learn_scale=False, parametrization='linear')],
)
train_dataloader = dict(batch_size=4096, dataset=dict(caption_mode='random'))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-5))
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
default_hooks = dict(checkpoint=dict(save_best='avg', rule='greater'))
