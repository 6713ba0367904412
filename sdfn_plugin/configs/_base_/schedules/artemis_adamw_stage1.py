# ARTEMIS stage 1 (naver/artemis scripts/release_script.sh, option.py): frozen CNN and word embeddings, AdamW
# lr 5e-4, batch 32, 8 epochs, lr x0.5 every 4 epochs (so it ends at 2.5e-4, where stage 2 starts).
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=5e-4))
param_scheduler = [dict(type='StepLR', by_epoch=True, step_size=4, gamma=0.5)]
train_cfg = dict(by_epoch=True, max_epochs=8, val_interval=1)
auto_scale_lr = dict(base_batch_size=32, enable=False)
