# SDFN paper Sec. 3.1 (Fashion200K): Adam, 50 epochs, lr x0.1 at epoch 30. Learning rate, weight decay and eps are
# not legible in the paper's text version; defaults follow AMC (lr 1e-4, wd 1e-6, eps 1e-8).
# fused=True: one multi-tensor kernel for the whole update (CPU and CUDA); SDFN's 66M-parameter fusion network
# makes a per-tensor Adam update a visible share of each step (benchmarks/README.md).
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='Adam', lr=1e-4, weight_decay=1e-6, eps=1e-8, fused=True))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[30], gamma=0.1)]
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=1)
auto_scale_lr = dict(base_batch_size=32, enable=False)
