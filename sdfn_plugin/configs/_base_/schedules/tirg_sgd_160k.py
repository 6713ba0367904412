# TIRG's Fashion200K recipe (google/tirg README/main.py; docs/zoo.md, TIRG): SGD, momentum 0.9,
# lr 1e-2, weight decay 1e-6, pretrained CNN at lr 1e-3 (lr_mult 0.1), batch 32, 160k iterations with
# x0.1 every 50k iterations. Epoch-based here (172,049 training items // 32 = 5,376 iterations per epoch
# with drop_last): 30 epochs = 161,280 iterations; the decays stay at iterations 50k / 100k / 150k
# (by_epoch=False milestones). TIRG evaluates every 3 epochs (val_interval=3).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(custom_keys={
        'image_encoder.stem': dict(lr_mult=0.1),
        'image_encoder.layers': dict(lr_mult=0.1),
    }))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[50000, 100000, 150000], gamma=0.1)]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=3)
auto_scale_lr = dict(base_batch_size=32, enable=False)
