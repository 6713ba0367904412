# AMC recipe (KevinLight831/AMC train.py, shell/IQ.sh, shell/shoes.sh): Adam lr 1e-4, eps 1e-8, weight decay
# 1e-6, batch 32 with drop_last, 50 epochs, lr x0.1 at epoch 40; evaluation every epoch.
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4, weight_decay=1e-6, eps=1e-8))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[40], gamma=0.1)]
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=1)
auto_scale_lr = dict(base_batch_size=32, enable=False)
