# TIRG's optimiser (google/tirg main.py; docs/zoo.md, TIRG): SGD, momentum 0.9, lr 1e-2,
# weight decay 1e-6, the pretrained CNN at lr 1e-3 (lr_mult 0.1 on the ResNet stem and layers; the new fc /
# projection, text encoder, fusion and loss scale at 1e-2), batch 32.
# Length: TIRG decays x0.1 every 50k iterations of a 160k-iteration run (Fashion200K) and published no
# recipe for Shoes or FashionIQ, whose epochs are 281 / 562 iterations (batch 32): 50k iterations would be
# 178 / 89 epochs. Adapted to epochs with the length and decay point that AMC and SDFN use on these
# datasets: 50 epochs, x0.1 at epoch 40 (AMC --num_epochs 50 --lr_decay 40).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(custom_keys={
        'image_encoder.stem': dict(lr_mult=0.1),
        'image_encoder.layers': dict(lr_mult=0.1),
    }))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[40], gamma=0.1)]
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=1)
auto_scale_lr = dict(base_batch_size=32, enable=False)
