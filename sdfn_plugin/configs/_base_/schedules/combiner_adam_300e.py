# CLIP4Cir stage 2 (combiner_train.py): Adam lr 2e-5, 300 epochs, no lr schedule; batch 4096 (set by the method
# config) over frozen CLIP features. The official run uses AMP on a GPU (optim_wrapper type AmpOptimWrapper).
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-5))
param_scheduler = []
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
auto_scale_lr = dict(base_batch_size=4096, enable=False)
